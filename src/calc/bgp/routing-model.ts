import { formatCidr, maskCidr, parseCidr } from "../../net/index.ts";
import { BIRD_INT_MAX, BIRD_OVERRIDE_PREFERENCE } from "./bgp-filters.ts";
import { ConfdView } from "./confd-view.ts";
import type { ConfdInput } from "./input.ts";
import { poolFilterLines } from "./ip-pool-filters.ts";
import { peeringsFor } from "./peerings.ts";
import { configCidrs, serviceAdvertisement, staticRouteKey } from "./service-advertisement.ts";

/** A BGP peer only reachable through a gateway (BGPPeer reachableBy): `route <ip>/32 via <gateway>;`. */
export interface PeerGatewayRoute {
  /** The peer's address as confd prints it. */
  ip: string;
  /** BGPPeer.spec.reachableBy, as written. */
  reachableBy: string;
}

/** A block affine to this node, as confd keeps it under /calico/ipam/v2/host/<node>/ipv4/block/<cidr>. */
export interface AffineBlock {
  cidr: string;
  /** BlockAffinity spec.state: "confirmed", "" (legacy, implicitly confirmed), or another state (not exported). */
  state: string;
}

/**
 * Everything bird_aggr.cfg and bird_ipam.cfg (or their v6 twins) say for one node and one family: which routes
 * the node originates (block blackholes, service routes, peer gateway routes), what it exports to peers, and
 * which learned routes it keeps out of the kernel. Lists are in the order confd renders them.
 */
export interface BgpRoutingModel {
  family: 4 | 6;
  nodeName: string;
  /** Blocks affine to this node (pending affinities are left out, as confd does), in key order. */
  blocks: AffineBlock[];
  /** /calico/staticroutes(v6): service ranges and per-service routes, in key order. */
  staticRoutes: string[];
  /** /calico/rejectcidrs(v6): service ranges kept out of the kernel, in key order. */
  rejectCidrs: string[];
  /** Global peers reached through a gateway (reachableBy). */
  globalPeerRoutes: PeerGatewayRoute[];
  /** This node's own peers reached through a gateway. */
  nodePeerRoutes: PeerGatewayRoute[];
  /** The kernel metric below which a more specific route inside a block is still exported (default 1024). */
  normalRoutePriority: number;
  /** The node's routeReflectorClusterID; undefined when confd has no such key (the node is unknown). */
  routeReflectorClusterId?: string;
  /** BGPConfiguration serviceLoadBalancerIPs (all families, as written), accepted on a route reflector. */
  loadBalancerIPs: string[];
  /** BGPConfiguration serviceExternalIPs (all families, as written), accepted on a route reflector. */
  externalIPs: string[];
  /** The filter lines of bird_ipam.cfg that confd computes (bgp_processor.go), exactly as rendered. */
  bgpExportFilterForDisabledIPPools: string[];
  ibgpExportFilterForTunnelRoutes: string[];
  bgpExportFilterForEnabledIPPools: string[];
  setMetricForBGPRoutes: string[];
  wireguardPeerKernelFilter: string[];
  kernelFilterForIPPools: string[];
}

function familyOf(cidr: string): 4 | 6 {
  return cidr.includes(":") ? 6 : 4;
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function affineBlocks(view: ConfdView, family: 4 | 6): AffineBlock[] {
  const blocks = new Map<string, AffineBlock>();
  for (const o of view.objects) {
    if (o.kind !== "BlockAffinity") continue;
    const spec = o.spec ?? {};
    if (spec.node !== view.nodeName || (spec.type ?? "host") !== "host") continue;
    if (spec.deleted === true || spec.deleted === "true") continue;
    const state = typeof spec.state === "string" ? spec.state : "";
    if (state === "pending") continue;
    const cidr = typeof spec.cidr === "string" ? parseCidr(spec.cidr) : undefined;
    if (!cidr || cidr.family !== family) continue;
    const text = formatCidr(maskCidr(cidr));
    blocks.set(staticRouteKey(text), { cidr: text, state });
  }
  return [...blocks.entries()].sort(([a], [b]) => byKey(a, b)).map(([, b]) => b);
}

function setMetricLines(priority: number): string[] {
  return [
    "  if (defined(source) && (source = RTS_BGP) && !defined(krt_metric)) then {",
    `      krt_metric = ${priority};`,
    "      if (defined(bgp_local_pref)) then {",
    `          krt_metric = ${BIRD_INT_MAX} - bgp_local_pref;`,
    "      }",
    `      if (krt_metric < ${priority}) then {`,
    `          preference = ${BIRD_OVERRIDE_PREFERENCE};`,
    "      }",
    "  }",
  ];
}

/** processWireguardPeerFilter: when this node runs WireGuard, Felix routes to other WireGuard nodes itself. */
function wireguardLines(view: ConfdView, family: 4 | 6): string[] {
  const wg = (n: { wireguardV4: string; wireguardV6: string }) =>
    family === 4 ? n.wireguardV4 : n.wireguardV6;
  const me = view.node(view.nodeName);
  if (!me || wg(me) === "") return [];
  const lines: string[] = [];
  for (const n of view.nodes.values()) {
    const ip = family === 4 ? n.ipv4 : n.ipv6;
    if (n.name === view.nodeName || ip === "" || wg(n) === "") continue;
    lines.push(
      `  if (defined(bgp_next_hop) && bgp_next_hop = ${ip}) then { reject; } # WireGuard routes handled by Felix.`,
    );
  }
  return lines.sort();
}

/**
 * The routing half of confd's BIRD configuration for `input.node` and one address family. Pass a ConfdView to
 * share it with bgpPeeringModel.
 */
export function bgpRoutingModel(input: ConfdInput | ConfdView, family: 4 | 6): BgpRoutingModel {
  const view = ConfdView.of(input);
  const spec = view.globalConfig ?? {};
  const me = view.node(view.nodeName);
  const normalRoutePriority = view.normalRoutePriority(family);
  const services = serviceAdvertisement(view);
  const peerings = peeringsFor(view, family);
  const gatewayRoutes = (entries: typeof peerings.global): PeerGatewayRoute[] =>
    entries
      .filter((e) => e.peering.ip !== "" && e.peering.reachableBy !== "")
      .map((e) => ({ ip: e.peering.ip, reachableBy: e.peering.reachableBy }));
  // network_v4/v6 is only stored when the node has an address of that family.
  const localSubnet = (family === 4 ? me?.networkV4 : me?.networkV6) || undefined;
  const pools = poolFilterLines(view.objects, family, spec.programClusterRoutes, localSubnet);
  return {
    family,
    nodeName: view.nodeName,
    blocks: affineBlocks(view, family),
    staticRoutes: services.staticRoutes.filter((c) => familyOf(c) === family),
    rejectCidrs: services.rejectCidrs.filter((c) => familyOf(c) === family),
    globalPeerRoutes: gatewayRoutes(peerings.global),
    nodePeerRoutes: gatewayRoutes(peerings.node),
    normalRoutePriority,
    routeReflectorClusterId: me?.rrClusterId,
    loadBalancerIPs: configCidrs(spec.serviceLoadBalancerIPs),
    externalIPs: configCidrs(spec.serviceExternalIPs),
    bgpExportFilterForDisabledIPPools: pools.exportRejectDisabled,
    ibgpExportFilterForTunnelRoutes: pools.ibgpRejectTunnelRoutes,
    bgpExportFilterForEnabledIPPools: pools.exportAcceptEnabled,
    setMetricForBGPRoutes: setMetricLines(normalRoutePriority),
    wireguardPeerKernelFilter: wireguardLines(view, family),
    kernelFilterForIPPools: pools.kernel,
  };
}
