import type { ApiObject } from "../api/index.ts";
import { type Cidr, cidrContainsIp, formatCidr, type IpAddress, parseCidr } from "../net/index.ts";
import { type Labels, parseSelector, type Selector } from "../selector/index.ts";

export type AllowedUse = "Workload" | "Tunnel" | "LoadBalancer";

/** The parts of an IPPool that IPAM acts on, parsed once per revision of the pool. */
export interface PoolInfo {
  name: string;
  cidr: Cidr;
  cidrText: string;
  blockSize: number;
  disabled: boolean;
  nodeSelector: Selector;
  namespaceSelector: Selector | undefined;
  allowedUses: AllowedUse[];
  /** Manual pools are used only when a request names them. */
  manual: boolean;
}

const parsed = new WeakMap<object, PoolInfo>();

export function poolInfo(o: ApiObject): PoolInfo {
  const cached = parsed.get(o);
  if (cached) return cached;
  const spec = o.spec ?? {};
  const cidr = parseCidr(spec.cidr);
  if (!cidr) throw new Error(`IPPool ${o.metadata.name} has an invalid cidr ${JSON.stringify(spec.cidr)}`);
  const info: PoolInfo = {
    name: o.metadata.name!,
    cidr,
    cidrText: spec.cidr,
    blockSize: spec.blockSize ?? (cidr.family === 4 ? 26 : 122),
    disabled: spec.disabled === true,
    nodeSelector: parseSelector(spec.nodeSelector || "all()"),
    namespaceSelector: spec.namespaceSelector ? parseSelector(spec.namespaceSelector) : undefined,
    allowedUses: spec.allowedUses?.length ? spec.allowedUses : ["Workload", "Tunnel"],
    manual: spec.assignmentMode === "Manual",
  };
  parsed.set(o, info);
  return info;
}

export function poolContaining(pools: PoolInfo[], ip: IpAddress): PoolInfo | undefined {
  return pools.find((p) => cidrContainsIp(p.cidr, ip));
}

/**
 * Calico's determinePools: pools named by the request are used as given (selectors ignored), each must exist
 * and be enabled; otherwise the enabled Automatic pools whose node and namespace selectors match.
 */
export function choosePools(
  enabled: PoolInfo[],
  requested: Cidr[],
  nodeLabels: Labels,
  namespaceLabels: Labels | undefined,
): PoolInfo[] {
  if (requested.length > 0) {
    return requested.map((r) => {
      const p = enabled.find(
        (e) => e.cidr.value === r.value && e.cidr.prefix === r.prefix && e.cidr.family === r.family,
      );
      if (!p) throw new PoolNotUsable(`the given pool (${formatCidr(r)}) does not exist, or is not enabled`);
      return p;
    });
  }
  const out: PoolInfo[] = [];
  for (const p of enabled)
    if (
      !p.manual &&
      p.nodeSelector.matches(nodeLabels) &&
      (!p.namespaceSelector || p.namespaceSelector.matches(namespaceLabels ?? {}))
    )
      out.push(p);
  return out;
}

export class PoolNotUsable extends Error {}
