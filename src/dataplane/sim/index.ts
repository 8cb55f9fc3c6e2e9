export { type ApplyNamespaceOptions, applyNamespace, SIM_KERNEL_FEATURES } from "./apply-namespace.ts";
export * from "./bird/index.ts";
export { attachBpf, BpfProgram, bpfProgramOf } from "./bpf/index.ts";
export {
  compileFilter,
  FilterError,
  type LinkFrame,
  type PacketFilter,
  TcpdumpPrinter,
} from "./capture/index.ts";
export { Conntrack, type ConntrackEntry } from "./conntrack.ts";
export {
  decapsulate,
  encapsulateIpip,
  encapsulateVxlan,
  IPIP_OVERHEAD,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  vxlanSourcePort,
} from "./encapsulation.ts";
export { formatRoutes, localTableRoutes, type Route } from "./fib.ts";
export { formatIpv4, maskOf, parseIpv4, parseIpv4Prefix } from "./ipv4.ts";
export {
  type Address,
  Kernel,
  type Link,
  type Neighbour,
  type Segment,
  type ServerSocket,
} from "./kernel.ts";
export {
  type CounterKey,
  Netfilter,
  RestoreError,
  ruleSaveText,
  type TableName,
} from "./netfilter/index.ts";
export type { PacketTap } from "./network.ts";
export {
  type Delivery,
  joinSegment,
  Network,
  type Trace,
  type TraceHop,
  type TraceRoute,
} from "./network.ts";
export {
  counterEntries,
  formatChain,
  formatRuleset,
  formatSet,
  formatTable,
  Nftables,
  type NftChain,
  NftLoadError,
  type NftRule,
  type NftSet,
  type NftTable,
  traverseHook,
} from "./nft/index.ts";
export { formatRules, type Rule, tableName } from "./policy-routing.ts";
export { type ProbeAnswer, type ProbeProtocol, type ProbeResult, probe, probeLabel } from "./probe.ts";
export { sctpExchange } from "./sctp.ts";
export { rpFilterMode, SysctlError, sysctlGet, sysctlSet } from "./sysctl.ts";
export { type ExchangeResult, ping, tcpExchange, udpExchange } from "./transport.ts";
export type { FdbEntry, VxlanDevice, WireguardDevice, WireguardPeer } from "./tunnel-devices.ts";
export { wireguardPublicKey } from "./tunnel-devices.ts";
export { encodeIpv4, internetChecksum } from "./wire.ts";
