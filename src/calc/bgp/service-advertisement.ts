import type { ApiObject } from "../../api/index.ts";
import { type Cidr, cidrContainsIp, familyBits, parseCidr, parseIp } from "../../net/index.ts";
import { ConfdView } from "./confd-view.ts";
import type { ConfdInput } from "./input.ts";

/**
 * Which service routes confd on one node advertises, as calico-node's confd decides it (client.go's
 * updateGlobalRoutes for the BGPConfiguration ranges, routes.go's routeGenerator for per-service addresses).
 * This is the steady state confd converges to for the given objects.
 */
export interface ServiceAdvertisement {
  node: string;
  /** The node is labelled node.kubernetes.io/exclude-from-external-load-balancers=true: it advertises no service route. */
  excluded: boolean;
  /**
   * The BGPConfiguration ranges this node advertises, as written there: serviceClusterIPs (or
   * CALICO_ADVERTISE_CLUSTER_IPS), serviceExternalIPs that are not a single address, and serviceLoadBalancerIPs
   * that are not a single address when serviceLoadBalancerAggregation is Enabled. Empty on an excluded node.
   */
  ranges: string[];
  /** Per-service /32 and /128 routes, sorted by address text. */
  serviceRoutes: ServiceRoute[];
  /** confd's /calico/staticroutes(v6) entries: the ranges and the per-service routes, each once, sorted by key. */
  staticRoutes: string[];
  /** confd's /calico/rejectcidrs(v6) entries: the same ranges, kept even on an excluded node, sorted by key. */
  rejectCidrs: string[];
}

export interface ServiceRoute {
  /** "10.49.217.62/32" or "fd00:96::28/128". */
  cidr: string;
  /** The services ("namespace/name") this node advertises it for, sorted. */
  services: string[];
}

const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The key confd stores a route under (/calico/staticroutes/10.49.0.0-16): its text with the first "/" made "-". */
export function staticRouteKey(cidr: string): string {
  return cidr.replace("/", "-");
}

/** Sorts CIDR texts as confd's template `ls` lists their keys. */
export function sortByRouteKey(cidrs: Iterable<string>): string[] {
  return [...new Set(cidrs)].sort((a, b) => {
    const ka = staticRouteKey(a);
    const kb = staticRouteKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** The `cidr`s of a BGPConfiguration list (serviceClusterIPs, serviceExternalIPs, serviceLoadBalancerIPs). */
export function configCidrs(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list
    .map((b) => (b && typeof b === "object" ? (b as { cidr?: unknown }).cidr : undefined))
    .filter((c): c is string => typeof c === "string" && c !== "");
}

function isSingleAddress(cidr: string): boolean {
  return cidr.includes(":") ? cidr.endsWith("/128") : cidr.endsWith("/32");
}

/** updateGlobalRoutes refuses the whole list (and keeps nothing new) when any CIDR does not parse. */
function validRanges(cidrs: string[]): string[] | undefined {
  return cidrs.every((c) => parseCidr(c) !== undefined) ? cidrs : undefined;
}

interface AdvertisementConfig {
  clusterCidrs: string[];
  externalCidrs: string[];
  externalNets: Cidr[];
  lbCidrs: string[];
  lbNets: Cidr[];
  aggregateLoadBalancers: boolean;
}

function advertisementConfig(view: ConfdView): AdvertisementConfig {
  const spec = view.globalConfig ?? {};
  const envCluster = view.env.CALICO_ADVERTISE_CLUSTER_IPS;
  const clusterCidrs = envCluster ? [envCluster] : configCidrs(spec.serviceClusterIPs);
  const externalCidrs = configCidrs(spec.serviceExternalIPs);
  const lbCidrs = configCidrs(spec.serviceLoadBalancerIPs);
  const aggregateLoadBalancers = (spec.serviceLoadBalancerAggregation ?? "Enabled") === "Enabled";
  const nets = (cidrs: string[]) => cidrs.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== undefined);
  const lbGlobal = aggregateLoadBalancers ? lbCidrs.filter((c) => !isSingleAddress(c)) : [];
  return {
    clusterCidrs: validRanges(clusterCidrs) ?? [],
    externalCidrs,
    externalNets: validRanges(externalCidrs.filter((c) => !isSingleAddress(c))) ? nets(externalCidrs) : [],
    lbCidrs,
    lbNets: validRanges(lbGlobal) ? nets(lbCidrs) : [],
    aggregateLoadBalancers,
  };
}

function inAny(nets: Cidr[], ipText: unknown, singleOnly: boolean): boolean {
  if (typeof ipText !== "string" || ipText === "") return false;
  const ip = parseIp(ipText);
  if (!ip) return false;
  return nets.some((n) => cidrContainsIp(n, ip) && (!singleOnly || n.prefix === familyBits(n.family)));
}

/** The Service as the API server defaults it (type, externalTrafficPolicy, clusterIPs, ipFamilies). */
interface ServiceView {
  key: string;
  type: string;
  clusterIP: string;
  clusterIPs: string[];
  externalIPs: string[];
  externalTrafficPolicy: string;
  loadBalancerIP: string;
  ingressIPs: string[];
  ipFamilies: string[];
}

function serviceView(svc: ApiObject): ServiceView {
  const spec = svc.spec ?? {};
  const type: string = spec.type ?? "ClusterIP";
  const clusterIP: string = spec.clusterIP ?? "";
  const clusterIPs: string[] = spec.clusterIPs ?? (clusterIP ? [clusterIP] : []);
  const families = clusterIPs.filter((ip) => ip !== "None").map((ip) => (ip.includes(":") ? "IPv6" : "IPv4"));
  const ingress: unknown[] = svc.status?.loadBalancer?.ingress ?? [];
  return {
    key: `${svc.metadata.namespace ?? "default"}/${svc.metadata.name}`,
    type,
    clusterIP,
    clusterIPs,
    externalIPs: spec.externalIPs ?? [],
    externalTrafficPolicy:
      spec.externalTrafficPolicy ?? (type === "NodePort" || type === "LoadBalancer" ? "Cluster" : ""),
    loadBalancerIP: spec.loadBalancerIP ?? "",
    ingressIPs: ingress
      .map((i) => (i && typeof i === "object" ? (i as { ip?: unknown }).ip : undefined))
      .filter((ip): ip is string => typeof ip === "string" && ip !== ""),
    ipFamilies: spec.ipFamilies ?? families,
  };
}

/** routes.go's advertiseThisService, for a Service with at least one EndpointSlice. */
function advertiseThisService(
  svc: ServiceView,
  slices: ApiObject[],
  cfg: AdvertisementConfig,
  nodeRef: string,
): boolean {
  if (svc.type !== "ClusterIP" && svc.type !== "NodePort" && svc.type !== "LoadBalancer") return false;
  if (svc.clusterIP === "" || svc.clusterIP === "None") return false;
  if (svc.externalTrafficPolicy === "Cluster") {
    if (
      svc.type === "LoadBalancer" &&
      [svc.loadBalancerIP, ...svc.ingressIPs].some((ip) => inAny(cfg.lbNets, ip, true))
    ) {
      return true;
    }
    if (svc.externalIPs.some((ip) => inAny(cfg.externalNets, ip, true))) return true;
  }
  const local = svc.externalTrafficPolicy === "Local";
  if (!local && cfg.aggregateLoadBalancers) return false;
  for (const slice of slices) {
    if (!svc.ipFamilies.includes(String(slice.addressType))) continue;
    const endpoints = (slice.endpoints as { conditions?: { ready?: boolean }; nodeName?: string }[]) ?? [];
    for (const ep of endpoints) {
      if (ep.conditions?.ready === false) continue;
      if (!local || ep.nodeName === nodeRef) return true;
    }
  }
  return false;
}

function fullLength(ip: string): string {
  return ip.includes(":") ? `${ip}/128` : `${ip}/32`;
}

/** routes.go's getAllRoutesForService. */
function routesForService(svc: ServiceView, cfg: AdvertisementConfig): string[] {
  const routes: string[] = [];
  if (cfg.clusterCidrs.length > 0) routes.push(...svc.clusterIPs);
  routes.push(...svc.externalIPs.filter((ip) => inAny(cfg.externalNets, ip, false)));
  routes.push(...svc.ingressIPs.filter((ip) => inAny(cfg.lbNets, ip, false)));
  return routes.map(fullLength);
}

/**
 * The service routes `input.node` advertises: the BGPConfiguration ranges from every node that is not
 * excluded, and each chosen Service's addresses as /32 or /128 routes (externalTrafficPolicy Local only from
 * nodes with a ready local endpoint).
 */
export function serviceAdvertisement(input: ConfdInput | ConfdView): ServiceAdvertisement {
  const view = ConfdView.of(input);
  const cfg = advertisementConfig(view);
  const labels = view.node(view.nodeName)?.labels ?? {};
  const excluded = labels[EXCLUDE_LABEL] === "true";

  const global = [
    ...cfg.clusterCidrs,
    ...(validRanges(cfg.externalCidrs.filter((c) => !isSingleAddress(c))) ?? []),
    ...(cfg.aggregateLoadBalancers
      ? (validRanges(cfg.lbCidrs.filter((c) => !isSingleAddress(c))) ?? [])
      : []),
  ];
  const rejectCidrs = sortByRouteKey(global);
  const ranges = excluded ? [] : rejectCidrs;

  const byRoute = new Map<string, Set<string>>();
  if (!excluded) {
    const nodeRef = view.env.CALICO_K8S_NODE_REF || view.nodeName;
    const slicesByService = new Map<string, ApiObject[]>();
    for (const o of view.objects) {
      if (o.kind !== "EndpointSlice") continue;
      const svcName = o.metadata.labels?.[SERVICE_NAME_LABEL];
      if (!svcName) continue;
      const key = `${o.metadata.namespace ?? "default"}/${svcName}`;
      const slices = slicesByService.get(key);
      if (slices) slices.push(o);
      else slicesByService.set(key, [o]);
    }
    for (const o of view.objects) {
      if (o.kind !== "Service" || o.apiVersion !== "v1") continue;
      const svc = serviceView(o);
      const slices = slicesByService.get(svc.key) ?? [];
      if (slices.length === 0 || !advertiseThisService(svc, slices, cfg, nodeRef)) continue;
      for (const route of routesForService(svc, cfg)) {
        byRoute.set(route, (byRoute.get(route) ?? new Set()).add(svc.key));
      }
    }
  }
  const serviceRoutes = [...byRoute.keys()]
    .sort()
    .map((cidr) => ({ cidr, services: [...(byRoute.get(cidr) ?? [])].sort() }));
  return {
    node: view.nodeName,
    excluded,
    ranges,
    serviceRoutes,
    staticRoutes: sortByRouteKey([...ranges, ...serviceRoutes.map((r) => r.cidr)]),
    rejectCidrs,
  };
}
