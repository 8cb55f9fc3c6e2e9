export * from "./bgp/index.ts";
export type * from "./bpf-dataplane-types.ts";
export { clusterDnsZone, type DnsRecord, podResolvConf, resolveInZone } from "./cluster-dns.ts";
export {
  diffNamespaceSpec,
  diffNodeDataplane,
  type NamespaceDiff,
  type NodeDataplaneDiff,
  namespaceDiffIsEmpty,
  nodeDiffIsEmpty,
} from "./dataplane-diff.ts";
export {
  type ChainState,
  changedChains,
  foldIptablesPayloads,
  type IptablesState,
  iptablesDelta,
  isBuiltinChain,
} from "./iptables-delta.ts";
export {
  KERNEL_QUERY_COMMANDS,
  normaliseConntrack,
  normaliseIpsets,
  normaliseIptables,
  normaliseKernelQuery,
  normaliseLinks,
  normaliseRoutes,
} from "./kernel-query-normal.ts";
export { CALICO_BIRD_VERSION, HOST_BIRD_FILE, HOST_BIRD_VERSION } from "./node-bird.ts";
export {
  clusterDataplane,
  DataplaneCalculator,
  type DataplaneInput,
  type DescriptionReuse,
  macFor,
  UNDERLAY,
} from "./node-dataplane.ts";
export type * from "./node-dataplane-types.ts";
