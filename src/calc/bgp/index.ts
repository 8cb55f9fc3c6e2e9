export {
  BgpFilterError,
  BIRD_INT_MAX,
  BIRD_OVERRIDE_PREFERENCE,
  bgpFilterFunctions,
  exportFilterText,
  filterSymbolName,
  importFilterText,
  truncateAndHashName,
} from "./bgp-filters.ts";
export { type ConfdNode, ConfdView, DEFAULT_AS } from "./confd-view.ts";
export { parseGoDurationSeconds } from "./go-values.ts";
export type { ConfdInput, LocalWorkloadStatus } from "./input.ts";
export { type PoolFilterLines, poolFilterLines } from "./ip-pool-filters.ts";
export {
  type BgpPeeringModel,
  type BirdPeer,
  bgpPeeringModel,
  type CommunityRule,
  ConfdNodeError,
  DEFAULT_DIRECT_INTERFACES,
  hashToIPv4,
} from "./peering-model.ts";
export {
  computeV1Peerings,
  globalPeerKey,
  nodePeerKey,
  peeringsFor,
  type V1Peering,
  type V1PeeringEntry,
} from "./peerings.ts";
export {
  type AffineBlock,
  type BgpRoutingModel,
  bgpRoutingModel,
  type PeerGatewayRoute,
} from "./routing-model.ts";
export {
  type ServiceAdvertisement,
  type ServiceRoute,
  serviceAdvertisement,
  sortByRouteKey,
  staticRouteKey,
} from "./service-advertisement.ts";
