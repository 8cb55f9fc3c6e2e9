import type { IpFamily } from "../../net/index.ts";

/** The kube-proxy settings the iptables rules depend on (KubeProxyConfiguration plus what it probes). */
export interface KubeProxyIptablesConfig {
  family: IpFamily;
  nodeName: string;
  /** The node's primary address: a loadBalancerSourceRange containing it also admits the LB IPs as sources. */
  nodeIP: string;
  /** DetectLocalByCIDR: pod traffic is `-s CIDR`. Undefined: no local-traffic detector. */
  clusterCIDR: string | undefined;
  /** `--iptables-masquerade-bit` as kube-proxy formats it; the upstream tests use `0x4000`. */
  masqueradeMark: string;
  masqueradeAll: boolean;
  localhostNodePorts: boolean;
  /** `--nodeport-addresses` resolved to this node's matching addresses; undefined means every local address. */
  nodePortIPs: string[] | undefined;
  /** Whether iptables supports `MASQUERADE --random-fully`. */
  randomFully: boolean;
  /** `nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule. */
  conntrackTCPLiberal: boolean;
  /** nfacct counters that exist on the host (the rules reference only those that do). */
  nfacct: { ctStateInvalidDroppedPkts: boolean; localhostNodePortsAcceptedPkts: boolean };
}

/** kube-proxy's defaults: masquerade bit 14 (`%#08x` of 1<<14 is `0x00004000` in Go), localhost NodePorts on. */
export function kubeProxyIptablesConfig(
  required: Pick<KubeProxyIptablesConfig, "nodeName" | "nodeIP" | "clusterCIDR">,
  overrides: Partial<KubeProxyIptablesConfig> = {},
): KubeProxyIptablesConfig {
  return {
    family: required.nodeIP.includes(":") ? 6 : 4,
    masqueradeMark: "0x00004000",
    masqueradeAll: false,
    localhostNodePorts: true,
    nodePortIPs: undefined,
    randomFully: true,
    conntrackTCPLiberal: false,
    nfacct: { ctStateInvalidDroppedPkts: true, localhostNodePortsAcceptedPkts: true },
    ...required,
    ...overrides,
  };
}
