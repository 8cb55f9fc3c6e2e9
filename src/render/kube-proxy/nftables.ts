import { cidrContainsIp, parseCidr, parseIp } from "../../net/index.ts";
import { joinHostPort, nftEndpointChainBase, nftServiceChainBase } from "./chain-names.ts";
import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import {
  categorizeEndpoints,
  externallyAccessible,
  type ProxyEndpoint,
  type ProxyServicePort,
  spnOf,
  usesClusterEndpoints,
} from "./service-ports.ts";

export interface NftablesInput {
  config: KubeProxyIptablesConfig;
  /** The service CIDRs: traffic to an unallocated address in them is dropped (cluster-ips-check). */
  serviceCIDRs: string[];
  servicePorts: ProxyServicePort[];
}

/**
 * One full sync of kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go) as an `nft -f` script: table
 * `kube-proxy`, base chains per hook, and dispatch through verdict maps (`service-ips`, `service-nodeports`,
 * `no-endpoint-services`, `firewall-ips`) instead of a linear KUBE-SERVICES chain.
 */
export function renderNftables(input: NftablesInput): string {
  const { config } = input;
  const fam = config.family === 4 ? "ip" : "ip6";
  const addrType = config.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const T = `${fam} kube-proxy`;
  const mark = `0x${Number.parseInt(config.masqueradeMark, 16).toString(16)}`;
  const out: string[] = [];
  const add = (line: string) => out.push(line);
  const chain = (name: string, extra = "") => add(`add chain ${T} ${name}${extra}`);
  const rule = (name: string, body: string) => add(`add rule ${T} ${name} ${body}`);

  add(`add table ${T} { comment "rules for kube-proxy" ; }`);
  const set = (name: string, type: string, comment: string) =>
    add(`add set ${T} ${name} { type ${type} ; comment "${comment}" ; }`);
  const map = (name: string, type: string, comment: string) =>
    add(`add map ${T} ${name} { type ${type} : verdict ; comment "${comment}" ; }`);
  set("cluster-ips", addrType, "Active ClusterIPs");
  set("nodeport-ips", addrType, "IPs that accept NodePort traffic");
  map(
    "service-ips",
    `${addrType} . inet_proto . inet_service`,
    "ClusterIP, ExternalIP and LoadBalancer IP traffic",
  );
  map("service-nodeports", "inet_proto . inet_service", "NodePort traffic");
  map(
    "no-endpoint-services",
    `${addrType} . inet_proto . inet_service`,
    "vmap to drop or reject packets to services with no endpoints",
  );
  map(
    "no-endpoint-nodeports",
    "inet_proto . inet_service",
    "vmap to drop or reject packets to service nodeports with no endpoints",
  );
  map(
    "firewall-ips",
    `${addrType} . inet_proto . inet_service`,
    "destinations that are subject to LoadBalancerSourceRanges",
  );
  chain("mark-for-masquerade");
  rule("mark-for-masquerade", `mark set mark or ${mark}`);
  chain("masquerading");
  rule("masquerading", `mark and ${mark} == 0 return`);
  rule("masquerading", `mark set mark xor ${mark}`);
  rule("masquerading", `masquerade${config.randomFully ? " fully-random" : ""}`);
  chain("services");
  chain("service-endpoints-check");
  rule("service-endpoints-check", `${fam} daddr . meta l4proto . th dport vmap @no-endpoint-services`);
  chain("nodeport-endpoints-check");
  rule(
    "nodeport-endpoints-check",
    `${fam} daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
  );
  chain("firewall-check");
  rule("firewall-check", `${fam} daddr . meta l4proto . th dport vmap @firewall-ips`);
  chain("reject-chain", ' { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }');
  rule("reject-chain", "reject");
  chain("cluster-ips-check");
  rule(
    "cluster-ips-check",
    `${fam} daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"`,
  );
  if (input.serviceCIDRs.length > 0)
    rule(
      "cluster-ips-check",
      `${fam} daddr { ${input.serviceCIDRs.join(", ")} } drop comment "Drop traffic to unallocated ClusterIPs"`,
    );
  const base = (name: string, type: string, hook: string, priority: string) =>
    chain(name, ` { type ${type} hook ${hook} priority ${priority} ; }`);
  base("filter-prerouting", "filter", "prerouting", "-110");
  rule("filter-prerouting", "ct state new jump firewall-check");
  base("filter-input", "filter", "input", "-110");
  rule("filter-input", "ct state new jump nodeport-endpoints-check");
  rule("filter-input", "ct state new jump service-endpoints-check");
  base("filter-forward", "filter", "forward", "-110");
  rule("filter-forward", "ct state new jump service-endpoints-check");
  rule("filter-forward", "ct state new jump cluster-ips-check");
  base("filter-output", "filter", "output", "-110");
  rule("filter-output", "ct state new jump service-endpoints-check");
  rule("filter-output", "ct state new jump firewall-check");
  base("filter-output-post-dnat", "filter", "output", "-90");
  rule("filter-output-post-dnat", "ct state new jump cluster-ips-check");
  base("nat-prerouting", "nat", "prerouting", "-100");
  rule("nat-prerouting", "jump services");
  base("nat-output", "nat", "output", "-100");
  rule("nat-output", "jump services");
  base("nat-postrouting", "nat", "postrouting", "100");
  rule("nat-postrouting", "jump masquerading");

  rule("services", `${fam} daddr . meta l4proto . th dport vmap @service-ips`);
  rule("services", `${fam} daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`);
  const nodePortIPs = config.nodePortIPs ?? [config.nodeIP];
  add(`add element ${T} nodeport-ips { ${nodePortIPs.join(", ")} }`);

  const localMatch = config.clusterCIDR ? `${fam} saddr ${config.clusterCIDR}` : undefined;
  const nodeIP = parseIp(config.nodeIP);
  const ordered = [...input.servicePorts].sort((a, b) =>
    spnOf(a) + a.protocol < spnOf(b) + b.protocol ? -1 : 1,
  );
  for (const sp of ordered) {
    const spn = spnOf(sp);
    const proto = sp.protocol.toLowerCase();
    const baseName = nftServiceChainBase(sp.namespace, sp.name, sp.protocol, sp.portName);
    const names = {
      cluster: `service-${baseName}`,
      local: `local-${baseName}`,
      external: `external-${baseName}`,
      firewall: `firewall-${baseName}`,
    };
    const epBase = (e: ProxyEndpoint) =>
      nftEndpointChainBase(sp.namespace, sp.name, sp.protocol, sp.portName, e.ip, e.port);
    const { cluster, local, allLocallyReachable, hasAny } = categorizeEndpoints(sp);
    const internalChain = sp.internalPolicyLocal ? names.local : names.cluster;
    const hasInternal = sp.internalPolicyLocal ? hasAny && local.length > 0 : hasAny;
    const hasExternal = sp.externalPolicyLocal ? hasAny && local.length > 0 : hasAny;
    const externalPolicyChain = sp.externalPolicyLocal ? names.local : names.cluster;
    const usesExternal = hasAny && externallyAccessible(sp);
    const usesFirewall = hasAny && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    const key = (ip: string) => `${ip} . ${proto} . ${sp.port}`;
    const noEndpointsVerdict = hasAny ? "drop" : "goto reject-chain";
    const element = (m: string, k: string, verdict: string) =>
      add(`add element ${T} ${m} { ${k} comment "${spn}" : ${verdict} }`);

    add(`add element ${T} cluster-ips { ${sp.clusterIP} }`);
    if (hasInternal) element("service-ips", key(sp.clusterIP), `goto ${internalChain}`);
    else element("no-endpoint-services", key(sp.clusterIP), noEndpointsVerdict);
    for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
      if (hasAny) element("service-ips", key(ip), `goto ${names.external}`);
      if (!hasExternal) element("no-endpoint-services", key(ip), noEndpointsVerdict);
    }
    if (usesFirewall)
      for (const ip of sp.loadBalancerIPs) element("firewall-ips", key(ip), `goto ${names.firewall}`);
    if (sp.nodePort !== 0) {
      if (hasAny) element("service-nodeports", `${proto} . ${sp.nodePort}`, `goto ${names.external}`);
      if (!hasExternal) element("no-endpoint-nodeports", `${proto} . ${sp.nodePort}`, noEndpointsVerdict);
    }

    if (sp.affinityTimeoutSeconds !== undefined)
      for (const e of allLocallyReachable)
        add(
          `add set ${T} affinity-${epBase(e)} { type ${addrType} ; flags dynamic,timeout ; timeout ${sp.affinityTimeoutSeconds}s ; }`,
        );
    const writeEndpoints = (name: string, endpoints: ProxyEndpoint[], masqueradeClusterIP: boolean) => {
      chain(name);
      if (masqueradeClusterIP) {
        const match = `${fam} daddr ${sp.clusterIP} ${proto} dport ${sp.port}`;
        if (config.masqueradeAll) rule(name, `${match} jump mark-for-masquerade`);
        else if (config.clusterCIDR)
          rule(name, `${match} ${fam} saddr != ${config.clusterCIDR} jump mark-for-masquerade`);
      }
      if (sp.affinityTimeoutSeconds !== undefined)
        for (const e of endpoints)
          rule(name, `${fam} saddr @affinity-${epBase(e)} goto endpoint-${epBase(e)}`);
      if (endpoints.length > 0)
        rule(
          name,
          `numgen random mod ${endpoints.length} vmap { ${endpoints.map((e, i) => `${i} : goto endpoint-${epBase(e)}`).join(" , ")} }`,
        );
    };
    if (cluster.length > 0 && usesClusterEndpoints(sp))
      writeEndpoints(names.cluster, cluster, !sp.internalPolicyLocal);
    if (local.length > 0 && (sp.internalPolicyLocal || sp.externalPolicyLocal))
      writeEndpoints(names.local, local, sp.internalPolicyLocal);

    if (usesExternal) {
      chain(names.external);
      if (!sp.externalPolicyLocal) rule(names.external, "jump mark-for-masquerade");
      else {
        if (localMatch)
          rule(names.external, `${localMatch} goto ${names.cluster} comment "short-circuit pod traffic"`);
        rule(
          names.external,
          'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
        );
        rule(
          names.external,
          `fib saddr type local goto ${names.cluster} comment "short-circuit local traffic"`,
        );
      }
      if (hasExternal) rule(names.external, `goto ${externalPolicyChain}`);
    }

    if (usesFirewall) {
      chain(names.firewall);
      const sources = [...sp.loadBalancerSourceRanges];
      const allowNode = sp.loadBalancerSourceRanges.some((r) => {
        const c = parseCidr(r);
        return c && nodeIP && c.family === nodeIP.family && cidrContainsIp(c, nodeIP);
      });
      if (allowNode) sources.push(...sp.loadBalancerIPs);
      rule(names.firewall, `${fam} saddr != { ${sources.join(", ")} } drop`);
    }

    for (const e of allLocallyReachable) {
      const name = `endpoint-${epBase(e)}`;
      chain(name);
      rule(name, `${fam} saddr ${e.ip} jump mark-for-masquerade`);
      if (sp.affinityTimeoutSeconds !== undefined)
        rule(name, `update @affinity-${epBase(e)} { ${fam} saddr }`);
      rule(name, `meta l4proto ${proto} dnat to ${joinHostPort(e.ip, e.port)}`);
    }
  }
  // nft resolves a set or chain name when it meets it, so every table, set, map and chain is declared before
  // the rules and elements that name them, as kube-proxy's transaction does ("No such file or directory").
  const rank = (l: string) =>
    l.startsWith("add table ") ? 0 : /^add (set|map) /.test(l) ? 1 : l.startsWith("add chain ") ? 2 : 3;
  const lines = out.map((l, i) => ({ l, i })).sort((a, b) => rank(a.l) - rank(b.l) || a.i - b.i);
  return `${lines.map((x) => x.l).join("\n")}\n`;
}
