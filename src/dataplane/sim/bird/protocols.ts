/**
 * A protocol's settings as parsed (template and protocol items applied in order), and the step that turns
 * them into the seam's BirdProtocol with BIRD's defaults and checks (proto/bgp/bgp.c bgp_check_config,
 * sysdep/unix/krt.c, nest/rt-dev.c).
 */
import type { Scope } from "./filter-scope.ts";
import type { Token, TokenStream } from "./lexer.ts";
import type { BgpProtocol, BirdFilter, BirdProtocol, InterfacePattern, StaticRoute } from "./types.ts";

export type ProtocolKind = "kernel" | "device" | "direct" | "static" | "bgp";

export interface Draft {
  kind: ProtocolKind;
  description?: string;
  import?: BirdFilter;
  export?: BirdFilter;
  /** BIRD 2: an `ipv4` channel was given. */
  channel?: boolean;
  scanTime?: number;
  // kernel
  learn?: boolean;
  persist?: boolean;
  mergePaths?: boolean;
  mergePathsLimit?: number;
  kernelGracefulRestart?: boolean;
  deviceRoutes?: boolean;
  kernelMetric?: number;
  // direct
  interfaces: InterfacePattern[];
  // static
  routes: StaticRoute[];
  // bgp
  localAs?: number;
  sourceAddress?: number;
  neighborIp?: number;
  neighborPort?: number;
  neighborAs?: number;
  passive?: boolean;
  multihop?: true | number | "direct";
  ttlSecurity?: boolean;
  addPaths?: boolean | "rx" | "tx";
  rrClient?: boolean;
  rrClusterId?: number;
  nextHopSelf?: boolean;
  nextHopKeep?: boolean;
  gateway?: "recursive" | "direct";
  password?: string;
  connectDelayTime?: number;
  connectRetryTime?: number;
  holdTime?: number;
  keepaliveTime?: number;
  errorWaitTime?: [number, number];
  grMode?: "on" | "off" | "aware";
  grTime?: number;
  allowLocalAs?: number;
}

/** BIRD's kernel and device scan time default (seconds), and its merge paths limit. */
const DEFAULT_SCAN_TIME = 60;
const DEFAULT_ECMP_LIMIT = 16;

export function finishProtocol(
  sc: Scope,
  d: Draft,
  name: string,
  start: Token,
  defaultFilter: (which: "import" | "export", f: "all" | "none") => BirdFilter,
): BirdProtocol {
  const ts: TokenStream = sc.ts;
  const bird2 = sc.dialect === "bird2";
  if (bird2 && d.kind !== "device" && !d.channel)
    ts.error(start, `${name}: an ipv4 channel is required (ipv4 { … })`);
  const table = bird2 ? "master4" : "master";
  const imp = d.import ?? defaultFilter("import", "all");
  const exp = d.export ?? defaultFilter("export", "none");
  // Built field by field: object spread is slow in V8, and a 1,000-peer configuration has 1,000 of these.
  let p: BirdProtocol;
  switch (d.kind) {
    case "kernel":
      p = {
        kind: "kernel",
        name,
        file: start.file,
        line: start.line,
        table,
        import: imp,
        export: exp,
        learn: d.learn ?? false,
        persist: d.persist ?? false,
        scanTime: d.scanTime ?? DEFAULT_SCAN_TIME,
        mergePaths: d.mergePaths ?? false,
        gracefulRestart: d.kernelGracefulRestart ?? false,
        // BIRD 2's KRT_DEFAULT_METRIC; BIRD 1.6 sends no metric unless a filter sets krt_metric.
        metric: d.kernelMetric ?? (bird2 ? 32 : 0),
      };
      if (d.mergePaths) p.mergePathsLimit = d.mergePathsLimit ?? DEFAULT_ECMP_LIMIT;
      if (d.deviceRoutes !== undefined) p.deviceRoutes = d.deviceRoutes;
      break;
    case "device":
      p = {
        kind: "device",
        name,
        file: start.file,
        line: start.line,
        table,
        import: imp,
        export: exp,
        scanTime: d.scanTime ?? DEFAULT_SCAN_TIME,
      };
      break;
    case "direct":
      p = {
        kind: "direct",
        name,
        file: start.file,
        line: start.line,
        table,
        import: imp,
        export: exp,
        // No `interface` line means every interface (nest/rt-dev.c).
        interfaces: d.interfaces.length > 0 ? d.interfaces : [{ pattern: "*", exclude: false }],
      };
      break;
    case "static":
      p = {
        kind: "static",
        name,
        file: start.file,
        line: start.line,
        table,
        import: imp,
        export: exp,
        routes: d.routes,
      };
      break;
    case "bgp":
      p = finishBgp(sc, d, name, start, table, imp, exp);
      break;
  }
  if (d.description !== undefined) p.description = d.description;
  return p;
}

function finishBgp(
  sc: Scope,
  d: Draft,
  name: string,
  start: Token,
  table: string,
  imp: BirdFilter,
  exp: BirdFilter,
): BgpProtocol {
  const ts: TokenStream = sc.ts;
  if (d.localAs === undefined) ts.error(start, `${name}: Local AS number must be set`);
  if (d.neighborIp === undefined) ts.error(start, `${name}: Neighbor must be configured`);
  if (d.neighborAs === undefined) ts.error(start, `${name}: Remote AS number must be set`);
  const internal = d.localAs === d.neighborAs;
  if (d.rrClient && !internal) ts.error(start, `${name}: Only internal neighbor can be RR client`);
  if (sc.dialect === "bird2" && !internal && (!d.import || !d.export)) {
    ts.error(start, `${name}: EBGP requires explicit ${d.import ? "export" : "import"} policy`);
  }
  // iBGP and `multihop` sessions are multihop (BIRD: multihop 64); `direct` and plain eBGP are not.
  const multihop = d.multihop === "direct" ? undefined : (d.multihop ?? (internal ? true : undefined));
  const holdTime = d.holdTime ?? 240;
  if (multihop !== undefined && d.gateway === "direct") {
    ts.error(start, `${name}: Multihop BGP cannot use direct gateway mode`);
  }
  const p: BgpProtocol = {
    kind: "bgp",
    name,
    file: start.file,
    line: start.line,
    table,
    import: imp,
    export: exp,
    localAs: d.localAs,
    neighbor: { ip: d.neighborIp, as: d.neighborAs },
    passive: d.passive ?? false,
    ttlSecurity: d.ttlSecurity ?? false,
    addPaths: d.addPaths ?? false,
    rrClient: d.rrClient ?? false,
    nextHopSelf: d.nextHopSelf ?? false,
    nextHopKeep: d.nextHopKeep ?? false,
    gateway: d.gateway ?? (multihop !== undefined ? "recursive" : "direct"),
    connectDelayTime: d.connectDelayTime ?? 5,
    connectRetryTime: d.connectRetryTime ?? 120,
    holdTime,
    keepaliveTime: d.keepaliveTime ?? Math.floor(holdTime / 3),
    errorWaitTime: d.errorWaitTime ?? [60, 300],
  };
  if (d.neighborPort !== undefined) p.neighbor.port = d.neighborPort;
  if (d.sourceAddress !== undefined) p.sourceAddress = d.sourceAddress;
  if (multihop !== undefined) p.multihop = multihop;
  if (d.rrClusterId !== undefined) p.rrClusterId = d.rrClusterId;
  if (d.password !== undefined) p.password = d.password;
  if (d.grMode === "on") p.gracefulRestart = d.grTime ?? 120;
  if (d.allowLocalAs !== undefined) p.allowLocalAs = d.allowLocalAs;
  return p;
}
