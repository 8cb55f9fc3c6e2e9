/**
 * A BIRD routing table (`master` in BIRD 1.6, `master4` in BIRD 2): routes by prefix, each prefix's routes
 * ordered best first as nest/rt-table.c and proto/bgp/attrs.c (bgp_rte_better) order them, the ECMP
 * merge of `merge paths` (rt_export_merged with bgp_rte_mergable), and the order BIRD's FIB hash walks
 * prefixes in (`show route` prints them in that order, not sorted).
 */
import type { Ipv4Prefix } from "../ipv4.ts";
import type { BirdDialect, BirdRoute } from "./types.ts";

/** A route in a table: the BirdRoute and when it last changed (virtual ms), for `show route`'s time column. */
export interface Rte extends BirdRoute {
  at: number;
  /** For a BGP route: learned over iBGP (same AS) rather than eBGP. */
  ibgp?: boolean;
  /** For a BGP route: the router id of the peer it was learned from (the last tie-break). */
  peerRouterId?: number;
  /** For a BGP route resolved recursively: its next hop's IGP metric (0, or IGP_METRIC_UNKNOWN). */
  igpMetric?: number;
}

/** A prefix as a number key: address × 64 + length (exact in a double). */
export function prefixKey(p: Ipv4Prefix): number {
  return p.addr * 64 + p.len;
}

const DEFAULT_LOCAL_PREF = 100;

/** BIRD 2.0's FIB walk order: net_hash_ip4 = u32_hash(prefix) ^ (pxlen << 26), ascending. */
function hashBird2(p: Ipv4Prefix): number {
  return ((Math.imul(p.addr, 2902958171) >>> 0) ^ (p.len << 26)) >>> 0;
}

/** BIRD 1.6's: ipa_hash (a 16-bit fold of the address), ascending; equal hashes in insertion order. */
function hashBird1(p: Ipv4Prefix): number {
  let x = p.addr >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = (x ^ (x << 10)) >>> 0;
  return x & 0xffff;
}

export class RouteTableRib {
  /** Routes by prefix key, best first. Map order is insertion order, which BIRD 1.6 breaks hash ties by. */
  readonly nets = new Map<number, Rte[]>();

  constructor(
    readonly name: string,
    readonly dialect: BirdDialect,
  ) {}

  get(key: number): Rte[] | undefined {
    return this.nets.get(key);
  }

  /** Replaces the routes of one protocol for a prefix; returns whether anything changed. */
  replace(key: number, proto: string, routes: Rte[]): boolean {
    const old = this.nets.get(key);
    if (!old) {
      if (routes.length === 0) return false;
      // A copy: exactly sized (an array grown by push keeps spare capacity, and tables hold millions).
      this.nets.set(key, routes.length > 1 ? routes.slice().sort(compareRoutes) : routes.slice());
      return true;
    }
    let same = 0;
    let oldCount = 0;
    for (const r of old)
      if (r.proto === proto) {
        if (routes.includes(r)) same++;
        oldCount++;
      }
    if (same === routes.length && oldCount === routes.length) return false;
    const all = oldCount === 0 ? old.concat(routes) : old.filter((r) => r.proto !== proto).concat(routes);
    if (all.length === 0) this.nets.delete(key);
    else {
      if (all.length > 1) all.sort(compareRoutes);
      this.nets.set(key, all);
    }
    return true;
  }

  /** Prefix keys in the order BIRD's `show route` walks them. */
  walkOrder(): number[] {
    const keys = [...this.nets.keys()];
    const prefixOf = (k: number): Ipv4Prefix => {
      const len = k % 64;
      const addr = (k - len) / 64;
      return { addr, len, mask: 0 };
    };
    if (this.dialect === "bird2") {
      const h = new Map(keys.map((k) => [k, hashBird2(prefixOf(k))]));
      keys.sort((a, b) => h.get(a)! - h.get(b)!);
    } else {
      const h = new Map(keys.map((k) => [k, hashBird1(prefixOf(k))]));
      keys.sort((a, b) => h.get(a)! - h.get(b)!); // stable: ties stay in insertion order
    }
    return keys;
  }
}

function localPref(r: BirdRoute): number {
  return r.attrs.bgp_local_pref ?? DEFAULT_LOCAL_PREF;
}

const SOURCE_RANK: Record<BirdRoute["source"], number> = {
  RTS_DEVICE: 0,
  RTS_STATIC: 1,
  RTS_INHERIT: 2,
  RTS_BGP: 3,
};

/**
 * Negative when `a` is better. rte_better: higher preference; between BGP routes bgp_rte_better's order: a
 * resolvable next hop, local pref, AS path length, origin, MED (same neighbour AS), eBGP over iBGP, IGP metric
 * (0 through a device route, unknown — worse — through a gateway), originator/router id, cluster list length,
 * neighbour address.
 */
function compareRoutes(a: Rte, b: Rte): number {
  if (a.preference !== b.preference) return b.preference - a.preference;
  if (a.source !== "RTS_BGP" || b.source !== "RTS_BGP") return SOURCE_RANK[a.source] - SOURCE_RANK[b.source];
  return compareBgp(a, b);
}

function compareBgp(a: Rte, b: Rte): number {
  const ua = a.dest === "unicast" && a.nexthops.length > 0 ? 0 : 1;
  const ub = b.dest === "unicast" && b.nexthops.length > 0 ? 0 : 1;
  if (ua !== ub) return ua - ub;
  const lp = localPref(b) - localPref(a);
  if (lp) return lp;
  const pl = (a.attrs.bgp_path?.length ?? 0) - (b.attrs.bgp_path?.length ?? 0);
  if (pl) return pl;
  const or = (a.attrs.bgp_origin ?? 0) - (b.attrs.bgp_origin ?? 0);
  if (or) return or;
  if ((a.attrs.bgp_path?.[0] ?? 0) === (b.attrs.bgp_path?.[0] ?? 0)) {
    const med = (a.attrs.bgp_med ?? 0) - (b.attrs.bgp_med ?? 0);
    if (med) return med;
  }
  const eb = (a.ibgp ? 1 : 0) - (b.ibgp ? 1 : 0);
  if (eb) return eb;
  const igp = (a.igpMetric ?? 0) - (b.igpMetric ?? 0);
  if (igp) return igp;
  const ida = a.attrs.bgp_originator_id ?? a.peerRouterId ?? 0;
  const idb = b.attrs.bgp_originator_id ?? b.peerRouterId ?? 0;
  if (ida !== idb) return ida - idb;
  const cl = (a.attrs.bgp_cluster_list?.length ?? 0) - (b.attrs.bgp_cluster_list?.length ?? 0);
  if (cl) return cl;
  return (a.from ?? 0) - (b.from ?? 0);
}

/** bgp_rte_mergable: another BGP route equal to the best up to the IGP metric joins its ECMP route. */
export function mergable(best: Rte, other: Rte): boolean {
  if (best.source !== "RTS_BGP" || other.source !== "RTS_BGP") return false;
  if (best.preference !== other.preference) return false;
  if (other.dest !== "unicast" || other.nexthops.length === 0) return false;
  if (localPref(best) !== localPref(other)) return false;
  if ((best.attrs.bgp_path?.length ?? 0) !== (other.attrs.bgp_path?.length ?? 0)) return false;
  if ((best.attrs.bgp_origin ?? 0) !== (other.attrs.bgp_origin ?? 0)) return false;
  if (
    (best.attrs.bgp_path?.[0] ?? 0) === (other.attrs.bgp_path?.[0] ?? 0) &&
    (best.attrs.bgp_med ?? 0) !== (other.attrs.bgp_med ?? 0)
  )
    return false;
  return !!best.ibgp === !!other.ibgp;
}
