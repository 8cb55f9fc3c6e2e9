/**
 * The seam between BIRD's configuration and the sim's BGP speakers: what the parser (`parse.ts`, `filter.ts`)
 * produces and the engine (`fabric.ts` and friends) runs. Templates are already resolved and unnamed
 * protocols already named (`kernel1`, `device1`, `direct1`, `static1`, …) as BIRD names them.
 * IPv4 only: the sim has no IPv6 dataplane, so `bird6.cfg` is rendered but not run.
 */
import type { Ipv4Prefix } from "../ipv4.ts";

/** Calico's BIRD (a 1.6 fork: no channels, `import filter` on the protocol) or BIRD 2 (channels), as on host1. */
export type BirdDialect = "bird1" | "bird2";

/** Where a route came from, as filters test it with `source = RTS_…`. */
export type RouteSource = "RTS_STATIC" | "RTS_INHERIT" | "RTS_DEVICE" | "RTS_BGP";

export interface BirdNexthop {
  gw?: number;
  iface?: string;
  weight: number;
}

/** Attributes a filter can read, set and test with `defined()`: absent means undefined. */
export interface BirdAttributes {
  krt_metric?: number;
  bgp_local_pref?: number;
  bgp_med?: number;
  bgp_origin?: number;
  bgp_next_hop?: number;
  /** The AS path, first hop first. */
  bgp_path?: number[];
  bgp_community?: [number, number][];
  bgp_large_community?: [number, number, number][];
  bgp_originator_id?: number;
  bgp_cluster_list?: number[];
  /**
   * Calico's BIRD fork: the kernel protocol programs the route through this device to the BGP next hop
   * (`onlink`), e.g. `krt_tunnel = "tunl0"` in bird_ipam.cfg for IPIP pools; `""` means no tunnel.
   */
  krt_tunnel?: string;
}

/** A route as a BIRD table and its filters see it. Filters return a modified copy, never mutate. */
export interface BirdRoute {
  net: Ipv4Prefix;
  dest: "unicast" | "blackhole" | "unreachable" | "prohibit";
  nexthops: BirdNexthop[];
  source: RouteSource;
  /** The protocol of this speaker the route came from. */
  proto: string;
  /** For a BGP route, the neighbour it was learned from (`from`). */
  from?: number;
  /** The interface of the (first) nexthop, for `ifname`. */
  ifname?: string;
  /** BIRD's preference: device 240, static 200, BGP 100, kernel 10 (filters may set it). */
  preference: number;
  attrs: BirdAttributes;
}

/**
 * The statement that decided: its file and line, and its text as written (for `tortie bgp routes`): the
 * source line holding the deciding `accept`/`reject` (or `import all`, `export none`, a `where`), trimmed
 * and without its `#` comment; `(default) import all` / `(default) export none` when no clause was written.
 */
export interface FilterDecision {
  accepted: boolean;
  file: string;
  line: number;
  text: string;
  /**
   * Set when the route was rejected by an error rather than a `reject`: a runtime error (BIRD logs
   * "filters, line N: …"), or a filter that ended without `accept`/`reject`.
   */
  error?: string;
}

export interface FilterResult {
  decision: FilterDecision;
  /** The route after the filter's assignments (the input unchanged when nothing was assigned). */
  route: BirdRoute;
}

/** A compiled filter: a named `filter`, an inline `filter { … }`, or `all`/`none`. */
export interface BirdFilter {
  /** The filter's name, `all`, `none`, or undefined for an inline filter. */
  name?: string;
  run(route: BirdRoute): FilterResult;
}

interface ProtocolBase {
  name: string;
  file: string;
  line: number;
  description?: string;
  /** `master` (BIRD 1) or `master4` (BIRD 2). */
  table: string;
  import: BirdFilter;
  export: BirdFilter;
}

export interface KernelProtocol extends ProtocolBase {
  kind: "kernel";
  learn: boolean;
  persist: boolean;
  scanTime?: number;
  mergePaths: boolean;
  gracefulRestart: boolean;
  /** `merge paths on limit N`: the most nexthops of one route (BIRD's default 16), when mergePaths. */
  mergePathsLimit?: number;
  /** `device routes` (BIRD 1): export device routes to the kernel too. */
  deviceRoutes?: boolean;
  /** `metric N`: the kernel metric of exported routes; when 0, a route's `krt_metric` is used (BIRD 2's default 32). */
  metric: number;
}

export interface DeviceProtocol extends ProtocolBase {
  kind: "device";
  scanTime?: number;
}

/** One `interface` pattern: `-"cali*"` excludes, `"*"` includes; the first that matches decides. */
export interface InterfacePattern {
  pattern: string;
  exclude: boolean;
}

export interface DirectProtocol extends ProtocolBase {
  kind: "direct";
  interfaces: InterfacePattern[];
}

export interface StaticRoute {
  net: Ipv4Prefix;
  dest: "unicast" | "blackhole" | "unreachable" | "prohibit";
  via?: number;
}

export interface StaticProtocol extends ProtocolBase {
  kind: "static";
  routes: StaticRoute[];
}

export interface BgpProtocol extends ProtocolBase {
  kind: "bgp";
  localAs: number;
  neighbor: { ip: number; as: number; port?: number };
  sourceAddress?: number;
  passive: boolean;
  /** `multihop` (true), `multihop N`, or undefined for a direct session. */
  multihop?: true | number;
  ttlSecurity: boolean;
  addPaths: boolean | "rx" | "tx";
  rrClient: boolean;
  rrClusterId?: number;
  nextHopSelf: boolean;
  nextHopKeep: boolean;
  gateway: "recursive" | "direct";
  password?: string;
  /** Seconds. BIRD's defaults: connect delay 5, connect retry 120, hold 240, keepalive hold/3, error wait 60,300. */
  connectDelayTime: number;
  connectRetryTime: number;
  holdTime: number;
  keepaliveTime: number;
  errorWaitTime: [number, number];
  /** `graceful restart [time N]`: undefined when off, else the restart time in seconds (BIRD default 120). */
  gracefulRestart?: number;
  allowLocalAs?: number;
}

export type BirdProtocol = KernelProtocol | DeviceProtocol | DirectProtocol | StaticProtocol | BgpProtocol;

export interface BirdConfig {
  dialect: BirdDialect;
  /** The main file's name (`bird.cfg`); included files are named by their include path. */
  file: string;
  routerId?: number;
  listen?: { address?: number; port?: number };
  /** In configuration order, templates resolved. */
  protocols: BirdProtocol[];
  /** Named filters (`filter NAME { … }`). */
  filters: Map<string, BirdFilter>;
}

/** A configuration error, as BIRD reports it: `FILE:LINE:COL message`. */
export class BirdConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column} ${reason}`);
    this.name = "BirdConfigError";
  }
}
