import type { ApiObject, KindDef } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { cidrContainsIp, formatIp, parseCidr, parseIp } from "../net/index.ts";
import type { AdmissionPlugin, ResourceClient } from "../store/index.ts";
import { kinds, readTopology } from "./topology.ts";

/** The upstream mitigation's name: kubernetes-sigs/externalip-webhook registers itself under it. */
const EXTERNAL_IP_WEBHOOK = "validate-externalip.webhook.svc";

/**
 * CVE-2020-8554: whoever may create a Service may set `spec.externalIPs` to any address, and kube-proxy then
 * captures that address's traffic from every pod and node (a man in the middle for 1.1.1.1, a node or another
 * service). This admission step is the externalip-webhook's rule with its message: an external IP must lie in an
 * allowed CIDR. The allowed CIDRs are the default BGPConfiguration's `spec.serviceExternalIPs`, the ranges Calico
 * advertises as the cluster's service external IPs: the one place a Calico cluster already declares which external
 * addresses its services own. An unset list allows none (DenyServiceExternalIPs). Beyond the webhook, an external IP
 * may not be a host's address or a service's cluster IP, even inside an allowed range.
 *
 * On whenever a cluster is up (a Topology exists). Only addresses a write adds are checked, so an address admitted
 * before the allowed ranges shrank does not wedge later updates of its Service.
 */
export const externalIPAdmission: AdmissionPlugin = {
  async admit(def: KindDef, o: ApiObject, existing: ApiObject | undefined, client: ResourceClient) {
    if (def !== kinds.Service) return;
    const wanted: unknown[] = Array.isArray(o.spec?.externalIPs) ? o.spec.externalIPs : [];
    const before = new Set<unknown>(existing?.spec?.externalIPs ?? []);
    const added = wanted.filter((ip) => !before.has(ip));
    if (added.length === 0) return;
    const topology = await readTopology(client);
    if (!topology) return;
    const bgp = await client.get(kinds.BGPConfiguration, "default");
    const allowed = ((bgp?.spec?.serviceExternalIPs as { cidr?: string }[] | undefined) ?? [])
      .map((e) => parseCidr(String(e.cidr ?? "")))
      .filter((c) => c !== undefined);
    const hosts = new Map(topology.hosts.map((h) => [canonical(h.ip), h.name]));
    const services = new Map<string, string>();
    for (const s of await client.list(kinds.Service)) {
      if (s.metadata.namespace === o.metadata.namespace && s.metadata.name === o.metadata.name) continue;
      for (const ip of [s.spec?.clusterIP, ...(s.spec?.clusterIPs ?? [])])
        if (typeof ip === "string" && ip !== "None")
          services.set(canonical(ip), `${s.metadata.namespace}/${s.metadata.name}`);
    }
    for (const ip of [o.spec?.clusterIP, ...(o.spec?.clusterIPs ?? [])])
      if (typeof ip === "string" && ip !== "None")
        services.set(canonical(ip), `${o.metadata.namespace}/${o.metadata.name}`);
    const problems: string[] = [];
    for (const raw of added) {
      const text = String(raw);
      const ip = parseIp(text);
      const invalid = (reason: string) =>
        problems.push(`spec.externalIPs: Invalid value: ${JSON.stringify(text)}: ${reason}`);
      if (!ip) invalid("externalIP specified is not valid");
      else if (hosts.has(formatIp(ip)))
        invalid(`externalIP is the address of host ${hosts.get(formatIp(ip))}`);
      else if (services.has(formatIp(ip)))
        invalid(`externalIP is the cluster IP of service ${services.get(formatIp(ip))}`);
      else if (!allowed.some((c) => c.family === ip.family && cidrContainsIp(c, ip)))
        invalid("externalIP specified is not allowed to use");
    }
    if (problems.length > 0)
      throw new TortieError(
        "Invalid",
        `admission webhook "${EXTERNAL_IP_WEBHOOK}" denied the request: ${problems.join("; ")}`,
      );
  },
};

function canonical(text: string): string {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : text;
}
