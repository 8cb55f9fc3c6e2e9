import { cidrContainsIp, parseCidr, parseIp } from "../../net/index.ts";
import { endpointChainName, isServiceChainName, joinHostPort, serviceChainNames } from "./chain-names.ts";
import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import {
  categorizeEndpoints,
  externallyAccessible,
  type ProxyEndpoint,
  type ProxyServicePort,
  serviceKeyOf,
  spnOf,
  usesClusterEndpoints,
} from "./service-ports.ts";

/** kube-proxy switches to terse rules (no per-endpoint comments) above this many endpoints. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

const KUBE_SERVICES = "KUBE-SERVICES";
const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
const KUBE_FORWARD = "KUBE-FORWARD";
const KUBE_NODEPORTS = "KUBE-NODEPORTS";
const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
const KUBE_FIREWALL = "KUBE-FIREWALL";
const KUBE_POSTROUTING = "KUBE-POSTROUTING";
const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";

export interface IptablesSyncInput {
  config: KubeProxyIptablesConfig;
  servicePorts: ProxyServicePort[];
  /**
   * Partial sync (KEP-3453): only these services' (`ns/name`) SVC/SVL/EXT/FW/SEP chains are written; the
   * others keep what the kernel has. Undefined: a full sync writes every chain.
   */
  changedServices: ReadonlySet<string> | undefined;
  /**
   * Chains that may be stale: each is deleted unless a service written in this sync still uses it. On a full
   * sync, the nat chains the kernel has (`iptables-save -t nat`); on a partial sync, only chains that belonged
   * to the changed services (a chain's name hashes its service port, so it cannot belong to another service).
   */
  staleCandidates: Iterable<string>;
}

export interface IptablesSyncOutput {
  /** The `iptables-restore --noflush` payload: `*filter … COMMIT` then `*nat … COMMIT`. */
  restore: string;
  filter: string;
  nat: string;
  /** The chains each written service (`ns/name`) uses now. */
  serviceChains: Map<string, string[]>;
  /** Chains given a `:CHAIN` line (and so flushed and rewritten) in this payload. */
  writtenNatChains: Set<string>;
  /** Stale service chains this payload deletes. */
  deletedNatChains: string[];
}

class Lines {
  readonly lines: string[] = [];
  write(...parts: (string | string[])[]): void {
    this.lines.push(parts.flat().join(" "));
  }
}

function quoted(text: string): string {
  return `"${text}"`;
}

interface Table {
  chains: Lines;
  rules: Lines;
}

/**
 * One sync of kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go syncProxyRules), as pure text.
 * Services are emitted in service-port-name order; kube-proxy uses Go map order, so only the order of
 * rules between services differs, which iptables does not care about.
 */
export function renderIptablesSync(input: IptablesSyncInput): IptablesSyncOutput {
  const { config } = input;
  const isV6 = config.family === 6;
  const mark = config.masqueradeMark;
  const filter: Table = { chains: new Lines(), rules: new Lines() };
  const nat: Table = { chains: new Lines(), rules: new Lines() };
  const writtenNatChains = new Set<string>();

  for (const chain of [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
  ])
    filter.chains.write(`:${chain} - [0:0]`);
  for (const chain of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]) {
    nat.chains.write(`:${chain} - [0:0]`);
    writtenNatChains.add(chain);
  }
  if (config.localhostNodePorts && !isV6) {
    filter.chains.write(`:${KUBE_FIREWALL} - [0:0]`);
    filter.rules.write(
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections"`,
      "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
    );
  }
  nat.rules.write(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  // Clear the mark so a packet re-traversing the rules (e.g. after encapsulation) is not masqueraded again.
  nat.rules.write(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  nat.rules.write(
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${config.randomFully ? " --random-fully" : ""}`,
  );
  nat.rules.write(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);

  const totalEndpoints = input.servicePorts.reduce((n, sp) => n + sp.endpoints.length, 0);
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;
  const settings: RenderSettings = { config, largeCluster };
  const settingsKey = `${JSON.stringify(config)}|${largeCluster}`;
  const serviceChains = new Map<string, string[]>();
  const ordered = [...input.servicePorts].sort((a, b) => cmp(sortKey(a), sortKey(b)));
  for (const sp of ordered) {
    const rules = cachedServicePort(sp, settings, settingsKey);
    if (rules.filter) filter.rules.lines.push(rules.filter);
    if (rules.natTop) nat.rules.lines.push(rules.natTop);
    const key = serviceKeyOf(sp);
    if (input.changedServices !== undefined && !input.changedServices.has(key)) continue;
    const list = serviceChains.get(key);
    if (list) list.push(...rules.chains);
    else serviceChains.set(key, [...rules.chains]);
    for (const c of rules.chains) writtenNatChains.add(c);
    if (rules.chainLines) nat.chains.lines.push(rules.chainLines);
    if (rules.chainRules) nat.rules.lines.push(rules.chainRules);
  }

  const deletedNatChains: string[] = [];
  for (const chain of [...new Set(input.staleCandidates)].sort()) {
    if (writtenNatChains.has(chain) || !isServiceChainName(chain)) continue;
    // A chain line flushes the chain, so the delete cannot fail on leftover rules.
    nat.chains.write(`:${chain} - [0:0]`);
    nat.rules.write(`-X ${chain}`);
    deletedNatChains.push(chain);
  }

  const lastRuleComment = quoted(
    "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
  );
  if (config.nodePortIPs === undefined) {
    const destination = ["-m addrtype --dst-type LOCAL"];
    if (isV6) destination.push("! -d ::1/128");
    else if (!config.localhostNodePorts) destination.push("! -d 127.0.0.0/8");
    nat.rules.write(
      `-A ${KUBE_SERVICES} -m comment --comment`,
      lastRuleComment,
      destination,
      `-j ${KUBE_NODEPORTS}`,
    );
  } else {
    for (const ip of config.nodePortIPs) {
      const loopback = ip.startsWith("127.") || ip === "::1";
      if (loopback && (isV6 || !config.localhostNodePorts)) continue;
      nat.rules.write(
        `-A ${KUBE_SERVICES} -m comment --comment`,
        lastRuleComment,
        `-d ${ip} -j ${KUBE_NODEPORTS}`,
      );
    }
  }

  if (!config.conntrackTCPLiberal)
    filter.rules.write(
      `-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID`,
      config.nfacct.ctStateInvalidDroppedPkts ? "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts" : [],
      "-j DROP",
    );
  filter.rules.write(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filter.rules.write(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  const filterText = `*filter\n${joinLines(filter.chains.lines)}${joinLines(filter.rules.lines)}COMMIT\n`;
  const natText = `*nat\n${joinLines(nat.chains.lines)}${joinLines(nat.rules.lines)}COMMIT\n`;
  return {
    restore: filterText + natText,
    filter: filterText,
    nat: natText,
    serviceChains,
    writtenNatChains,
    deletedNatChains,
  };
}

const sortKeys = new WeakMap<ProxyServicePort, string>();

function sortKey(sp: ProxyServicePort): string {
  let k = sortKeys.get(sp);
  if (k === undefined) {
    k = spnOf(sp) + sp.protocol;
    sortKeys.set(sp, k);
  }
  return k;
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

/** Each line followed by a newline (no array spreading: a large sync has a million lines). */
function joinLines(lines: string[]): string {
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * What one service port contributes to a sync, as blocks of newline-separated lines ("" when none); cached per
 * port object, so an unchanged port costs a few array pushes.
 */
interface ServicePortRules {
  filter: string;
  /** KUBE-SERVICES and KUBE-NODEPORTS entries. */
  natTop: string;
  /** The port's own SVC/SVL/EXT/FW/SEP chains, in emission order. */
  chains: string[];
  chainLines: string;
  chainRules: string;
}

interface RenderSettings {
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
    chainLines: chains.map((c) => `:${c} - [0:0]`).join("\n"),
    chainRules: chainRules.lines.join("\n"),
  };
}

const renderCache = new WeakMap<ProxyServicePort, { settings: string; rules: ServicePortRules }>();

function cachedServicePort(sp: ProxyServicePort, settings: RenderSettings, key: string): ServicePortRules {
  const hit = renderCache.get(sp);
  if (hit && hit.settings === key) return hit.rules;
  const rules = renderServicePort(sp, settings);
  renderCache.set(sp, { settings: key, rules });
  return rules;
}
