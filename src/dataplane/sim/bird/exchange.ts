/**
 * What one BGP session carries for a prefix, as proto/bgp/attrs.c decides it: bgp_preexport (never back to
 * the peer it came from; iBGP-learned routes go to iBGP peers only through a route reflector; cluster-list
 * loops), the protocol's export filter, bgp_update_attrs (eBGP prepends the local AS and sets the next hop
 * to itself, iBGP keeps it unless `next hop self`; local pref only over iBGP; a reflector sets ORIGINATOR_ID
 * and prepends its cluster id), and on the other side bgp_rx_update's loop checks, the next hop resolved
 * (`gateway recursive` through BIRD's own table, `direct` on a connected network), and the import filter.
 *
 * Results are shared between sessions that would compute the same thing (the same filter object, the same
 * route object, the same session parameters), so 5,000 clients of one reflector hold one route object each
 * reflected path, not 5,000 copies.
 */
import { maskOf } from "../ipv4.ts";
import type { Kernel } from "../kernel.ts";
import type { Rte } from "./rib.ts";
import type { BgpEnd } from "./session.ts";
import type { BirdFilter, BirdNexthop, BirdRoute, FilterDecision, FilterResult } from "./types.ts";

const BGP_PREFERENCE = 100;

/** BIRD's IGP_METRIC_UNKNOWN: the IGP metric of a next hop resolved through a route that carries none. */
export const IGP_METRIC_UNKNOWN = 0x80000000;

/**
 * A resolved BGP next hop: the nexthop, and for `gateway recursive` the IGP metric of the route it resolved
 * through (rt_get_igp_metric: 0 through a device route, unknown through one with a gateway; the sim's routes carry
 * no IGP metric of their own). Interned: hosts resolving alike share one object, and so their received routes.
 */
export interface ResolvedHop {
  nh: BirdNexthop;
  igpMetric?: number;
}

function isIbgp(e: BgpEnd): boolean {
  return e.proto.localAs === e.proto.neighbor.as;
}

/**
 * An end's cluster id: only a session to a reflector client has one (`rr cluster id`, else the router id);
 * BIRD sets rr_cluster_id only with `rr client`, so a session between reflectors checks no cluster loop.
 */
function clusterId(e: BgpEnd): number | undefined {
  return e.proto.rrClient ? (e.proto.rrClusterId ?? e.routerId) : undefined;
}

/** RFC 1997's well-known communities, as (ASN, value) pairs. */
const NO_EXPORT = 0xff01;
const NO_ADVERTISE = 0xff02;
const NO_EXPORT_SUBCONFED = 0xff03;

function hasWellKnown(route: BirdRoute, value: number): boolean {
  return route.attrs.bgp_community?.some(([asn, v]) => asn === 0xffff && v === value) ?? false;
}

/** Why bgp_preexport refuses a route for this session, or undefined when it goes on to the export filter. */
export function preexportRefusal(e: BgpEnd, route: Rte, source: BgpEnd | undefined): string | undefined {
  if (source === e) return "not sent back to the peer it came from";
  if (!source) return undefined;
  if (isIbgp(e) && isIbgp(source) && e.proto.localAs === source.proto.localAs) {
    if (!e.proto.rrClient && !source.proto.rrClient)
      return "learned over iBGP: not sent to another iBGP peer (no route reflection)";
    const cid = clusterId(e);
    if (cid !== undefined && route.attrs.bgp_cluster_list?.includes(cid)) return "cluster list loop";
  }
  // interpret communities (on by default): RFC 1997's well-known communities of a BGP route.
  if (hasWellKnown(route, NO_ADVERTISE)) return "community no-advertise";
  if (!isIbgp(e) && (hasWellKnown(route, NO_EXPORT) || hasWellKnown(route, NO_EXPORT_SUBCONFED)))
    return "community no-export: not sent to an eBGP peer";
  return undefined;
}

/** bgp_update_attrs: the route as this end sends it. */
function outgoingAttrs(e: BgpEnd, route: BirdRoute, source: BgpEnd | undefined): BirdRoute {
  const a = { ...route.attrs };
  // Only BGP attributes go on the wire: krt_metric is the kernel protocol's, local to this speaker (Calico's export
  // filter sets it, and the peer's kernel must not see it).
  delete a.krt_metric;
  const ibgp = isIbgp(e);
  if (a.bgp_origin === undefined) a.bgp_origin = 0;
  if (!ibgp) {
    a.bgp_path = [e.proto.localAs, ...(a.bgp_path ?? [])];
    delete a.bgp_local_pref;
    if (source) delete a.bgp_med;
    delete a.bgp_originator_id;
    delete a.bgp_cluster_list;
  } else {
    a.bgp_path = a.bgp_path ?? [];
    if (a.bgp_local_pref === undefined) a.bgp_local_pref = 100;
    if (source && isIbgp(source) && source.proto.localAs === e.proto.localAs) {
      // Route reflection (RFC 4456): the cluster id of the client side the route enters or leaves by, and
      // both when it passes between two client sessions with different cluster ids.
      if (a.bgp_originator_id === undefined) a.bgp_originator_id = source.peer?.routerId ?? source.routerId;
      const from = clusterId(source);
      const to = clusterId(e);
      let list = a.bgp_cluster_list ?? [];
      if (from !== undefined) list = [from, ...list];
      if (to !== undefined && to !== from) list = [to, ...list];
      a.bgp_cluster_list = list;
    }
  }
  const keep =
    source !== undefined &&
    a.bgp_next_hop !== undefined &&
    !e.proto.nextHopSelf &&
    (ibgp || e.proto.nextHopKeep);
  if (!keep && e.localIp !== undefined) a.bgp_next_hop = e.localIp;
  return { ...route, attrs: a };
}

const filterIds = new WeakMap<BirdFilter, number>();
let nextFilterId = 1;
function filterId(f: BirdFilter): number {
  let id = filterIds.get(f);
  if (id === undefined) {
    id = nextFilterId++;
    filterIds.set(f, id);
  }
  return id;
}

/** The map under `key` in `m`, added empty when missing. */
function branch<K, K2, V>(
  m: { get(key: K): Map<K2, V> | undefined; set(key: K, value: Map<K2, V>): unknown },
  key: K,
): Map<K2, V> {
  let child = m.get(key);
  if (!child) {
    child = new Map();
    m.set(key, child);
  }
  return child;
}

/** Runs filters with a per-(filter, route object) cache: a filter's result depends only on the route. */
export class FilterCache {
  private readonly results = new WeakMap<BirdRoute, Map<number, FilterResult>>();

  run(filter: BirdFilter, route: BirdRoute): FilterResult {
    const id = filterId(filter);
    const m = branch(this.results, route);
    let r = m.get(id);
    if (!r) {
      r = filter.run(route);
      m.set(id, r);
    }
    return r;
  }
}

/** Shares the outgoing and received route objects of sessions that compute identical ones. */
export class ExchangeCache {
  readonly filters = new FilterCache();
  /** route → sending end's parameters → the end the route came from (or null) → what is sent. */
  private readonly sent = new WeakMap<BirdRoute, Map<string, Map<BgpEnd | null, BirdRoute | null>>>();
  /** sent route → receiving end's parameters → resolved next hop (interned) → the stored route. */
  private readonly received = new WeakMap<BirdRoute, Map<string, Map<ResolvedHop | null, Rte | null>>>();
  private readonly txSig = new Map<BgpEnd, string>();
  private readonly rxSig = new Map<BgpEnd, string>();
  private readonly nexthops = new Map<string, ResolvedHop>();

  /** One object per (gateway, interface, IGP metric), so that hosts resolving alike share received routes. */
  intern(gw: number, iface: string, igpMetric?: number): ResolvedHop {
    const k = `${gw}|${iface}|${igpMetric}`;
    let hop = this.nexthops.get(k);
    if (!hop) {
      hop = { nh: { gw, iface, weight: 1 }, ...(igpMetric === undefined ? {} : { igpMetric }) };
      this.nexthops.set(k, hop);
    }
    return hop;
  }

  /** The route `e` sends for `route` (already past preexport), or null when its export filter rejects it. */
  send(e: BgpEnd, route: Rte, source: BgpEnd | undefined): BirdRoute | null {
    let sig = this.txSig.get(e);
    if (sig === undefined) {
      sig = `${filterId(e.proto.export)}|${e.proto.localAs}|${e.proto.neighbor.as}|${e.localIp}|${e.proto.nextHopSelf}|${e.proto.nextHopKeep}|${clusterId(e)}`;
      this.txSig.set(e, sig);
    }
    const bySource = branch(branch(this.sent, route), sig);
    let out = bySource.get(source ?? null);
    if (out === undefined) {
      const f = this.filters.run(e.proto.export, route);
      out = f.decision.accepted ? outgoingAttrs(e, f.route, source) : null;
      bySource.set(source ?? null, out);
    }
    return out;
  }

  /** The route `e` stores after receiving `sent` from its peer, or null when it is refused. */
  receive(
    e: BgpEnd,
    sent: BirdRoute,
    at: number,
    resolve: (gw: number) => ResolvedHop | undefined,
  ): Rte | null {
    // Loop checks depend on the receiver (its router id and cluster id), so they run before the shared cache.
    if (rxRefusal(e, sent)) return null;
    const gw = sent.attrs.bgp_next_hop;
    const nh = (gw === undefined ? undefined : resolve(gw)) ?? null;
    let sig = this.rxSig.get(e);
    if (sig === undefined) {
      sig = `${e.proto.name}|${isIbgp(e) ? 1 : 0}|${filterId(e.proto.import)}|${at}|${e.proto.neighbor.ip}|${e.peer?.routerId}`;
      this.rxSig.set(e, sig);
    }
    const byNh = branch(branch(this.received, sent), sig);
    let rte = byNh.get(nh);
    if (rte === undefined) {
      rte = null;
      const candidate = incoming(e, sent, at, nh ?? undefined);
      if (candidate) {
        const f = this.filters.run(e.proto.import, candidate);
        if (f.decision.accepted)
          rte =
            f.route === candidate
              ? candidate
              : { ...f.route, at, ibgp: candidate.ibgp, peerRouterId: candidate.peerRouterId };
      }
      byNh.set(nh, rte);
    }
    return rte;
  }
}

/** Why bgp_rx_update drops a received route before the import filter (loops), or undefined. */
export function rxRefusal(e: BgpEnd, sent: BirdRoute): string | undefined {
  const a = sent.attrs;
  // bgp_as_path_loopy, on every session: more of our AS numbers than `allow local as N` allows (0 by default).
  let ours = 0;
  for (const as of a.bgp_path ?? []) if (as === e.proto.localAs) ours++;
  if (ours > (e.proto.allowLocalAs ?? 0)) return "AS path loop";
  if (isIbgp(e) && a.bgp_originator_id === e.routerId) return "ORIGINATOR_ID is ours";
  const cid = clusterId(e);
  if (cid !== undefined && a.bgp_cluster_list?.includes(cid)) return "cluster list loop";
  return undefined;
}

/** The received route as it enters the import filter (null when a loop check drops it). */
export function incoming(e: BgpEnd, sent: BirdRoute, at: number, hop: ResolvedHop | undefined): Rte | null {
  if (rxRefusal(e, sent)) return null;
  const nh = hop?.nh;
  const attrs = { ...sent.attrs };
  if (!isIbgp(e) && attrs.bgp_local_pref === undefined) attrs.bgp_local_pref = 100;
  return {
    net: sent.net,
    dest: nh ? "unicast" : "unreachable",
    nexthops: nh ? [nh] : [],
    source: "RTS_BGP",
    proto: e.proto.name,
    from: e.proto.neighbor.ip,
    ...(nh?.iface ? { ifname: nh.iface } : {}),
    preference: BGP_PREFERENCE,
    attrs,
    at,
    ibgp: isIbgp(e),
    ...(e.peer ? { peerRouterId: e.peer.routerId } : {}),
    ...(hop?.igpMetric !== undefined ? { igpMetric: hop.igpMetric } : {}),
  };
}

/**
 * Resolves a BGP next hop. `gateway direct`: the neighbour must be on a connected network of the host.
 * `gateway recursive`: through BIRD's own table, never the kernel's FIB (rt_update_hostentry): the best route of
 * the longest prefix covering the next hop, in `igp` (the table's non-BGP routes: direct, static, `learn`ed
 * kernel routes; the kernel's own `proto kernel` subnet routes are never learned, so a host needs a `protocol
 * direct` for its subnet); none, or one that is not unicast, leaves the route `unreachable`; a device route whose
 * interface holds the address itself too (a local address). The next hop is the covering route's gateway (IGP
 * metric unknown), or the address itself on a device route (IGP metric 0).
 */
export function nextHopResolver(
  kernel: Kernel,
  mode: "recursive" | "direct",
  igp: (gw: number) => Rte | undefined,
  intern: (gw: number, iface: string, igpMetric?: number) => ResolvedHop,
): (gw: number) => ResolvedHop | undefined {
  const cache = new Map<number, ResolvedHop | null>();
  return (gw) => {
    let nh = cache.get(gw);
    if (nh === undefined) {
      nh = null;
      if (mode === "direct") {
        const a = kernel.addresses.find(
          (x) => x.dev !== "lo" && x.len > 0 && x.len < 32 && ((x.ip ^ gw) & maskOf(x.len)) >>> 0 === 0,
        );
        if (a) nh = intern(gw, a.dev);
      } else {
        const r = igp(gw);
        const hop = r?.dest === "unicast" ? r.nexthops[0] : undefined;
        if (hop?.iface !== undefined) {
          if (hop.gw !== undefined) nh = intern(hop.gw, hop.iface, IGP_METRIC_UNKNOWN);
          else if (!kernel.isLocal(gw)) nh = intern(gw, hop.iface, 0);
        }
      }
      cache.set(gw, nh);
    }
    return nh ?? undefined;
  };
}

/** The decision text for a route bgp_preexport refuses before any filter line runs. */
export function protocolDecision(e: BgpEnd, why: string): FilterDecision {
  return {
    accepted: false,
    file: e.proto.file,
    line: e.proto.line,
    text: `protocol bgp ${e.proto.name}: ${why}`,
  };
}
