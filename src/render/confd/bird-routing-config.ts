/**
 * What bird_aggr.cfg and bird_ipam.cfg (and the v6 files) are rendered from: one node's routing facts for one
 * address family, in the order confd lists them. `calc`'s bgpRoutingModel produces exactly this shape.
 */
export interface BirdRoutingConfig {
  family: 4 | 6;
  /** Blocks affine to the node, in key order; state "" is a legacy (implicitly confirmed) affinity. */
  blocks: readonly { cidr: string; state: string }[];
  /** Service ranges and per-service routes the node originates, in key order. */
  staticRoutes: readonly string[];
  /** Service ranges whose learned routes stay out of the kernel, in key order. */
  rejectCidrs: readonly string[];
  globalPeerRoutes: readonly { ip: string; reachableBy: string }[];
  nodePeerRoutes: readonly { ip: string; reachableBy: string }[];
  normalRoutePriority: number;
  /** The node's route-reflector cluster ID ("" when not a reflector); undefined when the node is unknown. */
  routeReflectorClusterId?: string;
  /** serviceLoadBalancerIPs and serviceExternalIPs of both families, as written. */
  loadBalancerIPs: readonly string[];
  externalIPs: readonly string[];
  bgpExportFilterForDisabledIPPools: readonly string[];
  ibgpExportFilterForTunnelRoutes: readonly string[];
  bgpExportFilterForEnabledIPPools: readonly string[];
  setMetricForBGPRoutes: readonly string[];
  wireguardPeerKernelFilter: readonly string[];
  kernelFilterForIPPools: readonly string[];
}
