import type { ApiObject } from "../api/index.ts";
import type { Ipam } from "../ipam/index.ts";
import { isTortieError } from "../lib/index.ts";
import { formatIp, parseIp } from "../net/index.ts";
import { kinds } from "./topology.ts";
import type { Writer } from "./writes.ts";

const HANDLE_PREFIX = "lb.";

function handleFor(svc: ApiObject): string {
  return `${HANDLE_PREFIX}${svc.metadata.namespace}.${svc.metadata.name}`;
}

/**
 * Calico's LoadBalancer IPAM (kube-controllers): a LoadBalancer Service gets an address from an IP pool whose
 * allowedUses include LoadBalancer (`spec.loadBalancerIP` pins one), published in status.loadBalancer.ingress.
 * Without such a pool the service stays `<pending>`, as on a cluster with no load-balancer implementation.
 */
export async function reconcileLoadBalancers(w: Writer, ipam: Ipam): Promise<void> {
  const services = await w.client.list(kinds.Service);
  const pools = (await w.client.list(kinds.IPPool)).filter(
    (p) =>
      !p.spec?.disabled && ((p.spec?.allowedUses as string[] | undefined) ?? []).includes("LoadBalancer"),
  );
  const wantHandles = new Set<string>();
  for (const svc of services) {
    if (svc.spec?.type !== "LoadBalancer") continue;
    const handle = handleFor(svc);
    wantHandles.add(handle);
    const ingress: { ip?: string }[] = svc.status?.loadBalancer?.ingress ?? [];
    if (ingress.length > 0 || pools.length === 0) continue;
    let ips: string[];
    try {
      ips = await assignAddress(ipam, svc, handle);
    } catch (e) {
      if (isTortieError(e)) continue;
      throw e;
    }
    if (ips.length === 0) continue;
    await w.setStatus(svc, {
      ...(svc.status ?? {}),
      loadBalancer: { ingress: ips.map((ip) => ({ ip, ipMode: "VIP" })) },
    });
  }
  for (const h of await w.client.list(kinds.IPAMHandle)) {
    const id: string = h.spec?.handleID ?? "";
    if (id.startsWith(HANDLE_PREFIX) && !wantHandles.has(id)) {
      w.writes++;
      await ipam.releaseByHandle(id);
    }
  }
}

/**
 * The service's address: the one its handle already holds (a pass killed between the allocation and the status
 * write), else a new one. A handle holding anything else (a half-done try, a changed loadBalancerIP) is released
 * first, so a retry neither takes a second address nor fails on the address its own earlier try took.
 */
async function assignAddress(ipam: Ipam, svc: ApiObject, handle: string): Promise<string[]> {
  const pinned: string | undefined = svc.spec.loadBalancerIP || undefined;
  const held = await ipam.ipsByHandle(handle);
  if (held !== undefined) {
    const ip = held.length === 1 ? parseIp(held[0]!) : undefined;
    const pin = pinned === undefined ? undefined : parseIp(pinned);
    if (ip && (pinned === undefined ? ip.family === 4 : pin && formatIp(pin) === formatIp(ip))) return held;
    await ipam.releaseByHandle(handle);
  }
  const attrs = { namespace: svc.metadata.namespace!, service: svc.metadata.name! };
  if (pinned) {
    await ipam.assignIp({ ip: pinned, handleId: handle, hostname: "", intendedUse: "LoadBalancer", attrs });
    return [pinned];
  }
  const r = await ipam.autoAssign({
    num4: 1,
    handleId: handle,
    hostname: "",
    intendedUse: "LoadBalancer",
    attrs,
  });
  return r.v4?.ips ?? [];
}
