import type { AppListener } from "./app.ts";
import {
  DNS_TYPES,
  type DnsMessage,
  type DnsResource,
  decodeDnsMessage,
  encodeDnsMessage,
  RCODE,
} from "./dns-message.ts";

/** A record of the zone the server is authoritative for (the shape `calc.clusterDnsZone` produces). */
export interface ZoneRecord {
  name: string;
  type: keyof typeof DNS_TYPES;
  ttl: number;
  data: string;
}

export interface DnsZone {
  /** The zone's apex with the trailing dot, e.g. `cluster.local.`. */
  domain: string;
  records: Map<string, ZoneRecord[]>;
  /** SOA serial (CoreDNS uses the time of the last change). */
  serial: number;
}

const SOA_TTL = 30;

function soa(zone: DnsZone): DnsResource {
  return {
    name: zone.domain,
    type: DNS_TYPES.SOA,
    class: 1,
    ttl: SOA_TTL,
    data: `ns.dns.${zone.domain} hostmaster.${zone.domain} ${zone.serial} 7200 1800 86400 ${SOA_TTL}`,
  };
}

function inZone(name: string, zone: DnsZone): boolean {
  return (
    name === zone.domain ||
    name.endsWith(`.${zone.domain}`) ||
    name.endsWith(".in-addr.arpa.") ||
    name.endsWith(".ip6.arpa.")
  );
}

const toResource = (r: ZoneRecord): DnsResource => ({
  name: r.name,
  type: DNS_TYPES[r.type],
  class: 1,
  ttl: r.ttl,
  data: r.data,
});

/**
 * CoreDNS's answer with the kubernetes plugin: authoritative for the cluster domain and the reverse zones,
 * following CNAMEs inside the zone, SOA in the authority section for NXDOMAIN and NODATA. Names outside the
 * zone go to CoreDNS's `forward` plugin, and the sim has no upstream resolver: SERVFAIL, as CoreDNS answers
 * when its upstream is unreachable.
 */
export function answerDnsQuery(zone: DnsZone, query: DnsMessage): DnsMessage {
  const reply: DnsMessage = {
    ...query,
    response: true,
    authoritative: false,
    truncated: false,
    recursionAvailable: false,
    rcode: RCODE.NOERROR,
    answers: [],
    authority: [],
    additional: [],
  };
  const q = query.questions[0];
  if (query.opcode !== 0 || !q || query.questions.length !== 1) return { ...reply, rcode: RCODE.FORMERR };
  const name = q.name.toLowerCase();
  if (!inZone(name, zone)) return { ...reply, rcode: RCODE.SERVFAIL };
  reply.authoritative = true;
  let current = name;
  for (let depth = 0; depth < 8; depth++) {
    const records = zone.records.get(current) ?? [];
    const direct = records.filter((r) => DNS_TYPES[r.type] === q.type);
    if (direct.length > 0) {
      reply.answers.push(...direct.map(toResource));
      return reply;
    }
    const cname = records.find((r) => r.type === "CNAME");
    if (cname && q.type !== DNS_TYPES.CNAME) {
      reply.answers.push(toResource(cname));
      if (!inZone(cname.data, zone)) return reply;
      current = cname.data;
      continue;
    }
    const exists =
      records.length > 0 ||
      [...zone.records.keys()].some((k) => k.endsWith(`.${current}`)) ||
      current === zone.domain;
    if (!exists && reply.answers.length === 0) reply.rcode = RCODE.NXDOMAIN;
    reply.authority.push(soa(zone));
    return reply;
  }
  return reply;
}

/** The cluster DNS server on UDP and TCP 53 (TCP messages carry RFC 1035's two-byte length prefix). */
export function dnsServer(zone: () => DnsZone): AppListener[] {
  const answer = (payload: string): string | undefined => {
    try {
      return encodeDnsMessage(answerDnsQuery(zone(), decodeDnsMessage(payload)));
    } catch {
      return undefined; // CoreDNS drops what it cannot parse
    }
  };
  return [
    { protocol: "udp", port: 53, handle: (req) => answer(req.payload) },
    {
      protocol: "tcp",
      port: 53,
      handle: (req) => {
        const body = answer(req.payload.slice(2));
        if (body === undefined) return undefined;
        return String.fromCharCode(body.length >>> 8, body.length & 255) + body;
      },
    },
  ];
}
