export type { AllocationAttribute, BlockSpec, ReleaseRequest } from "./block.ts";
export { blockWalk } from "./block-walk.ts";
export { type CheckReport, checkIpam } from "./check.ts";
export {
  type AssignIpArgs,
  type AssignmentAttributes,
  type Assignments,
  type AutoAssignArgs,
  type BlockUtilization,
  Ipam,
  type IpamConfig,
  type PoolUtilization,
  partialFulfillmentError,
} from "./ipam.ts";
export type { IpamKv } from "./kv.ts";
export { cidrToName, podHandleId, tunnelHandleId } from "./names.ts";
export { assignPodAddresses, goTimeString, type PodAddressRequest } from "./pod-addresses.ts";
export type { AllowedUse } from "./pools.ts";
