import type { ApiObject } from "../api/index.ts";
import { parseIp } from "../net/index.ts";

/** One answer of the cluster DNS zone (the records CoreDNS's kubernetes plugin serves). */
export interface DnsRecord {
  name: string;
  type: "A" | "AAAA" | "CNAME" | "SRV" | "PTR";
  ttl: number;
  data: string;
}

const TTL = 5;

function fqdn(name: string): string {
  return name.endsWith(".") ? name.toLowerCase() : `${name.toLowerCase()}.`;
}

function addressRecord(name: string, ip: string): DnsRecord {
  return { name, type: ip.includes(":") ? "AAAA" : "A", ttl: TTL, data: ip };
}

function reverseName(ip: string): string | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  if (parsed.family === 4) return `${ip.split(".").reverse().join(".")}.in-addr.arpa.`;
  const hex = parsed.value.toString(16).padStart(32, "0");
  return `${[...hex].reverse().join(".")}.ip6.arpa.`;
}

/**
 * The cluster zone, as CoreDNS's kubernetes plugin answers it: `<svc>.<ns>.svc.<domain>` (the cluster IP, or
 * every ready endpoint of a headless service, and `<hostname>.<svc>…` for endpoints with a hostname),
 * ExternalName CNAMEs, SRV records for named ports, `<a-b-c-d>.<ns>.pod.<domain>` for pods (`pods insecure`)
 * and PTR records for cluster IPs. Keys are lower-case FQDNs with the trailing dot.
 */
export function clusterDnsZone(input: {
  domain: string;
  services: ApiObject[];
  endpointSlices: ApiObject[];
  pods: ApiObject[];
}): Map<string, DnsRecord[]> {
  const zone = new Map<string, DnsRecord[]>();
  const add = (r: DnsRecord) => {
    const list = zone.get(r.name);
    if (list) list.push(r);
    else zone.set(r.name, [r]);
  };
  const domain = fqdn(input.domain);
  const slicesBySvc = new Map<string, ApiObject[]>();
  for (const s of input.endpointSlices) {
    const key = `${s.metadata.namespace}/${s.metadata.labels?.["kubernetes.io/service-name"]}`;
    slicesBySvc.set(key, [...(slicesBySvc.get(key) ?? []), s]);
  }
  for (const svc of input.services) {
    const ns = svc.metadata.namespace!;
    const name = `${svc.metadata.name}.${ns}.svc.${domain}`;
    const spec = svc.spec ?? {};
    if (spec.type === "ExternalName") {
      add({ name, type: "CNAME", ttl: TTL, data: fqdn(spec.externalName ?? "") });
      continue;
    }
    const headless = spec.clusterIP === "None";
    if (!headless) {
      for (const ip of (spec.clusterIPs as string[] | undefined) ?? [spec.clusterIP]) {
        if (!ip) continue;
        add(addressRecord(name, ip));
        const ptr = reverseName(ip);
        if (ptr) add({ name: ptr, type: "PTR", ttl: TTL, data: name });
      }
    } else {
      for (const slice of slicesBySvc.get(`${ns}/${svc.metadata.name}`) ?? [])
        for (const e of (slice.endpoints as {
          addresses: string[];
          hostname?: string;
          conditions?: { ready?: boolean };
        }[]) ?? []) {
          if (e.conditions?.ready === false) continue;
          for (const ip of e.addresses) {
            add(addressRecord(name, ip));
            if (e.hostname) add(addressRecord(`${e.hostname}.${name}`, ip));
          }
        }
    }
    for (const p of (spec.ports as { name?: string; port: number; protocol?: string }[] | undefined) ?? []) {
      if (!p.name) continue;
      add({
        name: `_${p.name}._${(p.protocol ?? "TCP").toLowerCase()}.${name}`,
        type: "SRV",
        ttl: TTL,
        data: `0 100 ${p.port} ${name}`,
      });
    }
  }
  for (const pod of input.pods) {
    const ip: string | undefined = pod.status?.podIP;
    if (!ip || pod.spec?.hostNetwork) continue;
    const label = ip.includes(":") ? ip.replaceAll(":", "-") : ip.replaceAll(".", "-");
    add(addressRecord(`${label}.${pod.metadata.namespace}.pod.${domain}`, ip));
  }
  return zone;
}

/** A pod's /etc/resolv.conf under dnsPolicy ClusterFirst: its namespace's search path, ndots 5. */
export function podResolvConf(namespace: string, dnsServiceIP: string, domain: string): string {
  return `search ${namespace}.svc.${domain} svc.${domain} ${domain}\nnameserver ${dnsServiceIP}\noptions ndots:5\n`;
}

/**
 * Resolves `name` the way a pod's resolver does: with fewer than `ndots` dots it tries each search suffix
 * first, then the name as given. Returns the first records of `type` found, following one CNAME.
 */
export function resolveInZone(
  zone: Map<string, DnsRecord[]>,
  name: string,
  type: DnsRecord["type"],
  search: string[] = [],
  ndots = 5,
): { name: string; records: DnsRecord[] } | undefined {
  const dots = name.replace(/\.$/, "").split(".").length - 1;
  const absolute = name.endsWith(".");
  const candidates = absolute
    ? [name]
    : dots < ndots
      ? [...search.map((s) => `${name}.${s}`), name]
      : [name, ...search.map((s) => `${name}.${s}`)];
  for (const candidate of candidates) {
    const key = fqdn(candidate);
    const records = zone.get(key) ?? [];
    const direct = records.filter((r) => r.type === type);
    if (direct.length > 0) return { name: key, records: direct };
    const cname = records.find((r) => r.type === "CNAME");
    if (cname)
      return { name: key, records: [cname, ...(zone.get(cname.data) ?? []).filter((r) => r.type === type)] };
  }
  return undefined;
}
