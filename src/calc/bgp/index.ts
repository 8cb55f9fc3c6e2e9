export { BgpFilterError } from "./bgp-filters.ts";
export { ConfdView } from "./confd-view.ts";
export type { ConfdInput, LocalWorkloadStatus } from "./input.ts";
export {
  type BgpPeeringModel,
  type BirdPeer,
  bgpPeeringModel,
  type CommunityRule,
  ConfdNodeError,
  hashToIPv4,
} from "./peering-model.ts";
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
} from "./service-advertisement.ts";
