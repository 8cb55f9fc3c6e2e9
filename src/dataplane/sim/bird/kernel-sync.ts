/**
 * The kernel protocol (sysdep/unix/krt.c, sysdep/linux/netlink.c) and the routes other protocols originate:
 * - `learn`: alien routes in the FIB (not `proto bird`, not the kernel's own connected routes) enter the
 *   table as RTS_INHERIT with preference 10;
 * - export: each prefix's best route through the export filter becomes a `proto bird` route, with
 *   `merge paths` adding the nexthops of the other routes bgp_rte_mergable with it (weight 1 each, at most the
 *   `limit`: the lowest gateways, as nexthop_merge keeps them); the metric is the protocol's `metric` when not
 *   0 (BIRD 2's default 32), else `krt_metric`, else none (nl_send_route). A route the kernel already has from
 *   another protocol at the same metric is not replaced (netlink answers EEXIST to BIRD's NLM_F_EXCL add), and
 *   `proto bird` routes BIRD no longer exports are removed (krt_prune).
 * - direct: each interface address's prefix on interfaces the patterns admit (RTS_DEVICE, preference 240);
 * - static: blackhole/unreachable/prohibit routes, and `via` routes whose gateway is on a connected network.
 */
import type { Route } from "../fib.ts";
import { maskOf } from "../ipv4.ts";
import type { Kernel } from "../kernel.ts";
import type { FilterCache } from "./exchange.ts";
import { patmatch } from "./filter-runtime.ts";
import { mergable, type Rte } from "./rib.ts";
import type { BirdDialect, DirectProtocol, KernelProtocol, StaticProtocol } from "./types.ts";

function admitted(p: DirectProtocol, dev: string): boolean {
  for (const pat of p.interfaces) if (patmatch(pat.pattern, dev)) return !pat.exclude;
  return false;
}

export function directRoutes(kernel: Kernel, p: DirectProtocol, at: number): Rte[] {
  const out: Rte[] = [];
  const seen = new Set<string>();
  for (const a of kernel.addresses) {
    if (a.ip >>> 24 === 127) continue; // scope host
    const link = kernel.links.get(a.dev);
    if (!link?.up || !admitted(p, a.dev)) continue;
    const mask = maskOf(a.len);
    const net = { addr: (a.ip & mask) >>> 0, len: a.len, mask };
    const id = `${net.addr}/${net.len}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({
      net,
      dest: "unicast",
      nexthops: [{ iface: a.dev, weight: 1 }],
      source: "RTS_DEVICE",
      proto: p.name,
      ifname: a.dev,
      preference: 240,
      attrs: {},
      at,
    });
  }
  return out;
}

export function staticRoutes(kernel: Kernel, p: StaticProtocol, at: number): Rte[] {
  const out: Rte[] = [];
  for (const s of p.routes) {
    if (s.dest !== "unicast") {
      out.push({
        net: s.net,
        dest: s.dest,
        nexthops: [],
        source: "RTS_STATIC",
        proto: p.name,
        preference: 200,
        attrs: {},
        at,
      });
      continue;
    }
    if (s.via === undefined) continue;
    const via = s.via;
    const a = kernel.addresses.find(
      (x) => x.dev !== "lo" && x.len > 0 && x.len < 32 && ((x.ip ^ via) & maskOf(x.len)) >>> 0 === 0,
    );
    if (!a) continue; // BIRD announces a static route only once its gateway is a neighbour
    out.push({
      net: s.net,
      dest: "unicast",
      nexthops: [{ gw: via, iface: a.dev, weight: 1 }],
      source: "RTS_STATIC",
      proto: p.name,
      ifname: a.dev,
      preference: 200,
      attrs: {},
      at,
    });
  }
  return out;
}

/** `learn`: the FIB's alien routes. */
export function learnedRoutes(kernel: Kernel, p: KernelProtocol, at: number): Rte[] {
  const out: Rte[] = [];
  for (const r of kernel.main.routes) {
    if (r.proto === "bird" || r.proto === "kernel" || r.type === "local" || r.type === "broadcast") continue;
    const nexthops = r.nexthops.map((n) => ({
      ...(n.via !== undefined ? { gw: n.via } : {}),
      iface: n.dev,
      weight: n.weight,
    }));
    out.push({
      net: r.dst,
      dest: r.type === "unicast" ? "unicast" : r.type,
      nexthops: r.type === "unicast" ? nexthops : [],
      source: "RTS_INHERIT",
      proto: p.name,
      ...(nexthops[0]?.iface ? { ifname: nexthops[0].iface } : {}),
      preference: 10,
      // krt_make_tmp_attrs: a learned route always carries krt_metric, 0 when the kernel sent no priority.
      attrs: { krt_metric: r.metric },
      at,
    });
  }
  return out;
}

/** Shares FIB route objects between hosts exporting the same routes (they are never changed in place). */
export class FibRouteCache {
  private readonly byBest = new WeakMap<
    Rte,
    { merged: Rte[]; metric: number; limit: number; route: Route }[]
  >();

  /**
   * The kernel route for a prefix's exported routes (the best first).
   * `metric` is the kernel protocol's (0: none), `limit` its `merge paths` limit.
   */
  build(best: Rte, merged: Rte[], metric: number, limit = Number.POSITIVE_INFINITY): Route {
    let list = this.byBest.get(best);
    if (!list) {
      list = [];
      this.byBest.set(best, list);
    }
    for (const c of list)
      if (
        c.metric === metric &&
        c.limit === limit &&
        c.merged.length === merged.length &&
        c.merged.every((r, i) => r === merged[i])
      )
        return c.route;
    const route = toKernel(merged, metric, limit);
    if (list.length < 8) list.push({ merged, metric, limit, route });
    return route;
  }
}

function toKernel(routes: Rte[], protocolMetric: number, limit: number): Route {
  const best = routes[0]!;
  const metric = protocolMetric || (best.attrs.krt_metric ?? 0);
  if (best.dest !== "unicast")
    return { type: best.dest, dst: best.net, nexthops: [], proto: "bird", scope: "global", metric };
  const nexthops: Route["nexthops"] = [];
  const seen = new Set<string>();
  for (const r of routes)
    for (const n of r.nexthops) {
      if (!n.iface) continue;
      const id = `${n.gw}|${n.iface}`;
      if (seen.has(id)) continue;
      seen.add(id);
      nexthops.push({ ...(n.gw !== undefined ? { via: n.gw } : {}), dev: n.iface, weight: 1 });
    }
  if (nexthops.length === 0)
    return { type: "unreachable", dst: best.net, nexthops: [], proto: "bird", scope: "global", metric };
  nexthops.sort((a, b) => (a.via ?? 0) - (b.via ?? 0));
  if (routes.length > 1 && nexthops.length > limit) nexthops.length = limit;
  const scope = nexthops.every((n) => n.via === undefined) ? "link" : "global";
  return { type: "unicast", dst: best.net, nexthops, proto: "bird", scope, metric };
}

/**
 * What the kernel protocol exports for one prefix: the best route and, with `merge paths`, its equals. BIRD 1.6
 * exports no device route (one nexthop, no gateway: the direct protocol's) unless `device routes`.
 */
export function kernelExport(
  p: KernelProtocol,
  routes: Rte[] | undefined,
  filters: FilterCache,
  dialect: BirdDialect,
): Rte[] {
  if (!routes?.length) return [];
  const best = routes[0]!;
  if (best.proto === p.name) return [];
  const device = best.dest === "unicast" && best.nexthops.length === 1 && best.nexthops[0]!.gw === undefined;
  if (device && dialect === "bird1" && !p.deviceRoutes) return [];
  const first = filters.run(p.export, best);
  if (!first.decision.accepted) return [];
  const out: Rte[] = [first.route === best ? best : { ...first.route, at: best.at }];
  if (p.mergePaths)
    for (const r of routes.slice(1)) {
      if (!mergable(best, r)) continue;
      const f = filters.run(p.export, r);
      if (f.decision.accepted) out.push(f.route === r ? r : { ...f.route, at: r.at });
    }
  return out;
}

function sameRoute(a: Route, b: Route): boolean {
  if (a === b) return true;
  if (
    a.type !== b.type ||
    a.metric !== b.metric ||
    a.scope !== b.scope ||
    a.nexthops.length !== b.nexthops.length
  )
    return false;
  return a.nexthops.every(
    (n, i) =>
      n.via === b.nexthops[i]!.via && n.dev === b.nexthops[i]!.dev && n.weight === b.nexthops[i]!.weight,
  );
}

/**
 * Puts the wanted `proto bird` route for its prefix into the FIB, replacing BIRD's old one; returns false when
 * the kernel refuses it (EEXIST: another protocol's route at the same metric), as BIRD marks KRF_SYNC_ERROR.
 */
export function syncPrefix(kernel: Kernel, want: Route): boolean {
  const here = kernel.main.at(want.dst);
  let keep: Route | undefined;
  // `remove` replaces the table's list, so `here` stays as it was.
  for (const r of here) {
    if (r.proto !== "bird") continue;
    if (!keep && sameRoute(r, want)) keep = r;
    else kernel.main.remove(r);
  }
  if (keep) return true;
  if (kernel.main.at(want.dst).some((r) => r.metric === want.metric)) return false;
  kernel.main.add(want);
  return true;
}
