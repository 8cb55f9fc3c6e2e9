/**
 * A connection from one place to another, followed through every point where Calico evaluates policy:
 * the source pod's egress, the host endpoints it leaves and enters by (pre-DNAT, forward, host), kube-proxy's
 * DNAT to each service backend and its masquerade, and the destination's ingress. One path per backend.
 */

import { UnsupportedError } from "../lib/index.ts";
import { formatIp, type IpAddress } from "../net/index.ts";
import { type Decision, evaluateAt, policyInStage, type Stage } from "./evaluate.ts";
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
function uplinkHostEndpoint(index: PolicyIndex, node: string): Endpoint | undefined {
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
  return specific[0] ?? allInterfacesHostEndpoint(index, node);
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

/** The node's all-interfaces (`*`) host endpoint: it governs traffic on interfaces no specific one claims. */
function allInterfacesHostEndpoint(index: PolicyIndex, node: string): Endpoint | undefined {
  return (index.hostEndpointsByNode.get(node) ?? [])
    .filter((h) => h.interfaceName === "*")
    .sort((a, b) => (a.name < b.name ? -1 : 1))[0];
}

/** Felix renders pre-DNAT (mangle) and untracked (raw) chains only for host endpoints such policy selects. */
function hasStage(
  index: PolicyIndex,
  hep: Endpoint,
  stage: "pre-dnat" | "untracked",
  dir: Direction,
): boolean {
  return index.tiersFor(hep, dir, (p) => policyInStage(stage, p)).length > 0;
}

/**
 * Follows Felix's chains (static.go, dispatch.go, endpoint_mgr.go) along one path:
 * - a packet arriving on an interface meets raw (untracked policy, named host endpoints only), mangle (pre-DNAT
 *   policy), then INPUT (`cali-fh-`, unless raw or mangle accepted it) or FORWARD (`cali-fhfw-` unless accepted,
 *   the pods' `cali-fw-`/`cali-tw-`, then `cali-thfw-` of the host endpoint it leaves by);
 * - a pod's packet arrives on its cali interface, which only the `*` host endpoint governs;
 * - a host's own packet meets raw (untracked egress), then `cali-th-` — except towards its local pods, which
 *   Felix never polices (`cali-OUTPUT` returns for `-o cali+`).
 */
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
  const run = (node: string, hep: Endpoint, dir: Direction, stage: Stage, p: Packet) =>
    check(index, leg, node, hep, dir, stage, p, explain);
  const srcNode = nodeOf(from);
  // Cluster IPs are translated on the source's node; node ports where they arrive.
  const dnatNode = dnat ? (dnat.viaNode ?? srcNode) : undefined;
  const dstNode = nodeOf(to);
  let packet = packet0;
  const translate = (node: string) => {
    if (!dnat || dnatNode !== node) return;
    const before = packet;
    packet = { ...packet, dst: dnat.backend.ip, dstPort: dnat.backend.port };
    leg.nat.push(
      `DNAT ${formatIp(before.dst)}:${before.dstPort} -> ${formatIp(packet.dst)}:${packet.dstPort} on ${node}`,
    );
  };
  // After DNAT (if any) the packet heads for `dstNode`; before it, for the node doing the DNAT.
  const nextNode = dnat && dnatNode !== srcNode ? dnatNode : dstNode;

  /** FORWARD on `node` after arriving: forward ingress unless accepted, the pod, then forward egress. */
  const forwardOn = (
    node: string,
    inHep: Endpoint | undefined,
    accepted: boolean,
    leaving: boolean,
  ): "deny" | "pass" => {
    if (inHep && !accepted && run(node, inHep, "ingress", "forward", packet).verdict === "deny")
      return "deny";
    if (!leaving) {
      if (to.kind === "endpoint" && run(node, to.endpoint, "ingress", "workload", packet).verdict === "deny")
        return "deny";
      const star = allInterfacesHostEndpoint(index, node);
      if (star && run(node, star, "egress", "forward", packet).verdict === "deny") return "deny";
      return "pass";
    }
    const out = uplinkHostEndpoint(index, node);
    if (out && run(node, out, "egress", "forward", packet).verdict === "deny") return "deny";
    return "pass";
  };

  /** Raw and mangle PREROUTING for a packet arriving on `node` through `hep`: dropped, accepted, or neither. */
  const prerouting = (node: string, hep: Endpoint | undefined, untracked: boolean) => {
    let accepted = false;
    if (hep && untracked && hep.interfaceName !== "*" && hasStage(index, hep, "untracked", "ingress")) {
      const d = run(node, hep, "ingress", "untracked", packet);
      if (d.verdict === "deny") return "deny";
      accepted = d.verdict === "allow" && !d.failsafe;
    }
    if (hep && !accepted && hasStage(index, hep, "pre-dnat", "ingress")) {
      const d = run(node, hep, "ingress", "pre-dnat", packet);
      if (d.verdict === "deny") return "deny";
      // A failsafe ACCEPT in mangle sets no mark: the filter chains still run.
      accepted = d.verdict === "allow" && !d.failsafe;
    }
    return accepted ? "accepted" : "none";
  };

  /** Arriving at `node` from the network (through its uplink) and on from there. */
  const arrive = (node: string): FlowPath => {
    const hep = uplinkHostEndpoint(index, node);
    const pre = prerouting(node, hep, true);
    if (pre === "deny") return done(false);
    translate(node);
    const finalNode = nodeOf(to);
    if (to.kind === "host" && finalNode === node) {
      if (hep && pre !== "accepted" && run(node, hep, "ingress", "host", packet).verdict === "deny")
        return done(false);
      return done(true);
    }
    const leaving = finalNode !== node;
    if (forwardOn(node, hep, pre === "accepted", leaving) === "deny") return done(false);
    if (!leaving || finalNode === undefined) return done(true);
    // kube-proxy masquerades node-port traffic (externalTrafficPolicy Cluster) as it leaves for another node;
    // Felix's eBPF dataplane tunnels the original packet instead, so the backend's policy sees the client.
    if (dnat?.viaNode === node && !dnat.service.externalLocal && index.model.host.bpfEnabled)
      leg.nat.push(`eBPF NodePort tunnel from ${node} to ${finalNode} (client address kept)`);
    else if (dnat?.viaNode === node && !dnat.service.externalLocal) {
      const nodeIp = index.model.nodes.find((n) => n.name === node)?.ips[0];
      if (nodeIp) {
        leg.nat.push(`SNAT ${formatIp(packet.src)} -> ${formatIp(nodeIp)} on ${node} (masquerade)`);
        packet = { ...packet, src: nodeIp };
      }
    }
    return arrive(finalNode);
  };

  if (from.kind === "endpoint") {
    const s = from.endpoint.node;
    // The pod's packet arrives on its cali interface: mangle sees it through the `*` host endpoint only.
    const star = allInterfacesHostEndpoint(index, s);
    const pre = prerouting(s, star, false);
    if (pre === "deny") return done(false);
    translate(s);
    if (to.kind === "host" && nextNode === s) {
      if (run(s, from.endpoint, "egress", "workload", packet).verdict === "deny") return done(false);
      const action = index.model.host.defaultEndpointToHostAction;
      leg.checks.push({
        stage: "host",
        direction: "ingress",
        endpoint: `host:${s}`,
        verdict: action === "Drop" ? "deny" : "allow",
        reason: `workload to its own host: DefaultEndpointToHostAction ${action}`,
        tiers: [],
        profiles: [],
        node: s,
        subject: `host ${s}`,
        src: formatIp(packet.src),
        dst: formatIp(packet.dst),
      });
      return done(action !== "Drop");
    }
    // FORWARD: the `*` endpoint's forward ingress (unless mangle accepted), the pod's egress, then on.
    if (star && pre !== "accepted" && run(s, star, "ingress", "forward", packet).verdict === "deny")
      return done(false);
    if (run(s, from.endpoint, "egress", "workload", packet).verdict === "deny") return done(false);
    const leaving = nextNode !== s;
    if (forwardOn(s, undefined, true, leaving) === "deny") return done(false);
    if (!leaving || nextNode === undefined) return done(true);
    return arrive(nextNode);
  }

  if (from.kind === "host") {
    const s = from.node;
    translate(s);
    const finalNode = nodeOf(to);
    // Felix does not police a host's traffic to its own pods.
    if (to.kind === "endpoint" && finalNode === s && nextNode === s) return done(true);
    if (to.kind === "host" && finalNode === s && nextNode === s) {
      // To itself, over lo: only the `*` host endpoint governs lo.
      const star = allInterfacesHostEndpoint(index, s);
      if (!star) return done(true);
      if (run(s, star, "egress", "host", packet).verdict === "deny") return done(false);
      const pre = prerouting(s, star, false);
      if (pre === "deny") return done(false);
      if (pre !== "accepted" && run(s, star, "ingress", "host", packet).verdict === "deny")
        return done(false);
      return done(true);
    }
    const hep = uplinkHostEndpoint(index, s);
    let accepted = false;
    if (hep && hep.interfaceName !== "*" && hasStage(index, hep, "untracked", "egress")) {
      const d = run(s, hep, "egress", "untracked", packet);
      if (d.verdict === "deny") return done(false);
      accepted = d.verdict === "allow" && !d.failsafe;
    }
    if (hep && !accepted && run(s, hep, "egress", "host", packet).verdict === "deny") return done(false);
    if (nextNode === undefined) return done(true);
    return arrive(nextNode);
  }

  // From outside the cluster.
  if (nextNode === undefined) return done(true);
  return arrive(nextNode);
}
