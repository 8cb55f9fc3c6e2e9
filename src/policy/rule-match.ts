/**
 * Does a rule match a packet? Mirrors what Felix renders into iptables: protocol, ICMP, CIDRs, IP sets built
 * from selectors (the addresses of every endpoint and network set a selector matches), named-port IP sets,
 * and port ranges. When it does not match, the reason names the first criterion that failed.
 */
import { type Cidr, cidrContainsIp, formatCidr, formatIp, type IpAddress } from "../net/index.ts";
import type { Selector } from "../selector/index.ts";
import type { EntityMatch, PolicyRule, PortSpec } from "./model.ts";
import { protocolName, SCTP, TCP, UDP } from "./protocols.ts";

export interface Packet {
  protocol: number;
  src: IpAddress;
  dst: IpAddress;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** Something an address belongs to, as far as selectors are concerned: an endpoint or a network set. */
export interface Identity {
  id: string;
  labels: Readonly<Record<string, string>>;
  /** Named ports, for endpoints. */
  ports?: readonly { name: string; protocol: number; port: number }[];
}

/** Answers "which labelled things own this address", and caches selector results per identity. */
export interface IdentityLookup {
  identitiesOf(ip: IpAddress): readonly Identity[];
  /** Backends of the named service, for `services` matches. */
  serviceBackends(
    namespace: string,
    name: string,
  ): readonly { ip: IpAddress; port: number; protocol: number }[];
  selects(selector: Selector, identity: Identity): boolean;
}

export interface RuleMatch {
  matched: boolean;
  /** Why not, when it did not match and an explanation was asked for. */
  reason?: string;
}

const MATCHED: RuleMatch = { matched: true };
const NO: RuleMatch = { matched: false };

const portsText = (ports: PortSpec[]) =>
  ports
    .map((p) => (p.kind === "name" ? p.name : p.min === p.max ? String(p.min) : `${p.min}:${p.max}`))
    .join(",");
const netsText = (nets: Cidr[]) => nets.map(formatCidr).join(",");

function anyNet(nets: Cidr[], ip: IpAddress): boolean {
  for (const n of nets) if (cidrContainsIp(n, ip)) return true;
  return false;
}

function selected(lookup: IdentityLookup, selector: Selector, ip: IpAddress): boolean {
  for (const id of lookup.identitiesOf(ip)) if (lookup.selects(selector, id)) return true;
  return false;
}

/** Numeric ports match directly; a named port matches an endpoint at this address (selected by the rule) that names it. */
function portMatches(
  specs: PortSpec[],
  port: number | undefined,
  protocol: number,
  ip: IpAddress,
  selector: Selector | undefined,
  lookup: IdentityLookup,
): boolean {
  if (port === undefined) return false;
  for (const s of specs) {
    if (s.kind === "range") {
      if (port >= s.min && port <= s.max) return true;
      continue;
    }
    for (const id of lookup.identitiesOf(ip)) {
      if (selector && !lookup.selects(selector, id)) continue;
      for (const np of id.ports ?? [])
        if (np.name === s.name && np.protocol === protocol && np.port === port) return true;
    }
  }
  return false;
}

function entityMatch(
  e: EntityMatch,
  side: "source" | "destination",
  packet: Packet,
  lookup: IdentityLookup,
  explain: boolean,
): RuleMatch {
  const ip = side === "source" ? packet.src : packet.dst;
  const port = side === "source" ? packet.srcPort : packet.dstPort;
  const addr = explain ? formatIp(ip) : "";
  if (e.nets && !anyNet(e.nets, ip))
    return explain ? { matched: false, reason: `${side} ${addr} is not in nets ${netsText(e.nets)}` } : NO;
  if (e.notNets && anyNet(e.notNets, ip))
    return explain ? { matched: false, reason: `${side} ${addr} is in notNets ${netsText(e.notNets)}` } : NO;
  if (e.selector && !selected(lookup, e.selector, ip))
    return explain
      ? { matched: false, reason: `${side} ${addr} is not selected by ${side} selector ${e.selector}` }
      : NO;
  if (e.notSelector && selected(lookup, e.notSelector, ip))
    return explain
      ? { matched: false, reason: `${side} ${addr} is selected by notSelector ${e.notSelector}` }
      : NO;
  if (e.ports && !portMatches(e.ports, port, packet.protocol, ip, e.selector, lookup))
    return explain
      ? { matched: false, reason: `${side} port ${port ?? "-"} is not in ports ${portsText(e.ports)}` }
      : NO;
  if (e.notPorts && portMatches(e.notPorts, port, packet.protocol, ip, e.selector, lookup))
    return explain
      ? { matched: false, reason: `${side} port ${port} is in notPorts ${portsText(e.notPorts)}` }
      : NO;
  if (e.services) {
    const backends = lookup.serviceBackends(e.services.namespace, e.services.name);
    const hit = backends.some(
      (b) =>
        b.ip.family === ip.family &&
        b.ip.value === ip.value &&
        (side === "source" || (b.port === port && b.protocol === packet.protocol)),
    );
    if (!hit)
      return explain
        ? {
            matched: false,
            reason: `${side} ${addr}:${port ?? "-"} is not an endpoint of service ${e.services.namespace}/${e.services.name}`,
          }
        : NO;
  }
  return MATCHED;
}

function icmpMatches(m: { type?: number; code?: number }, packet: Packet): boolean {
  if (m.type !== undefined && packet.icmpType !== m.type) return false;
  if (m.code !== undefined && packet.icmpCode !== m.code) return false;
  return true;
}

export function ruleMatches(
  rule: PolicyRule,
  packet: Packet,
  lookup: IdentityLookup,
  explain: boolean,
): RuleMatch {
  const proto = packet.protocol;
  if (rule.http)
    return explain
      ? { matched: false, reason: "HTTP matches need application-layer policy, which is not supported yet" }
      : NO;
  if (rule.ipVersion && rule.ipVersion !== packet.src.family)
    return explain
      ? { matched: false, reason: `packet is IPv${packet.src.family}, rule is IPv${rule.ipVersion}` }
      : NO;
  if (rule.protocol !== undefined && rule.protocol !== proto)
    return explain
      ? { matched: false, reason: `protocol ${protocolName(proto)} is not ${protocolName(rule.protocol)}` }
      : NO;
  if (rule.notProtocol !== undefined && rule.notProtocol === proto)
    return explain ? { matched: false, reason: `protocol is ${protocolName(proto)} (notProtocol)` } : NO;
  if (rule.icmp && !icmpMatches(rule.icmp, packet))
    return explain ? { matched: false, reason: "ICMP type/code do not match" } : NO;
  if (rule.notICMP && icmpMatches(rule.notICMP, packet))
    return explain ? { matched: false, reason: "ICMP type/code match notICMP" } : NO;
  // Ports only exist for TCP, UDP and SCTP; the validator makes port rules name one of them.
  if ((rule.source.ports || rule.destination.ports) && proto !== TCP && proto !== UDP && proto !== SCTP)
    return explain ? { matched: false, reason: `protocol ${protocolName(proto)} has no ports` } : NO;
  const s = entityMatch(rule.source, "source", packet, lookup, explain);
  if (!s.matched) return s;
  return entityMatch(rule.destination, "destination", packet, lookup, explain);
}
