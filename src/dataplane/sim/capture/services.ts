/**
 * Debian netbase's /etc/services entries for ports the labs use, by protocol: tcpdump prints ports by these
 * names (a single -n) and its filters accept them (`port http`).
 */
export const SERVICES: Record<"tcp" | "udp", Record<number, string>> = {
  tcp: {
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "domain",
    80: "http",
    179: "bgp",
    443: "https",
    3306: "mysql",
    5432: "postgresql",
    6379: "redis",
    8080: "http-alt",
  },
  udp: { 53: "domain", 123: "ntp", 443: "https" },
};

/** A service name's port, whichever protocol lists it (pcap-filter's `port NAME`). */
export function servicePort(name: string): number | undefined {
  for (const table of Object.values(SERVICES))
    for (const [port, service] of Object.entries(table)) if (service === name) return Number(port);
  return undefined;
}
