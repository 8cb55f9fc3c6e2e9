/**
 * Applies one namespace of calc's description (NamespaceSpec) to an emulated kernel, as the kubelet/CNI,
 * kube-proxy and Felix would program it: sysctls that new devices inherit, links (veth ends joined to their
 * peers, uplinks to their segment), addresses, routes, per-device sysctls, then ipsets, iptables payloads in
 * order with --noflush, and the nft script.
 */
import type { KernelFeatures, NamespaceSpec, RouteSpec } from "../../calc/index.ts";
import { addFdb, addNeighbour, addRule, configureTunnel, linkKind } from "./apply-tunnels.ts";
import { joinSegment } from "./arp.ts";
import type { Route } from "./fib.ts";
import { parseIpv4, parseIpv4Prefix } from "./ipv4.ts";
import type { Kernel, Segment } from "./kernel.ts";
import { sysctlSet } from "./sysctl.ts";

/** What the emulated kernel offers that rendering depends on: its netfilter accepts `-m nfacct`. */
export const SIM_KERNEL_FEATURES: KernelFeatures = { nfacct: true };

export interface ApplyNamespaceOptions {
  /** The segment an uplink joins, by the description's name (the cluster's underlay). */
  segment(name: string): Segment | undefined;
  /** A namespace already built, by the cluster's name, to join a veth to its peer end. */
  kernel(name: string): Kernel | undefined;
  /** The clock nft's counters and timeouts read (the cluster's virtual clock). */
  clock?: () => number;
}

/** A namespace-wide sysctl, which devices created later inherit (`default`) or which applies to all. */
const DEVICE_KEY = /^net\.ipv4\.conf\.([^.]+)\.(rp_filter|proxy_arp)$/;

function isDeviceKey(key: string): boolean {
  const m = DEVICE_KEY.exec(key);
  return m !== null && m[1] !== "all" && m[1] !== "default";
}

function setSysctl(k: Kernel, key: string, value: string): void {
  const n = Number(value);
  if (!/^\d+$/.test(value)) throw new Error(`sysctl: setting key "${key}": Invalid argument`);
  const m = DEVICE_KEY.exec(key);
  if (m && m[2] === "proxy_arp") {
    const link = k.links.get(m[1]!);
    if (!link)
      throw new Error(`sysctl: cannot stat /proc/sys/${key.replaceAll(".", "/")}: No such file or directory`);
    link.proxyArp = n !== 0;
    return;
  }
  // Refuses any key it does not model (sysctl.ts), with sysctl(8)'s one line.
  sysctlSet(k, key, n);
}

function toRoute(r: RouteSpec): Route {
  const dst = parseIpv4Prefix(r.dst);
  if (!dst) throw new Error(`Error: any valid prefix is expected rather than "${r.dst}".`);
  const via = r.via === undefined ? undefined : parseIpv4(r.via);
  if (r.via !== undefined && via === undefined)
    throw new Error(`Error: inet address is expected rather than "${r.via}".`);
  const nexthops =
    r.type === "unicast"
      ? [
          {
            ...(via === undefined ? {} : { via }),
            dev: r.dev ?? "",
            weight: 1,
            ...(r.onlink ? { onlink: true } : {}),
          },
        ]
      : [];
  return { type: r.type, dst, nexthops, proto: String(r.proto), scope: r.scope, metric: r.metric };
}

/** Applies `spec` to `k` (a kernel fresh from `new Kernel(spec.name)`). Throws one line on what it refuses. */
export function applyNamespace(k: Kernel, spec: NamespaceSpec, options: ApplyNamespaceOptions): void {
  const sysctls = Object.entries(spec.sysctls);
  for (const [key, value] of sysctls) if (!isDeviceKey(key)) setSysctl(k, key, value);
  for (const l of spec.links) {
    const link = k.addLink({
      name: l.name,
      kind: linkKind(l.kind),
      mac: l.mac,
      mtu: l.mtu,
    });
    configureTunnel(link, l);
    if (l.kind === "uplink") {
      const segment = l.segment === undefined ? undefined : options.segment(l.segment);
      if (!segment) throw new Error(`${spec.name}: ${l.name}: no segment ${l.segment ?? "(none)"}`);
      joinSegment(segment, k, link);
    } else if (l.kind === "veth" && l.peer) {
      // The peer's namespace may come later: the end applied second joins the pair.
      const other = options.kernel(l.peer.namespace);
      const end = other?.links.get(l.peer.name);
      if (other && end) {
        link.peer = { kernel: other, link: end };
        end.peer = { kernel: k, link };
      }
    }
  }
  for (const a of spec.addresses) {
    const prefix = parseIpv4Prefix(a.cidr);
    const ip = parseIpv4(a.cidr.split("/")[0]!);
    if (!prefix || ip === undefined)
      throw new Error(`Error: any valid prefix is expected rather than "${a.cidr}".`);
    k.addAddress(a.dev, prefix, ip);
  }
  for (const n of spec.neighbours ?? []) addNeighbour(k, n);
  for (const f of spec.fdb ?? []) addFdb(k, f);
  for (const r of spec.rules ?? []) addRule(k, r);
  for (const r of spec.routes) k.addRoute(toRoute(r), r.table);
  for (const [key, value] of sysctls) if (isDeviceKey(key)) setSysctl(k, key, value);
  if (spec.ipsets) k.ipsets.restore(spec.ipsets);
  for (const payload of spec.iptables) k.netfilter.restore(payload, { noflush: true });
  if (spec.nft) {
    if (options.clock) k.nft.clock = options.clock;
    k.nft.load(spec.nft, "kube-proxy.nft");
  }
}
