/**
 * A connection from one place to another, followed through every point where Calico evaluates policy:
 * the source pod's egress, the host endpoints it leaves and enters by (pre-DNAT, forward, host), kube-proxy's
 * DNAT to each service backend and its masquerade, and the destination's ingress. One path per backend.
 */

import { UnsupportedError } from "../lib/index.ts";
import { formatIp, type IpAddress } from "../net/index.ts";
import { type Decision, evaluateAt, type Stage } from "./evaluate.ts";
import type { Direction, Endpoint, Service, ServicePort } from "./model.ts";
import type { PolicyIndex } from "./policy-index.ts";
import type { Packet } from "./rule-match.ts";

export type FlowEnd =
  | { kind: "endpoint"; endpoint: Endpoint }
  | { kind: "host"; node: string }
  | { kind: "ip"; ip: IpAddress };

export interface FlowQuery {
  from: FlowEnd;
  to: FlowEnd;
  protocol: number;
  port?: number;
  srcPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface FlowCheck extends Decision {
  node: string;
  /** The endpoint as users name it: `<ns>/<pod>`, or `hostendpoint <name>`. */
  subject: string;
  src: string;
  dst: string;
}

export interface FlowPath {
  /** The backend this path reaches after DNAT, `ip:port`. */
  backend?: string;
  nat: string[];
  checks: FlowCheck[];
  allowed: boolean;
}

export interface FlowResult {
  service?: string;
  allowed: boolean;
  paths: FlowPath[];
}

const EPHEMERAL_PORT = 40000;

const sameIp = (a: IpAddress, b: IpAddress) => a.family === b.family && a.value === b.value;

/** What is at an address: a pod, a node (host-networked), or the outside world. */
function placeOf(index: PolicyIndex, ip: IpAddress): FlowEnd {
  const wep = index.endpointsAt(ip).find((e) => e.kind === "workload");
  if (wep) return { kind: "endpoint", endpoint: wep };
  const node = index.model.nodes.find((n) => n.ips.some((x) => sameIp(x, ip)));
  if (node) return { kind: "host", node: node.name };
  const hep = index.endpointsAt(ip).find((e) => e.kind === "host");
  if (hep) return { kind: "host", node: hep.node };
  return { kind: "ip", ip };
}

function nodeOf(end: FlowEnd): string | undefined {
  if (end.kind === "endpoint") return end.endpoint.node;
  if (end.kind === "host") return end.node;
  return undefined;
}

function addressOf(index: PolicyIndex, end: FlowEnd): IpAddress {
  if (end.kind === "ip") return end.ip;
  if (end.kind === "endpoint") {
    const ip = end.endpoint.ips[0];
    if (!ip) throw new UnsupportedError(`endpoint ${end.endpoint.id} has no address yet`);
    return ip;
  }
  const ip = index.model.nodes.find((n) => n.name === end.node)?.ips[0];
  if (!ip) throw new UnsupportedError(`node ${end.node} has no address`);
  return ip;
}

/**
 * The host endpoint that governs a node's traffic to and from the network: one naming an interface or
 * carrying the node's address (lowest name first, as Felix picks), else the node's all-interfaces (`*`) one.
 */
export function uplinkHostEndpoint(index: PolicyIndex, node: string): Endpoint | undefined {
  const heps = index.hostEndpointsByNode.get(node) ?? [];
  if (heps.length === 0) return undefined;
  const nodeIps = index.model.nodes.find((n) => n.name === node)?.ips ?? [];
  const specific = heps
    .filter(
      (h) =>
        (h.interfaceName && h.interfaceName !== "*") ||
        (!h.interfaceName && h.ips.some((ip) => nodeIps.some((n) => sameIp(n, ip)))),
    )
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return specific[0] ?? heps.find((h) => h.interfaceName === "*");
}

/** The service (and port) a destination address and port reach, and the node doing the DNAT for node ports. */
function serviceAt(
  index: PolicyIndex,
  to: FlowEnd,
  dst: IpAddress,
  protocol: number,
  port: number | undefined,
): { service: Service; port: ServicePort; viaNode?: string } | undefined {
  // A pod's address is never a service address: pod-to-pod flows (the whole matrix) skip the scan.
  if (port === undefined || to.kind === "endpoint") return undefined;
  for (const service of index.model.services) {
    for (const p of service.ports) {
      if (p.protocol !== protocol) continue;
      const byAddress = [...service.clusterIPs, ...service.externalIPs].some((ip) => sameIp(ip, dst));
      if (byAddress && p.port === port) return { service, port: p };
      if (to.kind === "host" && p.nodePort === port) return { service, port: p, viaNode: to.node };
    }
  }
  return undefined;
}

interface Leg {
  checks: FlowCheck[];
  nat: string[];
}

export function evaluateFlow(index: PolicyIndex, q: FlowQuery, explain = true): FlowResult {
  const srcIp = addressOf(index, q.from);
  let to = q.to;
  if (to.kind === "ip") to = placeOf(index, to.ip);
  const origDst = addressOf(index, to);
  const from = q.from.kind === "ip" ? placeOf(index, q.from.ip) : q.from;
  const packet0: Packet = {
    protocol: q.protocol,
    src: srcIp,
    dst: origDst,
    ...(q.port !== undefined ? { dstPort: q.port } : {}),
    srcPort: q.srcPort ?? EPHEMERAL_PORT,
    ...(q.icmpType !== undefined ? { icmpType: q.icmpType } : {}),
    ...(q.icmpCode !== undefined ? { icmpCode: q.icmpCode } : {}),
  };
  const hit = serviceAt(index, to, origDst, q.protocol, q.port);
  if (!hit) {
    const path = walk(index, from, to, packet0, undefined, explain);
    return { allowed: path.allowed, paths: [path] };
  }
  const { service, port, viaNode } = hit;
  if (from.kind === "ip" && !viaNode)
    throw new UnsupportedError(
      "cluster IPs reached from outside the cluster (that needs service advertisement)",
    );
  let backends = port.backends;
  if (viaNode && service.externalLocal)
    backends = backends.filter((b) => nodeOf(placeOf(index, b.ip)) === viaNode);
  const label = `${service.namespace}/${service.name}${port.name ? `:${port.name}` : ""}`;
  if (backends.length === 0) return { service: label, allowed: false, paths: [] };
  const paths = backends.map((b) => {
    const path = walk(
      index,
      from,
      placeOf(index, b.ip),
      packet0,
      { viaNode, backend: b, service, explain },
      explain,
    );
    path.backend = `${formatIp(b.ip)}:${b.port}`;
    return path;
  });
  return { service: label, allowed: paths.every((p) => p.allowed), paths };
}

function check(
  index: PolicyIndex,
  leg: Leg,
  node: string,
  endpoint: Endpoint,
  direction: Direction,
  stage: Stage,
  packet: Packet,
  explain: boolean,
): Decision {
  const d = evaluateAt(index, endpoint, direction, stage, packet, explain);
  // The decision becomes the check; names and addresses are only rendered when an explanation is wanted.
  const c = d as FlowCheck;
  c.node = node;
  c.subject = "";
  c.src = "";
  c.dst = "";
  if (explain) {
    c.subject =
      endpoint.kind === "workload"
        ? `${endpoint.namespace}/${endpoint.pod ?? endpoint.name}`
        : `hostendpoint ${endpoint.name}`;
    c.src = `${formatIp(packet.src)}${packet.srcPort !== undefined ? `:${packet.srcPort}` : ""}`;
    c.dst = `${formatIp(packet.dst)}${packet.dstPort !== undefined ? `:${packet.dstPort}` : ""}`;
  }
  leg.checks.push(c);
  return d;
}

function walk(
  index: PolicyIndex,
  from: FlowEnd,
  to: FlowEnd,
  packet0: Packet,
  dnat:
    | {
        viaNode: string | undefined;
        backend: { ip: IpAddress; port: number };
        service: Service;
        explain: boolean;
      }
    | undefined,
  explain: boolean,
): FlowPath {
  const leg: Leg = { checks: [], nat: [] };
  const done = (allowed: boolean): FlowPath => ({ nat: leg.nat, checks: leg.checks, allowed });
  const srcNode = nodeOf(from);
  // Cluster IPs are translated on the source's node before its filter chains run; node ports where they arrive.
  const dnatNode = dnat ? (dnat.viaNode ?? srcNode) : undefined;
  const translated = (p: Packet): Packet =>
    dnat ? { ...p, dst: dnat.backend.ip, dstPort: dnat.backend.port } : p;
  let packet = packet0;
  if (dnat && dnatNode === srcNode) {
    packet = translated(packet);
    leg.nat.push(
      `DNAT ${formatIp(packet0.dst)}:${packet0.dstPort} -> ${formatIp(packet.dst)}:${packet.dstPort} on ${srcNode}`,
    );
  }
  const dstNode = nodeOf(to);
  const nextNode = dnat && dnatNode !== srcNode ? dnatNode : dstNode;

  // Leaving the source.
  if (from.kind === "endpoint") {
    if (
      check(index, leg, from.endpoint.node, from.endpoint, "egress", "workload", packet, explain).verdict ===
      "deny"
    )
      return done(false);
    if (to.kind === "host" && nextNode === srcNode && !dnat) {
      const action = index.model.host.defaultEndpointToHostAction;
      leg.checks.push({
        stage: "host",
        direction: "ingress",
        endpoint: `host:${srcNode}`,
        verdict: action === "Drop" ? "deny" : "allow",
        reason: `workload to its own host: DefaultEndpointToHostAction ${action}`,
        tiers: [],
        profiles: [],
        node: srcNode!,
        subject: `host ${srcNode}`,
        src: formatIp(packet.src),
        dst: formatIp(packet.dst),
      });
      return done(action !== "Drop");
    }
    if (nextNode !== srcNode) {
      const hep = uplinkHostEndpoint(index, srcNode!);
      if (hep && check(index, leg, srcNode!, hep, "egress", "forward", packet, explain).verdict === "deny")
        return done(false);
    }
  } else if (from.kind === "host") {
    const hep = uplinkHostEndpoint(index, from.node);
    if (hep && check(index, leg, from.node, hep, "egress", "host", packet, explain).verdict === "deny")
      return done(false);
  }

  // Arriving at another node from the network (or from outside the cluster).
  let arrival = nextNode;
  if (arrival !== undefined && arrival !== srcNode) {
    const hep = uplinkHostEndpoint(index, arrival);
    let preDnatAllowed = false;
    if (hep) {
      const d = check(index, leg, arrival, hep, "ingress", "pre-dnat", packet, explain);
      if (d.verdict === "deny") return done(false);
      preDnatAllowed = d.verdict === "allow";
    }
    if (dnat && dnatNode === arrival) {
      const before = packet;
      packet = translated(packet);
      leg.nat.push(
        `DNAT ${formatIp(before.dst)}:${before.dstPort} -> ${formatIp(packet.dst)}:${packet.dstPort} on ${arrival}`,
      );
    }
    const finalNode = nodeOf(to);
    if (to.kind === "host" && finalNode === arrival) {
      if (
        hep &&
        !preDnatAllowed &&
        check(index, leg, arrival, hep, "ingress", "host", packet, explain).verdict === "deny"
      )
        return done(false);
      return done(true);
    }
    if (hep && check(index, leg, arrival, hep, "ingress", "forward", packet, explain).verdict === "deny")
      return done(false);
    if (finalNode !== arrival) {
      // kube-proxy masquerades node-port traffic (externalTrafficPolicy Cluster) as it leaves for another node.
      if (hep && check(index, leg, arrival, hep, "egress", "forward", packet, explain).verdict === "deny")
        return done(false);
      if (dnat?.viaNode === arrival && !dnat.service.externalLocal) {
        const nodeIp = index.model.nodes.find((n) => n.name === arrival)?.ips[0];
        if (nodeIp) {
          leg.nat.push(`SNAT ${formatIp(packet.src)} -> ${formatIp(nodeIp)} on ${arrival} (masquerade)`);
          packet = { ...packet, src: nodeIp };
        }
      }
      if (finalNode === undefined) return done(true);
      arrival = finalNode;
      const hep2 = uplinkHostEndpoint(index, finalNode);
      if (hep2) {
        const d2 = check(index, leg, finalNode, hep2, "ingress", "pre-dnat", packet, explain);
        if (d2.verdict === "deny") return done(false);
        if (to.kind === "host") {
          if (
            d2.verdict !== "allow" &&
            check(index, leg, finalNode, hep2, "ingress", "host", packet, explain).verdict === "deny"
          )
            return done(false);
          return done(true);
        }
        if (check(index, leg, finalNode, hep2, "ingress", "forward", packet, explain).verdict === "deny")
          return done(false);
      } else if (to.kind === "host") return done(true);
    }
  } else if (to.kind === "host" && from.kind !== "endpoint") {
    // Host to itself: nothing Calico governs.
    return done(true);
  }

  // Into the destination pod (its ingress policy runs in FORWARD, before any masquerade).
  if (to.kind === "endpoint") {
    if (
      check(index, leg, to.endpoint.node, to.endpoint, "ingress", "workload", packet, explain).verdict ===
      "deny"
    )
      return done(false);
  }
  return done(true);
}
