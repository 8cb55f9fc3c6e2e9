import type { Nexthop, Route } from "./fib.ts";
import { formatIpv4 } from "./ipv4.ts";
import {
  type CtState,
  type Hook,
  ICMP,
  type Packet,
  type RuleHit,
  SCTP,
  TCP,
  UDP,
} from "./netfilter/index.ts";

/** The route a hop chose: its destination prefix and, for ECMP, which nexthop (1-based) of how many. */
export interface TraceRoute {
  dst: string;
  type: string;
  via?: string;
  dev?: string;
  nexthop: number;
  nexthops: number;
}

/** One step of a packet's journey, for `tortie trace`. */
export interface TraceHop {
  host: string;
  stage: string;
  detail: string;
  inIface?: string;
  outIface?: string;
  route?: TraceRoute;
  /** The conntrack state rules saw in this namespace, and whether the packet ran in the reply direction. */
  conntrack?: { state: CtState; reply: boolean };
}

/** `at` is how many hops, rule hits and translations were recorded before this one (their common order). */
export interface Trace {
  hops: TraceHop[];
  rules: (RuleHit & { host: string; hook: Hook; at: number })[];
  nat: { host: string; kind: string; from: string; to: string; at: number }[];
}

export function traceSeq(trace: Trace): number {
  return trace.hops.length + trace.rules.length + trace.nat.length;
}

export function traceRoute(route: Route, hop: Nexthop | undefined): TraceRoute {
  const r: TraceRoute = {
    dst: `${formatIpv4(route.dst.addr)}/${route.dst.len}`,
    type: route.type,
    nexthop: hop ? route.nexthops.indexOf(hop) + 1 : 0,
    nexthops: route.nexthops.length,
  };
  if (hop?.via !== undefined) r.via = formatIpv4(hop.via);
  if (hop) r.dev = hop.dev;
  return r;
}

/** An address, with its port for the protocols that have ports. */
export function endpoint(ip: number, port: number, proto: number): string {
  return proto === TCP || proto === UDP || proto === SCTP ? `${formatIpv4(ip)}:${port}` : formatIpv4(ip);
}

const PROTO_LABELS: Record<number, string> = { [TCP]: "tcp", [UDP]: "udp", [ICMP]: "icmp", [SCTP]: "sctp" };

export function protoLabel(p: Packet): string {
  return PROTO_LABELS[p.proto] ?? `proto ${p.proto}`;
}
