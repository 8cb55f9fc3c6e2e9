/**
 * What one service port contributes to kube-proxy's iptables sync (pkg/proxy/iptables/proxier.go
 * syncProxyRules, the body of its per-service-port loop), rendered once per port object and cached.
 */
import { cidrContainsIp, parseCidr, parseIp } from "../../net/index.ts";
import { endpointChainName, joinHostPort, serviceChainNames } from "./chain-names.ts";
import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import {
  categorizeEndpoints,
  externallyAccessible,
  type ProxyEndpoint,
  type ProxyServicePort,
  spnOf,
  usesClusterEndpoints,
} from "./service-ports.ts";

export const KUBE_SERVICES = "KUBE-SERVICES";
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
export const KUBE_FORWARD = "KUBE-FORWARD";
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
export const KUBE_FIREWALL = "KUBE-FIREWALL";
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";

export class Lines {
  readonly lines: string[] = [];
  write(...parts: (string | string[])[]): void {
    this.lines.push(parts.flat().join(" "));
  }
}

export function quoted(text: string): string {
  return `"${text}"`;
}

const probabilities = new Map<number, string>();

/** `%0.10f` of 1/n: the share of the remaining endpoints this rule takes. */
export function probability(n: number): string {
  let p = probabilities.get(n);
  if (p === undefined) {
    p = (1 / n).toFixed(10);
    probabilities.set(n, p);
  }
  return p;
}

/**
 * What one service port contributes to every sync, as blocks of newline-separated lines ("" when none); cached
 * per port object, so an unchanged port costs a few array pushes.
 */
export interface ServicePortTop {
  filter: string;
  /** KUBE-SERVICES and KUBE-NODEPORTS entries. */
  natTop: string;
  /** The port's own SVC/SVL/EXT/FW/SEP chains, in emission order. */
  chains: string[];
}

/**
 * Everything a sync that writes the port's chains needs. The chains' text is not cached: a sync writes it once
 * (a port whose chains are written again is almost always a new object), and keeping 78 MB of it alive at 10k
 * services made the garbage collector copy all of it.
 */
export interface ServicePortRules extends ServicePortTop {
  /** `:CHAIN - [0:0]` lines. */
  chainLines: string[];
  chainRules: string[];
}

export interface RenderSettings {
  config: KubeProxyIptablesConfig;
  largeCluster: boolean;
}

function renderServicePort(sp: ProxyServicePort, settings: RenderSettings): ServicePortRules {
  const { config, largeCluster } = settings;
  const filterRules = new Lines();
  const natTop = new Lines();
  const chainRules = new Lines();
  const chains: string[] = [];
  const localMatch = config.clusterCIDR ? `-s ${config.clusterCIDR}` : undefined;
  const notLocalMatch = config.clusterCIDR ? `! -s ${config.clusterCIDR}` : undefined;
  const nodeIP = parseIp(config.nodeIP);
  const isV6 = config.family === 6;
  const spn = spnOf(sp);
  const proto = sp.protocol.toLowerCase();
  const protoMatch = `-m ${proto} -p ${proto}`;
  const names = serviceChainNames(spn, sp.protocol);
  const { cluster, local, allLocallyReachable, hasAny } = categorizeEndpoints(sp);
  // Each endpoint's chain name is a sha256; computed once per endpoint.
  const epNames = new Map<ProxyEndpoint, string>();
  const epChain = (e: ProxyEndpoint) => {
    let name = epNames.get(e);
    if (name === undefined) {
      name = endpointChainName(spn, sp.protocol, joinHostPort(e.ip, e.port));
      epNames.set(e, name);
    }
    return name;
  };

  const usesClusterChain = cluster.length > 0 && usesClusterEndpoints(sp);
  const usesLocalChain = local.length > 0 && (sp.internalPolicyLocal || sp.externalPolicyLocal);
  const internalChain = sp.internalPolicyLocal ? names.local : names.cluster;
  const hasInternal = sp.internalPolicyLocal ? hasAny && local.length > 0 : hasAny;
  const externalPolicyChain = sp.externalPolicyLocal ? names.local : names.cluster;
  const hasExternal = sp.externalPolicyLocal ? hasAny && local.length > 0 : hasAny;
  const usesExternalChain = hasAny && externallyAccessible(sp);
  const usesFirewallChain = hasAny && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const lbChain = usesFirewallChain ? names.firewall : names.external;

  let internalFilter = { target: "", comment: "" };
  let externalFilter = { target: "", comment: "" };
  if (!hasAny) {
    internalFilter = { target: "REJECT", comment: quoted(`${spn} has no endpoints`) };
    externalFilter = internalFilter;
  } else {
    if (!hasInternal) internalFilter = { target: "DROP", comment: quoted(`${spn} has no local endpoints`) };
    if (!hasExternal) externalFilter = { target: "DROP", comment: quoted(`${spn} has no local endpoints`) };
  }

  // The cluster IP.
  const clusterMatch = [protoMatch, `-d ${sp.clusterIP} --dport ${sp.port}`];
  if (hasInternal)
    natTop.write(
      `-A ${KUBE_SERVICES} -m comment --comment`,
      quoted(`${spn} cluster IP`),
      clusterMatch,
      `-j ${internalChain}`,
    );
  else
    filterRules.write(
      `-A ${KUBE_SERVICES} -m comment --comment`,
      internalFilter.comment,
      clusterMatch,
      `-j ${internalFilter.target}`,
    );

  for (const ip of sp.externalIPs) {
    const match = [protoMatch, `-d ${ip} --dport ${sp.port}`];
    if (hasAny)
      natTop.write(
        `-A ${KUBE_SERVICES} -m comment --comment`,
        quoted(`${spn} external IP`),
        match,
        `-j ${names.external}`,
      );
    if (!hasExternal)
      filterRules.write(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment`,
        externalFilter.comment,
        match,
        `-j ${externalFilter.target}`,
      );
  }

  for (const ip of sp.loadBalancerIPs) {
    const match = [protoMatch, `-d ${ip} --dport ${sp.port}`];
    if (hasAny)
      natTop.write(
        `-A ${KUBE_SERVICES} -m comment --comment`,
        quoted(`${spn} loadbalancer IP`),
        match,
        `-j ${lbChain}`,
      );
    if (usesFirewallChain)
      filterRules.write(
        `-A ${KUBE_PROXY_FIREWALL} -m comment --comment`,
        quoted(`${spn} traffic not accepted by ${names.firewall}`),
        match,
        "-j DROP",
      );
  }
  if (!hasExternal)
    for (const ip of sp.loadBalancerIPs)
      filterRules.write(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment`,
        externalFilter.comment,
        protoMatch,
        `-d ${ip} --dport ${sp.port} -j ${externalFilter.target}`,
      );

  if (sp.nodePort !== 0) {
    if (hasAny) {
      const loopbackAllowed =
        config.nodePortIPs === undefined || config.nodePortIPs.some((ip) => ip.startsWith("127."));
      if (
        !isV6 &&
        config.localhostNodePorts &&
        loopbackAllowed &&
        config.nfacct.localhostNodePortsAcceptedPkts
      )
        natTop.write(
          `-A ${KUBE_NODEPORTS} -m comment --comment ${spn}`,
          protoMatch,
          `-d 127.0.0.0/8 --dport ${sp.nodePort} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${names.external}`,
        );
      natTop.write(
        `-A ${KUBE_NODEPORTS} -m comment --comment ${spn}`,
        protoMatch,
        `--dport ${sp.nodePort} -j ${names.external}`,
      );
    }
    if (!hasExternal)
      filterRules.write(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment`,
        externalFilter.comment,
        "-m addrtype --dst-type LOCAL",
        protoMatch,
        `--dport ${sp.nodePort} -j ${externalFilter.target}`,
      );
  }

  if (sp.healthCheckNodePort !== 0)
    filterRules.write(
      `-A ${KUBE_NODEPORTS} -m comment --comment`,
      quoted(`${spn} health check node port`),
      `-m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );

  const addChain = (chain: string) => {
    chains.push(chain);
  };

  // Off-cluster traffic to the cluster IP is masqueraded: it may have been routed here from anywhere.
  if (hasInternal) {
    const args = [`-A ${internalChain} -m comment --comment`, quoted(`${spn} cluster IP`), ...clusterMatch];
    if (config.masqueradeAll) chainRules.write(args, `-j ${KUBE_MARK_MASQ}`);
    else if (notLocalMatch) chainRules.write(args, notLocalMatch, `-j ${KUBE_MARK_MASQ}`);
  }

  if (usesExternalChain) {
    addChain(names.external);
    if (!sp.externalPolicyLocal) {
      chainRules.write(
        `-A ${names.external} -m comment --comment`,
        quoted(`masquerade traffic for ${spn} external destinations`),
        `-j ${KUBE_MARK_MASQ}`,
      );
    } else {
      // Pods reaching an external address of the service behave as if the traffic came back in from outside.
      if (localMatch)
        chainRules.write(
          `-A ${names.external} -m comment --comment`,
          quoted(`pod traffic for ${spn} external destinations`),
          localMatch,
          `-j ${names.cluster}`,
        );
      chainRules.write(
        `-A ${names.external} -m comment --comment`,
        quoted(`masquerade LOCAL traffic for ${spn} external destinations`),
        `-m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      );
      chainRules.write(
        `-A ${names.external} -m comment --comment`,
        quoted(`route LOCAL traffic for ${spn} external destinations`),
        `-m addrtype --src-type LOCAL -j ${names.cluster}`,
      );
    }
    if (hasExternal) chainRules.write(`-A ${names.external} -j ${externalPolicyChain}`);
  }

  if (usesFirewallChain) {
    addChain(names.firewall);
    const args = `-A ${names.firewall} -m comment --comment ${quoted(`${spn} loadbalancer IP`)}`;
    let allowFromNode = false;
    for (const range of sp.loadBalancerSourceRanges) {
      chainRules.write(args, `-s ${range} -j ${names.external}`);
      const cidr = parseCidr(range);
      if (cidr && nodeIP && cidr.family === nodeIP.family && cidrContainsIp(cidr, nodeIP))
        allowFromNode = true;
    }
    // A VIP bound locally loops requests from this node back with the VIP as source.
    if (allowFromNode)
      for (const ip of sp.loadBalancerIPs) chainRules.write(args, `-s ${ip} -j ${names.external}`);
    chainRules.write(
      `-A ${names.firewall} -m comment --comment`,
      quoted(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`),
    );
  }

  // The per-endpoint rules are most of a large ruleset, so they are built as plain template strings.
  const writeServiceToEndpoints = (chain: string, endpoints: ProxyEndpoint[]) => {
    const comment = (e: ProxyEndpoint) =>
      largeCluster ? "" : ` -m comment --comment "${spn} -> ${joinHostPort(e.ip, e.port)}"`;
    if (sp.affinityTimeoutSeconds !== undefined)
      for (const e of endpoints)
        chainRules.lines.push(
          `-A ${chain}${comment(e)} -m recent --name ${epChain(e)} --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap -j ${epChain(e)}`,
        );
    const n = endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = endpoints[i]!;
      const statistic = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : "";
      chainRules.lines.push(`-A ${chain}${comment(e)}${statistic} -j ${epChain(e)}`);
    }
  };
  if (usesClusterChain) {
    addChain(names.cluster);
    writeServiceToEndpoints(names.cluster, cluster);
  }
  if (usesLocalChain) {
    addChain(names.local);
    writeServiceToEndpoints(names.local, local);
  }

  const sepComment = largeCluster ? "" : ` -m comment --comment ${spn}`;
  for (const e of allLocallyReachable) {
    const chain = epChain(e);
    addChain(chain);
    // Hairpin: a pod reaching itself through the service must be masqueraded or it would answer itself directly.
    chainRules.lines.push(`-A ${chain}${sepComment} -s ${e.ip} -j ${KUBE_MARK_MASQ}`);
    const affinity = sp.affinityTimeoutSeconds !== undefined ? ` -m recent --name ${chain} --set` : "";
    chainRules.lines.push(
      `-A ${chain}${sepComment}${affinity} ${protoMatch} -j DNAT --to-destination ${joinHostPort(e.ip, e.port)}`,
    );
  }
  return {
    filter: filterRules.lines.join("\n"),
    natTop: natTop.lines.join("\n"),
    chains,
    chainLines: chains.map((c) => `:${c} - [0:0]`),
    chainRules: chainRules.lines,
  };
}

const renderCache = new WeakMap<ProxyServicePort, { settings: string; top: ServicePortTop }>();

/** The port's cached entries (rendered on first use for these settings). */
export function servicePortTop(sp: ProxyServicePort, settings: RenderSettings, key: string): ServicePortTop {
  const hit = renderCache.get(sp);
  if (hit && hit.settings === key) return hit.top;
  return servicePortRules(sp, settings, key);
}

/** The port rendered in full, for a sync that writes its chains; its entries are cached on the way. */
export function servicePortRules(
  sp: ProxyServicePort,
  settings: RenderSettings,
  key: string,
): ServicePortRules {
  const rules = renderServicePort(sp, settings);
  renderCache.set(sp, {
    settings: key,
    top: { filter: rules.filter, natTop: rules.natTop, chains: rules.chains },
  });
  return rules;
}
