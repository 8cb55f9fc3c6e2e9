/**
 * Programming namespaces from their descriptions, in passes every namespace goes through together: links first
 * (a veth needs both namespaces), then addresses and routes, sysctls, ipsets, nft, and the iptables rules last
 * (iptables-restore is atomic per table, so a failure before them leaves the last good rules in place).
 * A namespace is `created` (empty, so payloads load as they are), `incremental` (only what differs from
 * `previous`), or reconciled (existing, state unknown: everything is re-applied idempotently, iptables and
 * ipsets as deltas from what the kernel holds).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import {
  diffNamespaceSpec,
  foldIptablesPayloads,
  type IptablesState,
  iptablesDelta,
  type LinkSpec,
  type NamespaceDiff,
  type NamespaceSpec,
  type RouteSpec,
} from "../../calc/index.ts";
import { deepEqual } from "../../lib/index.ts";
import { commandError, mustRun, mustRunIn, runCommand } from "./exec.ts";
import {
  addressAddLines,
  addressDelLines,
  linkSetLines,
  nftReplaceScript,
  resolvConfText,
  routeAddLines,
  routeDelLines,
} from "./ip-commands.ts";
import { alignIpsetsToWanted, ipsetDelta } from "./ipset-delta.ts";
import { alignToWanted } from "./iptables-canonical.ts";
import { checkDeviceName, UNDERLAY_BRIDGE, underlayPortName } from "./names.ts";
import { nftDigest, nftListArgs } from "./nft-digest.ts";
import { isTunnel, keptOnChange } from "./tunnel-programmer.ts";

export interface NamespacePlan {
  spec: NamespaceSpec;
  netns: string;
  kind: "host" | "pod";
  host: string;
  /** Created by this apply: it starts empty. */
  created: boolean;
  /** The spec applied last, for an incremental change; absent for created and reconciled namespaces. */
  previous?: NamespaceSpec;
  /** diffOf's answer, computed once per apply (each pass asks). */
  diff?: NamespaceDiff | undefined;
}

export interface ProgramContext {
  /** Cluster namespace name → kernel namespace and kind. */
  names: Map<string, { netns: string; kind: "host" | "pod" }>;
  underlay: string;
}

/** Sysctls every namespace gets before its description's: IPv6 off (only IPv4 is modelled), no ICMP redirects. */
const BASE_SYSCTLS = [
  "net.ipv6.conf.all.disable_ipv6=1",
  "net.ipv6.conf.default.disable_ipv6=1",
  "net.ipv4.conf.all.send_redirects=0",
  "net.ipv4.conf.default.send_redirects=0",
];

export async function createNetns(netns: string): Promise<void> {
  await mustRun(netns, "ip", ["netns", "add", netns]);
  await mustRunIn(netns, ["sysctl", "-q", "-w", ...BASE_SYSCTLS]);
  await mustRun(netns, "ip", ["-n", netns, "link", "set", "lo", "up"]);
}

export async function ensureUnderlay(netns: string, created: boolean): Promise<void> {
  if (created) await createNetns(netns);
  const has = await runCommand("ip", ["-n", netns, "link", "show", UNDERLAY_BRIDGE]);
  if (has.code !== 0)
    await mustRun(netns, "ip", ["-n", netns, "link", "add", UNDERLAY_BRIDGE, "up", "type", "bridge"]);
}

async function ipBatch(netns: string, lines: string[], force = false): Promise<void> {
  if (!lines.length) return;
  const args = ["-n", netns, ...(force ? ["-force"] : []), "-batch", "-"];
  if (force) await runCommand("ip", args, { input: `${lines.join("\n")}\n` });
  else await mustRun(netns, "ip", args, { input: `${lines.join("\n")}\n` });
}

async function linkNames(netns: string): Promise<Set<string>> {
  const out = await mustRun(netns, "ip", ["-n", netns, "-o", "link", "show"]);
  return new Set([...out.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]!));
}

/** Whether this side of a veth pair creates it: the host side of a pod's veth, otherwise the smaller name. */
function createsPair(plan: NamespacePlan, link: LinkSpec, ctx: ProgramContext): boolean {
  if (link.kind === "uplink") return true;
  const peer = link.peer && ctx.names.get(link.peer.namespace);
  if (!link.peer || !peer)
    throw new Error(`${plan.netns}: veth ${link.name} has no peer namespace in the description`);
  if (plan.kind !== peer.kind) return plan.kind === "host";
  return `${plan.spec.name}/${link.name}` < `${link.peer.namespace}/${link.peer.name}`;
}

function sameStrings(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Whether a namespace's spec is exactly the one applied last. Most namespaces are unchanged by a write; their
 * iptables payloads (~tens of KB) compare as strings here instead of being serialised for the full diff.
 */
function unchangedSpec(previous: NamespaceSpec, next: NamespaceSpec): boolean {
  return (
    previous.ipsets === next.ipsets &&
    previous.nft === next.nft &&
    sameStrings(previous.iptables, next.iptables) &&
    deepEqual(previous.links, next.links) &&
    deepEqual(previous.addresses, next.addresses) &&
    deepEqual(previous.routes, next.routes) &&
    deepEqual(previous.sysctls, next.sysctls) &&
    deepEqual(previous.resolvConf, next.resolvConf)
  );
}

/** What `diffNamespaceSpec` answers for two specs that are the same. */
function emptyDiff(name: string): NamespaceDiff {
  return {
    name,
    linksRemoved: [],
    linksAdded: [],
    addressesRemoved: [],
    addressesAdded: [],
    routesRemoved: [],
    routesAdded: [],
    sysctls: {},
    iptablesChanged: false,
    ipsetsChanged: false,
    nftChanged: false,
    resolvConfChanged: false,
  };
}

function diffOf(plan: NamespacePlan): NamespaceDiff | undefined {
  if (!plan.previous) return undefined;
  if (!("diff" in plan))
    plan.diff = unchangedSpec(plan.previous, plan.spec)
      ? emptyDiff(plan.spec.name)
      : diffNamespaceSpec(plan.previous, plan.spec);
  return plan.diff;
}

/**
 * Two payload lists folded as iptables-restore would load them. The leading payloads both lists share (kube-proxy's,
 * when only Felix's rules changed) are folded once and both folds continue from that state: the same result.
 */
function foldBoth(previous: string[], next: string[]): [IptablesState, IptablesState] {
  let common = 0;
  while (common < previous.length && common < next.length && previous[common] === next[common]) common++;
  const shared = foldIptablesPayloads(next.slice(0, common));
  return [
    foldIptablesPayloads(previous.slice(common), shared),
    foldIptablesPayloads(next.slice(common), shared),
  ];
}

/** Pass 1: removals (incremental), then the links this side creates. */
export async function programLinks(plans: NamespacePlan[], ctx: ProgramContext): Promise<void> {
  for (const plan of plans) {
    const d = diffOf(plan);
    if (d) {
      // Removals may find the object already gone (a pod's namespace deleted takes its veth along).
      await ipBatch(
        plan.netns,
        [
          ...routeDelLines(d.routesRemoved),
          ...addressDelLines(d.addressesRemoved),
          ...d.linksRemoved.filter((l) => !keptOnChange(l, plan.spec.links)).map((l) => `link del ${l.name}`),
        ],
        true,
      );
    }
  }
  const createdHere = new Set(plans.filter((p) => p.created).map((p) => p.spec.name));
  for (const plan of plans) {
    const d = diffOf(plan);
    const candidates = d ? d.linksAdded : plan.spec.links;
    if (!plan.created && !d) await removeStaleVeths(plan);
    if (!candidates.length) continue;
    const existing = plan.created ? new Set<string>() : await linkNames(plan.netns);
    for (const link of candidates) {
      checkDeviceName(plan.netns, link.name);
      if (isTunnel(link)) continue; // tunnel-programmer.ts makes them, once every uplink exists
      if (!createsPair(plan, link, ctx)) continue;
      if (existing.has(link.name)) {
        // A peer namespace made again this apply (deleted by hand) has no end of this pair: the end left here
        // leads to the old, orphaned namespace and is replaced.
        if (!link.peer || !createdHere.has(link.peer.namespace)) continue;
        await ipBatch(plan.netns, [`link del ${link.name}`]);
      }
      if (link.kind === "uplink") {
        const port = underlayPortName(plan.host);
        await runCommand("ip", ["-n", ctx.underlay, "link", "del", port]); // a stale port from an earlier run
        await ipBatch(ctx.underlay, [
          `link add ${port} type veth peer name ${link.name} netns ${plan.netns}`,
          `link set ${port} master ${UNDERLAY_BRIDGE} up`,
        ]);
      } else {
        const peer = ctx.names.get(link.peer!.namespace)!;
        checkDeviceName(peer.netns, link.peer!.name);
        await ipBatch(plan.netns, [
          `link add ${link.name} type veth peer name ${link.peer!.name} netns ${peer.netns}`,
        ]);
      }
    }
  }
}

/**
 * A reconciled namespace's veths the description does not have (a pod gone while no tortie ran, a veth added by
 * hand): removed, with their peers. Other kinds of link are the user's and are left alone.
 */
async function removeStaleVeths(plan: NamespacePlan): Promise<void> {
  const out = await mustRun(plan.netns, "ip", ["-n", plan.netns, "-o", "link", "show", "type", "veth"]);
  const wanted = new Set(plan.spec.links.map((l) => l.name));
  const stale = [...out.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]!).filter((n) => !wanted.has(n));
  await ipBatch(
    plan.netns,
    stale.map((n) => `link del ${n}`),
    true,
  );
}

/**
 * The key a route is known by: type, destination, metric and its table unless main (as `ip route show table all`
 * prints them).
 */
export function kernelRouteKey(line: string): { key: string; proto: string } | undefined {
  const words = line.trim().split(/\s+/);
  if (words[0] === "unicast") words.shift(); // `ip -d route` names the type
  if (!words[0]) return undefined;
  const typed = ["blackhole", "unreachable", "prohibit", "throw"].includes(words[0]);
  const type = typed ? words[0] : "unicast";
  const dst = (typed ? words[1] : words[0]) ?? "";
  const at = (w: string) => {
    const i = words.indexOf(w);
    return i >= 0 ? words[i + 1] : undefined;
  };
  const table = at("table");
  return {
    key: `${type} ${dst === "default" ? "0.0.0.0/0" : dst.includes("/") ? dst : `${dst}/32`} ${at("metric") ?? "0"}${table && table !== "main" ? ` table ${table}` : ""}`,
    proto: at("proto") ?? "boot",
  };
}

export function specRouteKey(r: RouteSpec): string {
  return `${r.type} ${r.dst} ${r.metric ?? 0}${r.table !== undefined && r.table !== 254 ? ` table ${r.table}` : ""}`;
}

/** The protocols of the routes tortie programs (80: Felix's own, its tunnel routes); BIRD's and the kernel's are not. */
export const OWNED_ROUTE_PROTOS = new Set(["boot", "static", "80"]);

/**
 * A reconciled namespace's routes tortie owns (OWNED_ROUTE_PROTOS, any table) that the description does not
 * have: deleted. BIRD's routes (proto bird) and the kernel's own are not tortie's.
 */
async function removeStaleRoutes(plan: NamespacePlan): Promise<void> {
  const out = await mustRun(plan.netns, "ip", ["-n", plan.netns, "-4", "route", "show", "table", "all"]);
  const wanted = new Set(plan.spec.routes.map(specRouteKey));
  const stale: string[] = [];
  for (const line of out.split("\n")) {
    if (!line.trim() || /^\s/.test(line)) continue;
    const k = kernelRouteKey(line);
    if (k && OWNED_ROUTE_PROTOS.has(k.proto) && !wanted.has(k.key)) stale.push(`route del ${line.trim()}`);
  }
  await ipBatch(plan.netns, stale, true);
}

/** Pass 2: link settings, addresses, routes (direct before gateway routes), sysctls. */
export async function programAddressesRoutes(plans: NamespacePlan[], ctx: ProgramContext): Promise<void> {
  // A pod's end of a veth created this apply by its host needs its settings even when the pod's spec is unchanged.
  const createdPeers = new Set<string>();
  for (const plan of plans) {
    const d = diffOf(plan);
    for (const l of d ? d.linksAdded : plan.spec.links)
      if (l.peer && (plan.created || d)) createdPeers.add(`${l.peer.namespace}/${l.peer.name}`);
  }
  for (const plan of plans) {
    const d = diffOf(plan);
    const links = d
      ? plan.spec.links.filter(
          (l) => d.linksAdded.includes(l) || createdPeers.has(`${plan.spec.name}/${l.name}`),
        )
      : plan.spec.links;
    const addresses = d ? d.addressesAdded : plan.spec.addresses;
    const routes = d ? d.routesAdded : plan.spec.routes;
    if (links.length && d) {
      // A re-created link lost its addresses and routes: add the next ones on it again.
      const names = new Set(links.map((l) => l.name));
      for (const a of plan.spec.addresses) if (names.has(a.dev) && !addresses.includes(a)) addresses.push(a);
      for (const r of plan.spec.routes) if (r.dev && names.has(r.dev) && !routes.includes(r)) routes.push(r);
    }
    await ipBatch(plan.netns, [
      ...linkSetLines(links),
      ...addressAddLines(addresses),
      ...routeAddLines(routes),
    ]);
    if (!plan.created && !d) await removeStaleRoutes(plan);
    const sysctls = d ? d.sysctls : plan.spec.sysctls;
    const pairs = Object.entries(sysctls).map(([k, v]) => `${k}=${v}`);
    if (pairs.length) await mustRunIn(plan.netns, ["sysctl", "-q", "-w", ...pairs]);
  }
  void ctx;
}

/** The kernel's ipsets and iptables rules as restore text, for reconciling a namespace that already existed. */
async function kernelIpsets(netns: string): Promise<string> {
  return mustRunIn(netns, ["ipset", "save"]);
}

/** The digest of the kernel's listing of the tables an nft script made (for the drift check). */
async function kernelNftDigest(netns: string, script: string): Promise<string> {
  const listings: string[] = [];
  for (const args of nftListArgs(script)) listings.push(await mustRunIn(netns, ["nft", ...args]));
  return nftDigest(listings.join("\n"));
}

/**
 * Pass 3: ipsets (creates and members), nft, iptables (only changed chains), then the ipsets no rule needs any
 * more, and resolv.conf. Answers the digest of each nft table set it loaded (undefined: the namespace has none).
 */
export async function programRules(plans: NamespacePlan[]): Promise<Map<string, string | undefined>> {
  const digests = new Map<string, string | undefined>();
  const destroys: [string, string][] = [];
  for (const plan of plans) {
    const { spec, netns } = plan;
    const d = diffOf(plan);
    if (!d || d.ipsetsChanged) {
      // The kernel's sets spelt as the description spells them: only members that differ change (a reconcile
      // rebuilt every set before, as the kernel's create lines carry the sizes it chose).
      const current = plan.created
        ? ""
        : d
          ? plan.previous!.ipsets
          : alignIpsetsToWanted(await kernelIpsets(netns), spec.ipsets);
      const delta = ipsetDelta(current, spec.ipsets);
      if (delta.before) await mustRunIn(netns, ["ipset", "restore"], { input: delta.before });
      if (delta.after) destroys.push([netns, delta.after]);
    }
    if (!d || d.nftChanged) {
      const script = plan.created ? spec.nft : nftReplaceScript(plan.previous?.nft ?? "", spec.nft);
      if (script.trim()) await mustRunIn(netns, ["nft", "-f", "-"], { input: script });
      digests.set(netns, spec.nft.trim() ? await kernelNftDigest(netns, spec.nft) : undefined);
    }
    if (!d || d.iptablesChanged) await ensureNfacct(netns, spec.iptables, d ? plan.previous!.iptables : []);
    if (plan.created) {
      for (const payload of spec.iptables)
        if (payload.trim()) await mustRunIn(netns, ["iptables-restore", "--noflush"], { input: payload });
    } else if (d) {
      if (d.iptablesChanged) {
        const [from, wanted] = foldBoth(plan.previous!.iptables, spec.iptables);
        const delta = iptablesDelta(from, wanted);
        if (delta) await mustRunIn(netns, ["iptables-restore", "--noflush"], { input: delta });
      }
    } else {
      const wanted = foldIptablesPayloads(spec.iptables);
      // The kernel prints rules in its canonical form: chains equal in that form are not reloaded (counters kept).
      const from = alignToWanted(foldIptablesPayloads([await mustRunIn(netns, ["iptables-save"])]), wanted);
      const delta = iptablesDelta(from, wanted);
      if (delta) await mustRunIn(netns, ["iptables-restore", "--noflush"], { input: delta });
    }
    if (!d || d.resolvConfChanged) writeResolvConf(netns, spec);
  }
  for (const [netns, text] of destroys) await mustRunIn(netns, ["ipset", "restore"], { input: text });
  return digests;
}

/** The nfacct objects rules name (`-m nfacct --nfacct-name NAME`). */
function nfacctNames(payloads: string[]): Set<string> {
  return new Set(
    payloads.flatMap((p) => [...p.matchAll(/--nfacct-name\s+"?([^\s"]+)"?/g)].map((m) => m[1]!)),
  );
}

/**
 * Makes the nfacct objects the rules name, as kube-proxy's nfacct runner does at start (the rules are rendered
 * with them only when the kernel offers nfacct); an object that exists already is fine.
 */
async function ensureNfacct(netns: string, next: string[], previous: string[]): Promise<void> {
  // Only payloads that are not among the previous ones can name a new object (kube-proxy's big payload is
  // searched only when it changed).
  const before = new Set(previous);
  const named = nfacctNames(next.filter((p) => !before.has(p)));
  if (!named.size) return;
  const had = nfacctNames(previous);
  for (const name of named) {
    if (had.has(name)) continue;
    const r = await runCommand("nsenter", [`--net=/run/netns/${netns}`, "--", "nfacct", "add", name]);
    if (r.code !== 0 && !/exist|busy/i.test(r.stderr)) throw commandError(netns, "nfacct", ["add", name], r);
  }
}

/** /etc/netns/<netns>/resolv.conf: `ip netns exec` bind-mounts it over /etc/resolv.conf for the namespace's tools. */
function writeResolvConf(netns: string, spec: NamespaceSpec): void {
  const dir = `/etc/netns/${netns}`;
  if (!spec.resolvConf) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/resolv.conf`, resolvConfText(spec.resolvConf));
}
