import { fnv1a5 } from "./hash.ts";
import { formatIpv4, type Ipv4Prefix, maskOf } from "./ipv4.ts";
import { LOCAL_TABLE, tableName } from "./policy-routing.ts";

export type RouteType = "unicast" | "blackhole" | "unreachable" | "prohibit" | "local" | "broadcast";

export interface Nexthop {
  via?: number;
  dev: string;
  weight: number;
  /** The gateway is on `dev` without a route to it (`onlink`: tunnel routes to the remote node's address). */
  onlink?: boolean;
}

export interface Route {
  type: RouteType;
  dst: Ipv4Prefix;
  /** One for a plain route; several for ECMP (`nexthop … weight N` lines). */
  nexthops: Nexthop[];
  /** `kernel`, `boot`, `static`, `bird`, `dhcp`, or a number. */
  proto: string;
  scope: "global" | "link" | "host";
  src?: number;
  metric: number;
  /** The routing table, when not main (`ip route show table all` prints it). */
  table?: number;
}

/** One routing table: longest-prefix match, then lowest metric; ECMP picks a nexthop by the flow hash. */
export class RouteTable {
  private readonly byLength: Map<number, Route[]>[] = Array.from({ length: 33 }, () => new Map());
  private lengths: number[] = [];
  /**
   * Answers by address since the table last changed (the kernel caches its FIB results too). Keyed by the address
   * as a signed 32-bit number, which V8 keeps as a small integer (an address above 127.255.255.255 as an unsigned
   * number would be a heap number, boxed for every lookup).
   */
  private readonly cache = new Map<number, Route | null>();

  get routes(): Route[] {
    const all: Route[] = [];
    for (const m of this.byLength) for (const list of m.values()) all.push(...list);
    return all;
  }

  add(route: Route): void {
    const bucket = this.byLength[route.dst.len]!;
    const old = bucket.get(route.dst.addr);
    if (old?.some((r) => r.metric === route.metric)) throw new Error(`RTNETLINK answers: File exists`);
    // A new exactly sized list (a pushed-to array keeps spare capacity; a node may hold thousands of routes).
    const list = old ? [...old, route].sort((a, b) => a.metric - b.metric) : [route];
    const newLength = bucket.size === 0;
    bucket.set(route.dst.addr, list);
    this.cache.clear();
    if (newLength) {
      this.lengths = [];
      for (let l = 32; l >= 0; l--) if (this.byLength[l]!.size > 0) this.lengths.push(l);
    }
  }

  delete(dst: Ipv4Prefix): boolean {
    const bucket = this.byLength[dst.len]!;
    const had = bucket.delete(dst.addr);
    this.cache.clear();
    if (had && bucket.size === 0) this.lengths = this.lengths.filter((l) => l !== dst.len);
    return had;
  }

  /** The routes to exactly `dst` (every metric), lowest metric first. */
  at(dst: Ipv4Prefix): readonly Route[] {
    return this.byLength[dst.len]!.get(dst.addr) ?? [];
  }

  /** Removes one route (`ip route del … proto P metric M`); returns whether it was there. */
  remove(route: Route): boolean {
    const bucket = this.byLength[route.dst.len]!;
    const list = bucket.get(route.dst.addr);
    const i = list ? list.indexOf(route) : -1;
    if (!list || i < 0) return false;
    if (list.length === 1) this.delete(route.dst);
    else {
      bucket.set(
        route.dst.addr,
        list.filter((r) => r !== route),
      );
      this.cache.clear();
    }
    return true;
  }

  lookup(ip: number): Route | undefined {
    const key = ip | 0;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let found: Route | undefined;
    for (const len of this.lengths) {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const list = this.byLength[len]!.get((ip & mask) >>> 0);
      if (list) {
        found = list[0];
        break;
      }
    }
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(key, found ?? null);
    return found;
  }
}

/** Picks the nexthop of an ECMP route for a flow, as the kernel's multipath hash does (weights honoured). */
export function chooseNexthop(route: Route, flowHash: number): Nexthop | undefined {
  if (route.nexthops.length <= 1) return route.nexthops[0];
  const total = route.nexthops.reduce((s, n) => s + n.weight, 0);
  let point = flowHash % total;
  for (const n of route.nexthops) {
    if (point < n.weight) return n;
    point -= n.weight;
  }
  return route.nexthops[0];
}

/**
 * A flow's multipath hash (FNV-1a standing in for the kernel's), over the fields net.ipv4.fib_multipath_hash_policy
 * names: 0, Linux's default, the addresses only (every connection between two hosts takes the same path); 1 the
 * 5-tuple; 3 the default custom fields (addresses and protocol). 2 hashes an encapsulated packet's inner addresses,
 * which for the sim's unencapsulated packets is 0's.
 */
export function flowHash(
  policy: number,
  src: number,
  dst: number,
  proto: number,
  sport: number,
  dport: number,
): number {
  if (policy === 1) return fnv1a5(src, dst, proto, sport, dport);
  return fnv1a5(src, dst, policy === 3 ? proto : 0, 0, 0);
}

function destinationText(r: Route): string {
  if (r.dst.len === 0) return "default";
  return r.dst.len === 32 ? formatIpv4(r.dst.addr) : `${formatIpv4(r.dst.addr)}/${r.dst.len}`;
}

/**
 * The kernel's table `local` for a namespace's addresses (`ip route show table local|all`): each address is
 * `local`, and an address with a broadcast address on an up device adds its `broadcast` route (Linux 6.x adds no
 * network-address broadcast route). Loopback's prefix is local as a whole (127.0.0.0/8). Display only: a
 * namespace's FIB answers "is this address mine" from its address list.
 */
export function localTableRoutes(
  addresses: readonly { ip: number; len: number; dev: string }[],
  isUp: (dev: string) => boolean,
): Route[] {
  const routes: Route[] = [];
  const kernelRoute = (type: RouteType, dst: Ipv4Prefix, dev: string, src: number): Route => ({
    type,
    dst,
    nexthops: [{ dev, weight: 1 }],
    proto: "kernel",
    scope: type === "local" ? "host" : "link",
    src,
    metric: 0,
    table: LOCAL_TABLE,
  });
  for (const a of addresses) {
    const mask = maskOf(a.len);
    if (a.dev === "lo" && a.len < 32)
      routes.push(kernelRoute("local", { addr: (a.ip & mask) >>> 0, len: a.len, mask }, a.dev, a.ip));
    routes.push(kernelRoute("local", { addr: a.ip, len: 32, mask: maskOf(32) }, a.dev, a.ip));
    if (a.len < 31 && isUp(a.dev))
      routes.push(
        kernelRoute("broadcast", { addr: (a.ip | ~mask) >>> 0, len: 32, mask: maskOf(32) }, a.dev, a.ip),
      );
  }
  return routes;
}

/**
 * `ip route` (iproute2 6.x): routes in the kernel's dump order, each line ending with a space. `showTable` is for
 * `table all`, where a route outside main names its table; filtered to one table, iproute2 prints no table.
 */
export function formatRoutes(routes: Route[], options: { showTable?: boolean } = {}): string {
  const sorted = [...routes].sort(
    (a, b) => a.dst.addr - b.dst.addr || b.dst.len - a.dst.len || a.metric - b.metric,
  );
  const lines: string[] = [];
  for (const r of sorted) {
    const parts: string[] = [];
    if (r.type !== "unicast") parts.push(r.type);
    parts.push(destinationText(r));
    const single = r.nexthops.length === 1 ? r.nexthops[0] : undefined;
    if (single?.via !== undefined) parts.push(`via ${formatIpv4(single.via)}`);
    if (single) parts.push(`dev ${single.dev}`);
    if (options.showTable && r.table !== undefined) parts.push(`table ${tableName(r.table)}`);
    if (r.proto !== "boot") parts.push(`proto ${r.proto}`);
    // Blackhole-like routes have no scope to print; the kernel's local and broadcast routes print theirs.
    if (r.scope !== "global" && r.type !== "blackhole" && r.type !== "unreachable" && r.type !== "prohibit")
      parts.push(`scope ${r.scope}`);
    if (r.src !== undefined) parts.push(`src ${formatIpv4(r.src)}`);
    if (r.metric !== 0) parts.push(`metric ${r.metric}`);
    if (single?.onlink) parts.push("onlink");
    lines.push(`${parts.join(" ")} `);
    if (r.nexthops.length > 1)
      for (const n of r.nexthops)
        lines.push(
          `\tnexthop ${n.via !== undefined ? `via ${formatIpv4(n.via)} ` : ""}dev ${n.dev} weight ${n.weight} `,
        );
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
