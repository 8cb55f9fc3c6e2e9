export {
  endpointChainName,
  hashAndTruncate,
  joinHostPort,
  nftEndpointChainBase,
  nftServiceChainBase,
  serviceChainNames,
  servicePortName,
} from "./chain-names.ts";
export {
  type KubeProxyIptablesConfig,
  type KubeProxyIptablesOverrides,
  type KubeProxyNfacctCounters,
  kubeProxyIptablesConfig,
} from "./iptables-config.ts";
export {
  type IptablesSyncInput,
  type IptablesSyncOutput,
  renderIptablesSync,
} from "./iptables-rules.ts";
export { type IptablesSyncResult, KubeProxyIptablesSyncer } from "./iptables-syncer.ts";
export { renderKubeProxyJumps } from "./jump-rules.ts";
export { type NftablesInput, renderNftables } from "./nftables.ts";
export { probability } from "./service-port-rules.ts";
export {
  buildServicePorts,
  type CategorizedEndpoints,
  categorizeEndpoints,
  type ProxyEndpoint,
  type ProxyServicePort,
  type ServiceProtocol,
} from "./service-ports.ts";
