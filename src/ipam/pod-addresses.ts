import type { ApiObject } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { type Cidr, formatIp, type IpFamily, parseCidr, parseIp } from "../net/index.ts";
import { type Ipam, partialFulfillmentError } from "./ipam.ts";
import { podHandleId } from "./names.ts";

const POOLS_ANNOTATION = {
  4: "cni.projectcalico.org/ipv4pools",
  6: "cni.projectcalico.org/ipv6pools",
} as const;
const IP_ADDRS = "cni.projectcalico.org/ipAddrs";
const IP_ADDRS_NO_IPAM = "cni.projectcalico.org/ipAddrsNoIpam";

export interface PodAddressRequest {
  pod: ApiObject;
  namespace: ApiObject;
  node: string;
  containerId: string;
  /** Which families the cluster assigns (the CNI config's assign_ipv4/assign_ipv6). Default: IPv4. */
  families?: IpFamily[];
  /** The allocation timestamp Calico records (Go's time.Time.String form). */
  timestamp?: string;
}

/**
 * The calico-ipam CNI step for one pod: `ipAddrs` pins addresses; otherwise the pod's `ipv4pools`/`ipv6pools`
 * annotation, else its namespace's, names the pools (by name or CIDR); otherwise IPAM picks pools by selector.
 * All addresses share the handle k8s-pod-network.<containerID>; on any failure they are all released again.
 */
export async function assignPodAddresses(
  ipam: Ipam,
  req: PodAddressRequest,
): Promise<{ handleId: string; ips: string[] }> {
  const handleId = podHandleId(req.containerId);
  const podAnn = req.pod.metadata.annotations ?? {};
  const nsAnn = req.namespace.metadata.annotations ?? {};
  const attrs: Record<string, string> = {
    namespace: req.pod.metadata.namespace ?? "default",
    node: req.node,
    pod: req.pod.metadata.name ?? "",
    timestamp: req.timestamp ?? goTimeString(new Date()),
  };
  if (podAnn[IP_ADDRS_NO_IPAM] !== undefined)
    throw new TortieError("Unsupported", `not supported yet: the ${IP_ADDRS_NO_IPAM} annotation`);
  // A retried ADD (the kubelet killed after the allocation, before the pod was marked Running) gets the
  // handle's addresses back; anything else the handle holds (a half-done earlier try) is released first.
  const held = await ipam.ipsByHandle(handleId);
  if (held !== undefined) {
    if (held.length > 0 && fitsRequest(held, req)) return { handleId, ips: held };
    await ipam.releaseByHandle(handleId);
  }
  try {
    if (podAnn[IP_ADDRS] !== undefined) {
      const ips = parseStringList(podAnn[IP_ADDRS], IP_ADDRS).map((text) => {
        const ip = parseIp(text);
        if (!ip)
          throw new TortieError("Invalid", `failed to parse IP "${text}" in the ${IP_ADDRS} annotation`);
        return formatIp(ip);
      });
      for (const ip of ips)
        await ipam.assignIp({ ip, handleId, attrs, hostname: req.node, intendedUse: "Workload" });
      return { handleId, ips };
    }
    const pools = await ipam.allPools();
    const requested = (family: IpFamily): Cidr[] => {
      const text = podAnn[POOLS_ANNOTATION[family]] ?? nsAnn[POOLS_ANNOTATION[family]];
      if (text === undefined) return [];
      return parseStringList(text, POOLS_ANNOTATION[family]).map((p) => {
        const cidr = parseCidr(p) ?? pools.find((pool) => pool.name === p)?.cidr;
        if (!cidr)
          throw new TortieError(
            "Invalid",
            `error parsing pool "${p}" in the ${POOLS_ANNOTATION[family]} annotation: no IP pool has that name and it is not a CIDR`,
          );
        if (cidr.family !== family)
          throw new TortieError(
            "Invalid",
            `"${p}" in the ${POOLS_ANNOTATION[family]} annotation isn't a IPv${family} pool`,
          );
        return cidr;
      });
    };
    const v4 = requested(4);
    const v6 = requested(6);
    const families = new Set(req.families ?? [4]);
    if (v6.length > 0) families.add(6);
    const result = await ipam.autoAssign({
      num4: families.has(4) ? 1 : 0,
      num6: families.has(6) ? 1 : 0,
      handleId,
      attrs,
      hostname: req.node,
      ipv4Pools: v4,
      ipv6Pools: v6,
      intendedUse: "Workload",
      namespaceLabels: req.namespace.metadata.labels ?? {},
    });
    for (const a of [result.v4, result.v6]) {
      const err = a && partialFulfillmentError(a);
      if (err) throw err;
    }
    return { handleId, ips: [...(result.v4?.ips ?? []), ...(result.v6?.ips ?? [])] };
  } catch (e) {
    await ipam.releaseByHandle(handleId).catch(() => undefined);
    throw e;
  }
}

/** `ips` are what a fresh assignment for this request would give: the pinned addresses, or one per family. */
function fitsRequest(ips: string[], req: PodAddressRequest): boolean {
  const podAnn = req.pod.metadata.annotations ?? {};
  const pinned = podAnn[IP_ADDRS];
  if (pinned !== undefined) {
    let want: string[];
    try {
      want = parseStringList(pinned, IP_ADDRS).map((t) => {
        const ip = parseIp(t);
        return ip ? formatIp(ip) : t;
      });
    } catch {
      return false;
    }
    return want.length === ips.length && want.every((ip) => ips.includes(ip));
  }
  const nsAnn = req.namespace.metadata.annotations ?? {};
  const families = new Set(req.families ?? [4]);
  if ((podAnn[POOLS_ANNOTATION[6]] ?? nsAnn[POOLS_ANNOTATION[6]]) !== undefined) families.add(6);
  const v6 = ips.filter((ip) => ip.includes(":")).length;
  return v6 === (families.has(6) ? 1 : 0) && ips.length - v6 === (families.has(4) ? 1 : 0);
}

function parseStringList(text: string, annotation: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TortieError(
      "Invalid",
      `failed to parse the ${annotation} annotation ${JSON.stringify(text)}: ${(e as Error).message}`,
    );
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw new TortieError(
      "Invalid",
      `the ${annotation} annotation must be a JSON list of strings, got ${JSON.stringify(text)}`,
    );
  return value;
}

/** Go's time.Time.String() for a UTC time, as the CNI plugin records it: "2026-01-02 03:04:05.123 +0000 UTC". */
export function goTimeString(d: Date): string {
  const iso = d.toISOString();
  const ms = iso.slice(20, 23).replace(/0+$/, "");
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms ? `.${ms}` : ""} +0000 UTC`;
}
