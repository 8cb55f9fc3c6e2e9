export {
  BPF_MARKS,
  type FelixBpfInput,
  felixPolicyProgram,
  renderFelixBpfIptables,
} from "./felix-bpf-iptables.ts";
export {
  ALL_INTERFACES,
  type HostInterface,
  resolveHostEndpoints,
} from "./felix-host-endpoints.ts";
export { type FelixInput, type FelixIptables, renderFelixIptables } from "./felix-iptables.ts";
export type { FelixOrigins, FelixTable, RuleOrigin } from "./felix-rules.ts";
export { DEFAULT_VXLAN_PORT, type FelixTunnels } from "./felix-tunnel-rules.ts";
export { ipsetName, lengthLimitedName } from "./names.ts";
