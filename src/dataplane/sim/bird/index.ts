export { birdc } from "./birdc.ts";
export {
  BgpFabric,
  type BirdHostSpec,
  type BirdSavedState,
  type ProtocolStatus,
  type RouteVerdict,
} from "./fabric.ts";
export { parseBirdConfig } from "./parse.ts";
export {
  type BgpProtocol,
  type BirdAttributes,
  type BirdConfig,
  BirdConfigError,
  type BirdDialect,
  type BirdFilter,
  type BirdNexthop,
  type BirdProtocol,
  type BirdRoute,
  type DeviceProtocol,
  type DirectProtocol,
  type FilterDecision,
  type FilterResult,
  type InterfacePattern,
  type KernelProtocol,
  type RouteSource,
  type StaticProtocol,
  type StaticRoute,
} from "./types.ts";
