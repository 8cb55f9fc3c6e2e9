export * from "./bgp/index.ts";
export { clusterDnsZone, type DnsRecord, podResolvConf, resolveInZone } from "./cluster-dns.ts";
