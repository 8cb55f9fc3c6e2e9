import type { ApiObject } from "../../api/index.ts";
import { formatCidr, formatIp, type IpFamily, maskCidr, parseCidr, parseIp } from "../../net/index.ts";
import { joinHostPort, servicePortName } from "./chain-names.ts";

export type ServiceProtocol = "TCP" | "UDP" | "SCTP";

/** One endpoint of a service port, as kube-proxy's endpoint slice cache sees it. */
export interface ProxyEndpoint {
  ip: string;
  port: number;
  /** On the node kube-proxy runs on (the slice's `nodeName`). */
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/**
 * One port of one Service, with what kube-proxy derives from it (pkg/proxy/serviceport.go, service.go):
 * addresses filtered to the proxier's family, source ranges trimmed, traffic policies resolved.
 */
export interface ProxyServicePort {
  namespace: string;
  name: string;
  portName: string;
  protocol: ServiceProtocol;
  port: number;
  clusterIP: string;
  /** 0 when the port has none. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  /** externalTrafficPolicy Local, and the service is reachable from outside at all. */
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** 0 unless a LoadBalancer service with externalTrafficPolicy Local. */
  healthCheckNodePort: number;
  /** ClientIP session affinity timeout in seconds; undefined for None. */
  affinityTimeoutSeconds: number | undefined;
  /** Sorted by `ip:port`, as kube-proxy orders them. */
  endpoints: ProxyEndpoint[];
}

const serviceKeys = new WeakMap<ProxyServicePort, string>();

/** `ns/name` of the port's service, memoised per port object (syncs look it up for every port). */
export function serviceKeyOf(sp: ProxyServicePort): string {
  let key = serviceKeys.get(sp);
  if (key === undefined) {
    key = `${sp.namespace}/${sp.name}`;
    serviceKeys.set(sp, key);
  }
  return key;
}

export function spnOf(sp: ProxyServicePort): string {
  return servicePortName(sp.namespace, sp.name, sp.portName);
}

export function externallyAccessible(sp: ProxyServicePort): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerIPs.length > 0 || sp.externalIPs.length > 0;
}

/** Traffic to this port can use Cluster-policy endpoints (ClusterIP with iTP Cluster, or external with eTP Cluster). */
export function usesClusterEndpoints(sp: ProxyServicePort): boolean {
  return !sp.internalPolicyLocal || (externallyAccessible(sp) && !sp.externalPolicyLocal);
}

export function usesLocalEndpoints(sp: ProxyServicePort): boolean {
  return sp.internalPolicyLocal || sp.externalPolicyLocal;
}

function familyOf(ip: string): IpFamily | undefined {
  return parseIp(ip)?.family;
}

function normalIp(ip: string): string {
  const parsed = parseIp(ip);
  return parsed ? formatIp(parsed) : ip;
}

interface SliceEndpoint {
  addresses?: string[];
  nodeName?: string;
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
}
interface SlicePort {
  name?: string;
  port?: number;
  protocol?: string;
}

function endpointsFor(
  slices: ApiObject[],
  portName: string,
  protocol: ServiceProtocol,
  nodeName: string,
  family: IpFamily,
): ProxyEndpoint[] {
  const byKey = new Map<string, ProxyEndpoint>();
  for (const slice of slices) {
    if (slice.addressType !== (family === 4 ? "IPv4" : "IPv6")) continue;
    const port = ((slice.ports as SlicePort[] | undefined) ?? []).find(
      (p) => (p.name ?? "") === portName && (p.protocol ?? "TCP") === protocol,
    );
    if (port?.port === undefined) continue;
    for (const ep of (slice.endpoints as SliceEndpoint[] | undefined) ?? []) {
      const address = ep.addresses?.[0];
      if (!address) continue;
      // EndpointSlice semantics: a missing `ready` means ready; a missing `serving` follows `ready`.
      const ready = ep.conditions?.ready ?? true;
      const endpoint: ProxyEndpoint = {
        ip: normalIp(address),
        port: port.port,
        isLocal: ep.nodeName !== undefined && ep.nodeName === nodeName,
        ready,
        serving: ep.conditions?.serving ?? ready,
        terminating: ep.conditions?.terminating ?? false,
      };
      byKey.set(joinHostPort(endpoint.ip, endpoint.port), endpoint);
    }
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

/**
 * Every port of every proxyable Service, for one node and one IP family. Headless and ExternalName
 * services, and services without a cluster IP of this family, are not proxied (as in kube-proxy).
 */
export function buildServicePorts(
  services: ApiObject[],
  endpointSlices: ApiObject[],
  nodeName: string,
  family: IpFamily,
): ProxyServicePort[] {
  const slicesByService = new Map<string, ApiObject[]>();
  for (const slice of endpointSlices) {
    const svc = slice.metadata.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    const key = `${slice.metadata.namespace}/${svc}`;
    const list = slicesByService.get(key) ?? [];
    list.push(slice);
    slicesByService.set(key, list);
  }
  const out: ProxyServicePort[] = [];
  for (const svc of services) {
    const spec = svc.spec ?? {};
    if (spec.type === "ExternalName") continue;
    const clusterIPs: string[] = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
    const clusterIP = clusterIPs.find((ip) => ip !== "None" && familyOf(ip) === family);
    if (!clusterIP) continue;
    const namespace = svc.metadata.namespace ?? "default";
    const name = svc.metadata.name ?? "";
    const externalIPs = ((spec.externalIPs as string[] | undefined) ?? [])
      .filter((ip) => familyOf(ip) === family)
      .map(normalIp);
    const loadBalancerIPs =
      spec.type === "LoadBalancer"
        ? ((svc.status?.loadBalancer?.ingress as { ip?: string }[] | undefined) ?? [])
            .map((i) => i.ip)
            .filter((ip): ip is string => ip !== undefined && familyOf(ip) === family)
            .map(normalIp)
        : [];
    const sourceRanges = ((spec.loadBalancerSourceRanges as string[] | undefined) ?? [])
      .map((r) => parseCidr(r.trim()))
      .filter((c) => c !== undefined && c.family === family)
      .map((c) => formatCidr(maskCidr(c!)));
    const slices = slicesByService.get(`${namespace}/${name}`) ?? [];
    for (const p of (spec.ports as Record<string, unknown>[] | undefined) ?? []) {
      const protocol = ((p.protocol as string | undefined) ?? "TCP") as ServiceProtocol;
      const portName = (p.name as string | undefined) ?? "";
      const nodePort = spec.type === "NodePort" || spec.type === "LoadBalancer" ? Number(p.nodePort ?? 0) : 0;
      const sp: ProxyServicePort = {
        namespace,
        name,
        portName,
        protocol,
        port: Number(p.port),
        clusterIP: normalIp(clusterIP),
        nodePort,
        externalIPs,
        loadBalancerIPs,
        loadBalancerSourceRanges: sourceRanges,
        externalPolicyLocal: false,
        internalPolicyLocal: spec.internalTrafficPolicy === "Local",
        healthCheckNodePort: 0,
        affinityTimeoutSeconds:
          spec.sessionAffinity === "ClientIP"
            ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800)
            : undefined,
        endpoints: endpointsFor(slices, portName, protocol, nodeName, family),
      };
      sp.externalPolicyLocal = externallyAccessible(sp) && spec.externalTrafficPolicy === "Local";
      if (spec.type === "LoadBalancer" && spec.externalTrafficPolicy === "Local")
        sp.healthCheckNodePort = Number(spec.healthCheckNodePort ?? 0);
      out.push(sp);
    }
  }
  return out;
}

/** The endpoint sets a service port's rules use (pkg/proxy/topology.go CategorizeEndpoints, without topology hints). */
export interface CategorizedEndpoints {
  cluster: ProxyEndpoint[];
  local: ProxyEndpoint[];
  allLocallyReachable: ProxyEndpoint[];
  hasAny: boolean;
}

export function categorizeEndpoints(sp: ProxyServicePort): CategorizedEndpoints {
  let cluster: ProxyEndpoint[] = [];
  let hasAny = false;
  if (usesClusterEndpoints(sp)) {
    cluster = sp.endpoints.filter((e) => e.ready);
    // With no ready endpoint anywhere, serving-but-terminating ones keep connections working.
    if (cluster.length === 0) cluster = sp.endpoints.filter((e) => e.serving && e.terminating);
    hasAny = cluster.length > 0;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local: [], allLocallyReachable: cluster, hasAny };
  let local: ProxyEndpoint[] = [];
  for (const e of sp.endpoints) if (e.ready || (e.serving && e.terminating)) hasAny = true;
  if (sp.endpoints.some((e) => e.isLocal && e.ready))
    local = sp.endpoints.filter((e) => e.isLocal && e.ready);
  else local = sp.endpoints.filter((e) => e.isLocal && e.serving && e.terminating);
  if (!usesClusterEndpoints(sp)) return { cluster, local, allLocallyReachable: local, hasAny };
  const merged = new Map<string, ProxyEndpoint>();
  for (const e of [...cluster, ...local]) merged.set(joinHostPort(e.ip, e.port), e);
  return { cluster, local, allLocallyReachable: [...merged.values()], hasAny };
}
