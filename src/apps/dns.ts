import type { AppListener } from "./app.ts";

/**
 * The cluster DNS server. Queries and answers travel as text (`A <name>` → `A <name> <ip>...` or
 * `NXDOMAIN <name>`) rather than DNS wire format: the packets still cross netfilter, NAT and policy as UDP 53.
 */
export function dnsServer(lookup: (name: string) => string[] | undefined): AppListener[] {
  const handle = (payload: string) => {
    const m = /^A (\S+)$/.exec(payload.trim());
    if (!m) return "FORMERR";
    const ips = lookup(m[1]!);
    return ips?.length ? `A ${m[1]} ${ips.join(" ")}` : `NXDOMAIN ${m[1]}`;
  };
  return [
    { protocol: "udp", port: 53, handle: (req) => handle(req.payload) },
    { protocol: "tcp", port: 53, handle: (req) => handle(req.payload) },
  ];
}

export function dnsQuery(name: string): string {
  return `A ${name}`;
}

export function parseDnsAnswer(text: string): string[] | undefined {
  const m = /^A (\S+) (.+)$/.exec(text);
  return m ? m[2]!.split(" ") : undefined;
}
