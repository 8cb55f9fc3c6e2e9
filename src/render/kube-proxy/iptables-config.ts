import type { IpFamily } from "../../net/index.ts";

/** The nfacct counters kube-proxy's rules may name; each is true when kube-proxy could ensure it on the host. */
export interface KubeProxyNfacctCounters {
  /** `ct_state_invalid_dropped_pkts`: without it the INVALID drop rule carries no `-m nfacct` match. */
  ctStateInvalidDroppedPkts: boolean;
  /** `localhost_nps_accepted_pkts`: without it the `-d 127.0.0.0/8` NodePort rule is left out entirely. */
  localhostNodePortsAcceptedPkts: boolean;
}

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
  nfacct: KubeProxyNfacctCounters;
}

/**
 * What callers may set. `nfacct` also takes a boolean, the result of probing the kernel as kube-proxy does
 * (its nfacct runner ensures both counters at start; where nfacct is unavailable neither exists): true names
 * both counters, false neither. Omitted means true, the upstream golden tests' setting.
 */
export type KubeProxyIptablesOverrides = Omit<Partial<KubeProxyIptablesConfig>, "nfacct"> & {
  nfacct?: boolean | KubeProxyNfacctCounters;
};

/** kube-proxy's defaults: masquerade bit 14 (`%#08x` of 1<<14 is `0x00004000` in Go), localhost NodePorts on. */
export function kubeProxyIptablesConfig(
  required: Pick<KubeProxyIptablesConfig, "nodeName" | "nodeIP" | "clusterCIDR"> & { nfacct?: boolean },
  overrides: KubeProxyIptablesOverrides = {},
): KubeProxyIptablesConfig {
  const { nfacct: requiredNfacct, ...identity } = required;
  const { nfacct: overrideNfacct, ...rest } = overrides;
  return {
    family: required.nodeIP.includes(":") ? 6 : 4,
    masqueradeMark: "0x00004000",
    masqueradeAll: false,
    localhostNodePorts: true,
    nodePortIPs: undefined,
    randomFully: true,
    conntrackTCPLiberal: false,
    ...identity,
    ...rest,
    nfacct: nfacctCounters(overrideNfacct ?? requiredNfacct ?? true),
  };
}

function nfacctCounters(nfacct: boolean | KubeProxyNfacctCounters): KubeProxyNfacctCounters {
  if (typeof nfacct !== "boolean") return { ...nfacct };
  return { ctStateInvalidDroppedPkts: nfacct, localhostNodePortsAcceptedPkts: nfacct };
}
