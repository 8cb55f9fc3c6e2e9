/**
 * The route attributes a filter reads and writes: BIRD's static attributes (`net`, `source`, `proto`,
 * `from`, `gw`, `ifname`, `dest`, `preference`) and the dynamic ones the sim carries (`krt_metric`, the BGP
 * attributes, and Calico's `krt_tunnel`). Static attributes are always defined (BIRD reads a missing
 * interface as `ifname = ""`); an absent dynamic attribute is void, except community lists, which read as
 * empty lists as in BIRD.
 */

import {
  type Ctx,
  EMPTY_LIST,
  type Ev,
  runtime,
  type VType,
  writableAttrs,
  writableRoute,
} from "./filter-runtime.ts";
import type { Token } from "./lexer.ts";
import type { BirdAttributes, BirdDialect, BirdRoute } from "./types.ts";

export interface AttrDef {
  type: VType;
  get: Ev;
  /** Stores a value (already evaluated); undefined for read-only attributes. */
  set?: (c: Ctx, v: unknown, at: Token) => void;
  /** Why it cannot be assigned. */
  readOnly?: string;
  /** A known BIRD attribute the sim does not model. */
  unsupported?: string;
}

/**
 * A dynamic attribute `key`. Its getter names the property literally (one inline cache per attribute: a
 * computed `attrs[key]` shared by every attribute would be megamorphic and an order of magnitude slower on
 * every read); the store, which happens only on a route this run has just copied, is keyed.
 */
function dynamic(type: VType, key: keyof BirdAttributes, get: Ev): AttrDef {
  const check = setterCheck(type);
  const error = setterError(type);
  return {
    type,
    get,
    set: (c, v, at) => {
      if (!check(v)) runtime(at, error);
      (writableAttrs(c) as Record<string, unknown>)[key] = v;
    },
  };
}

function setterCheck(type: VType): (v: unknown) => boolean {
  switch (type) {
    case "int":
    case "ip":
    case "quad":
    case "origin":
      return (v) => typeof v === "number";
    case "string":
      return (v) => typeof v === "string";
    default:
      return (v) => Array.isArray(v);
  }
}

function setterError(type: VType): string {
  const names: Partial<Record<VType, string>> = {
    int: "Setting int attribute to non-int value",
    origin: "Setting int attribute to non-int value",
    ip: "Setting ip attribute to non-ip value",
    quad: "Setting quad attribute to non-quad value",
    string: "Setting string attribute to non-string value",
    path: "Setting path attribute to non-path value",
    clist: "Setting clist attribute to non-clist value",
    lclist: "Setting lclist attribute to non-lclist value",
  };
  return names[type] ?? "Setting attribute to a value of the wrong type";
}

function destName(dialect: BirdDialect, r: BirdRoute): string {
  if (r.dest !== "unicast") return `RTD_${r.dest.toUpperCase()}`;
  if (dialect === "bird2") return "RTD_UNICAST";
  if (r.nexthops.length > 1) return "RTD_MULTIPATH";
  return r.nexthops[0]?.gw !== undefined ? "RTD_ROUTER" : "RTD_DEVICE";
}

const READ_ONLY = "This static attribute is read-only.";

function staticAttr(dialect: BirdDialect, name: string): AttrDef | undefined {
  switch (name) {
    case "net":
      return { type: "prefix", get: (c) => c.route.net, readOnly: READ_ONLY };
    case "source":
      return { type: "rts", get: (c) => c.route.source, readOnly: READ_ONLY };
    case "proto":
      return { type: "string", get: (c) => c.route.proto, readOnly: READ_ONLY };
    case "from":
      return {
        type: "ip",
        get: (c) => c.route.from ?? 0,
        set: (c, v, at) => {
          if (typeof v !== "number") runtime(at, "Attempt to set static attribute to incompatible type");
          writableRoute(c).from = v;
        },
      };
    case "gw":
      return {
        type: "ip",
        get: (c) => c.route.nexthops[0]?.gw ?? 0,
        readOnly: "not supported yet: assigning gw",
      };
    case "ifname":
      return {
        type: "string",
        get: (c) => c.route.ifname ?? "",
        readOnly: "not supported yet: assigning ifname",
      };
    case "dest":
      return {
        type: "rtd",
        get: (c) => destName(dialect, c.route),
        set: (c, v, at) => {
          const d =
            v === "RTD_BLACKHOLE"
              ? "blackhole"
              : v === "RTD_UNREACHABLE"
                ? "unreachable"
                : v === "RTD_PROHIBIT"
                  ? "prohibit"
                  : undefined;
          if (!d) runtime(at, "Destination can be changed only to blackhole, unreachable or prohibit");
          const r = writableRoute(c);
          r.dest = d;
          r.nexthops = [];
          r.ifname = undefined;
        },
      };
    case "preference":
      return {
        type: "int",
        get: (c) => c.route.preference,
        set: (c, v, at) => {
          if (typeof v !== "number") runtime(at, "Can't set preference to non-integer");
          if (v > 0xffff) runtime(at, "Setting preference value out of bounds");
          writableRoute(c).preference = v;
        },
      };
    default:
      return undefined;
  }
}

const DYNAMIC: Record<string, AttrDef> = {
  krt_metric: dynamic("int", "krt_metric", (c) => c.route.attrs.krt_metric),
  bgp_local_pref: dynamic("int", "bgp_local_pref", (c) => c.route.attrs.bgp_local_pref),
  bgp_med: dynamic("int", "bgp_med", (c) => c.route.attrs.bgp_med),
  bgp_origin: dynamic("origin", "bgp_origin", (c) => c.route.attrs.bgp_origin),
  bgp_next_hop: dynamic("ip", "bgp_next_hop", (c) => c.route.attrs.bgp_next_hop),
  bgp_path: dynamic("path", "bgp_path", (c) => c.route.attrs.bgp_path),
  bgp_community: dynamic("clist", "bgp_community", (c) => c.route.attrs.bgp_community ?? EMPTY_LIST),
  bgp_large_community: dynamic(
    "lclist",
    "bgp_large_community",
    (c) => c.route.attrs.bgp_large_community ?? EMPTY_LIST,
  ),
  bgp_originator_id: dynamic("quad", "bgp_originator_id", (c) => c.route.attrs.bgp_originator_id),
};

/** Calico's BIRD fork: the kernel protocol routes through this device (`krt_tunnel = "tunl0"`). */
const KRT_TUNNEL = dynamic("string", "krt_tunnel", (c) => c.route.attrs.krt_tunnel);

const UNSUPPORTED = new Set([
  "scope",
  "cast",
  "ifindex",
  "weight",
  "onlink",
  "bgp_cluster_list",
  "bgp_ext_community",
  "bgp_atomic_aggr",
  "bgp_aggregator",
  "krt_prefsrc",
  "krt_realm",
  "krt_scope",
  "krt_source",
  "krt_mtu",
  "krt_window",
  "krt_rtt",
  "krt_rttvar",
  "krt_sstresh",
  "krt_cwnd",
  "krt_advmss",
  "krt_reordering",
  "krt_hoplimit",
  "krt_initcwnd",
  "krt_rto_min",
  "krt_initrwnd",
  "krt_quickack",
  "igp_metric",
  "ospf_metric1",
  "ospf_metric2",
  "ospf_tag",
  "ospf_router_id",
  "rip_metric",
  "rip_tag",
  "babel_metric",
  "ra_preference",
  "ra_lifetime",
]);

/** The attribute called `name`, if it is one. */
export function attribute(dialect: BirdDialect, name: string): AttrDef | undefined {
  const s = staticAttr(dialect, name);
  if (s) return s;
  if (DYNAMIC[name]) return DYNAMIC[name];
  if (name === "krt_tunnel" && dialect === "bird1") return KRT_TUNNEL;
  if (UNSUPPORTED.has(name)) {
    return { type: "void", get: () => undefined, unsupported: `the attribute ${name}` };
  }
  return undefined;
}
