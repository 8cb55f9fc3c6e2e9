export {
  ALL_INTERFACES,
  type HostInterface,
  resolveHostEndpoints,
} from "./felix-host-endpoints.ts";
export { type FelixInput, type FelixIptables, renderFelixIptables } from "./felix-iptables.ts";
export type { FelixOrigins, FelixTable, RuleOrigin } from "./felix-rules.ts";
export { ipsetName, lengthLimitedName } from "./names.ts";
