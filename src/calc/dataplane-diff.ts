/**
 * What differs between two descriptions of a host (or of one namespace), so a kernel can change only that: the
 * namespaces added and removed, the links, addresses and routes to remove and to add, the sysctls to set, which
 * payloads (iptables, ipsets, nft, resolv.conf) changed, whether BIRD's files changed, and the processes to stop
 * and start (a changed process is stopped and started again).
 */
import type {
  AddressSpec,
  BirdSpec,
  LinkSpec,
  NamespaceSpec,
  NodeDataplane,
  ProcessSpec,
  RouteSpec,
} from "./node-dataplane-types.ts";

export interface NamespaceDiff {
  name: string;
  linksRemoved: LinkSpec[];
  linksAdded: LinkSpec[];
  addressesRemoved: AddressSpec[];
  addressesAdded: AddressSpec[];
  routesRemoved: RouteSpec[];
  /** In the next description's order. */
  routesAdded: RouteSpec[];
  /** Keys whose value is new or changed (a key dropped from the description keeps its kernel value). */
  sysctls: Record<string, string>;
  iptablesChanged: boolean;
  ipsetsChanged: boolean;
  nftChanged: boolean;
  resolvConfChanged: boolean;
}

export interface NodeDataplaneDiff {
  host: string;
  namespacesAdded: NamespaceSpec[];
  namespacesRemoved: NamespaceSpec[];
  /** Only namespaces with at least one difference. */
  namespacesChanged: NamespaceDiff[];
  /** BIRD starts (none before), stops (none after), is reconfigured (its files or main changed), or is left. */
  bird: "start" | "stop" | "reconfigure" | "restart" | "unchanged";
  processesStopped: ProcessSpec[];
  processesStarted: ProcessSpec[];
}

/** A stable key for comparing plain data (field order as written by the same code on both sides). */
function key(v: unknown): string {
  return JSON.stringify(v);
}

/** Items of `a` not in `b`, compared as whole values. */
function minus<T>(a: T[], b: T[]): T[] {
  const keys = new Set(b.map(key));
  return a.filter((x) => !keys.has(key(x)));
}

export function namespaceDiffIsEmpty(d: NamespaceDiff): boolean {
  return (
    !d.linksRemoved.length &&
    !d.linksAdded.length &&
    !d.addressesRemoved.length &&
    !d.addressesAdded.length &&
    !d.routesRemoved.length &&
    !d.routesAdded.length &&
    !Object.keys(d.sysctls).length &&
    !d.iptablesChanged &&
    !d.ipsetsChanged &&
    !d.nftChanged &&
    !d.resolvConfChanged
  );
}

export function diffNamespaceSpec(previous: NamespaceSpec, next: NamespaceSpec): NamespaceDiff {
  const linksRemoved = minus(previous.links, next.links);
  const linksAdded = minus(next.links, previous.links);
  // A link that is replaced loses its addresses and routes in the kernel: re-add the next ones on it.
  const replaced = new Set(linksRemoved.map((l) => l.name));
  const onReplaced = (x: { dev?: string }) => x.dev !== undefined && replaced.has(x.dev);
  const sysctls: Record<string, string> = {};
  for (const [k, v] of Object.entries(next.sysctls)) if (previous.sysctls[k] !== v) sysctls[k] = v;
  return {
    name: next.name,
    linksRemoved,
    linksAdded,
    addressesRemoved: minus(previous.addresses, next.addresses).filter((a) => !onReplaced(a)),
    addressesAdded: next.addresses.filter(
      (a) => onReplaced(a) || !previous.addresses.some((p) => key(p) === key(a)),
    ),
    routesRemoved: minus(previous.routes, next.routes).filter((r) => !onReplaced(r)),
    routesAdded: next.routes.filter((r) => onReplaced(r) || !previous.routes.some((p) => key(p) === key(r))),
    sysctls,
    iptablesChanged: key(previous.iptables) !== key(next.iptables),
    ipsetsChanged: previous.ipsets !== next.ipsets,
    nftChanged: previous.nft !== next.nft,
    resolvConfChanged: key(previous.resolvConf) !== key(next.resolvConf),
  };
}

function birdChange(previous: BirdSpec | undefined, next: BirdSpec | undefined): NodeDataplaneDiff["bird"] {
  if (!previous && !next) return "unchanged";
  if (!previous) return "start";
  if (!next) return "stop";
  if (previous.dialect !== next.dialect || previous.socket !== next.socket) return "restart";
  if (previous.main !== next.main || key(previous.files) !== key(next.files)) return "reconfigure";
  return "unchanged";
}

/** The differences between a host's previous and next description (either may be absent: a host added/removed). */
export function diffNodeDataplane(
  previous: NodeDataplane | undefined,
  next: NodeDataplane | undefined,
): NodeDataplaneDiff {
  const host = next?.host ?? previous?.host ?? "";
  const prevNs = new Map((previous?.namespaces ?? []).map((n) => [n.name, n]));
  const nextNs = new Map((next?.namespaces ?? []).map((n) => [n.name, n]));
  const namespacesChanged: NamespaceDiff[] = [];
  for (const [name, n] of nextNs) {
    const p = prevNs.get(name);
    if (!p) continue;
    const d = diffNamespaceSpec(p, n);
    if (!namespaceDiffIsEmpty(d)) namespacesChanged.push(d);
  }
  const prevProcs = previous?.processes ?? [];
  const nextProcs = next?.processes ?? [];
  return {
    host,
    namespacesAdded: [...nextNs.values()].filter((n) => !prevNs.has(n.name)),
    namespacesRemoved: [...prevNs.values()].filter((n) => !nextNs.has(n.name)),
    namespacesChanged,
    bird: birdChange(
      previous?.birdFailure ? undefined : previous?.bird,
      next?.birdFailure ? undefined : next?.bird,
    ),
    processesStopped: minus(prevProcs, nextProcs),
    processesStarted: minus(nextProcs, prevProcs),
  };
}

export function nodeDiffIsEmpty(d: NodeDataplaneDiff): boolean {
  return (
    !d.namespacesAdded.length &&
    !d.namespacesRemoved.length &&
    !d.namespacesChanged.length &&
    d.bird === "unchanged" &&
    !d.processesStopped.length &&
    !d.processesStarted.length
  );
}
