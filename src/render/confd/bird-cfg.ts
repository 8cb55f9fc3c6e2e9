/**
 * bird.cfg and bird6.cfg as confd renders them from calico's bird.cfg.template / bird6.cfg.template (calico
 * 87c15906), whitespace included: `{{-` trims what precedes an action, so each optional line is emitted as
 * "\n<line>" after the line before it. The input is the peering model `calc` computes (bgpPeeringModel), restated
 * here structurally because render does not import calc.
 */

/** One `protocol bgp` (confd's types.BirdBGPPeer); "" / false = absent. */
export interface BirdCfgPeer {
  name: string;
  ip: string;
  port: string;
  asNumber: string;
  localAsNumber: string;
  importFilter: string;
  exportFilter: string;
  password: string;
  ttlSecurity: string;
  routeReflector: boolean;
  rrClusterId: string;
  sourceAddr: string;
  nextHopSelf: boolean;
  nextHopKeep: boolean;
  passive: boolean;
  gracefulRestart: string;
  keepaliveTime: string;
  numAllowLocalAs: string;
}

/** What the bird.cfg templates read from getBGPConfig (types.BirdBGPConfig, peering part). */
export interface BirdCfgInput {
  family: 4 | 6;
  nodeIp: string;
  nodeIpv6: string;
  asNumber: string;
  routerId: string;
  debugMode: string;
  peerDebugMode: string;
  listenAddress: string;
  listenPort: string;
  directInterfaces: string;
  communities: readonly { cidr: string; addStatements: readonly string[] }[];
  filterFunctions: readonly string[];
  peers: readonly BirdCfgPeer[];
}

const DEFAULT_DIRECT = `-"cali*", -"kube-ipvs*", "*"`;

const DIRECT_COMMENT = ` # Exclude cali* and kube-ipvs* but
                                          # include everything else.  In
                                          # IPVS-mode, kube-proxy creates a
                                          # kube-ipvs0 interface. We exclude
                                          # kube-ipvs0 because this interface
                                          # gets an address for every in use
                                          # cluster IP. We use static routes
                                          # for when we legitimately want to
                                          # export cluster IPs.`;

const KERNEL_TEMPLATE = `template kernel kernel_template {
  learn;             # Learn all alien routes from the kernel
  persist;           # Don't remove routes on bird shutdown
  scan time 2;       # Scan kernel routing table every 2 seconds
  import all;
}`;

const KERNEL_PROTOCOL = `# Configure synchronization between routing tables and kernel.
protocol kernel from kernel_template {
  export filter calico_kernel_programming; # Default is export none
  graceful restart;  # Turn on graceful restart to reduce potential flaps in
                     # routes when reloading BIRD configuration.  With a full
                     # automatic mesh, there is no way to prevent BGP from
                     # flapping since multiple nodes update their BGP
                     # configuration at the same time, GR is not guaranteed to
                     # work correctly in this scenario.
  merge paths on;    # Allow export multipath routes (ECMP)
}`;

function renderPeer(p: BirdCfgPeer): string {
  let s = `\nprotocol bgp ${p.name} from bgp_template {`;
  if (p.localAsNumber) s += `\n  local as ${p.localAsNumber};`;
  s += `\n  neighbor ${p.ip}${p.port ? ` port ${p.port}` : ""} as ${p.asNumber};`;
  if (p.sourceAddr)
    s += `\n  source address ${p.sourceAddr};  # The local address we use for the TCP connection`;
  if (p.ttlSecurity === "off") s += "\n  ttl security off;";
  else if (p.ttlSecurity) s += "\n  ttl security on;";
  s += p.ttlSecurity && p.ttlSecurity !== "off" ? `\n  multihop ${p.ttlSecurity};` : "\n  multihop;";
  s += p.importFilter
    ? `\n  import filter {\n    ${p.importFilter}\n  };`
    : "\n  import all;        # Import all routes, since we don't know what the upstream\n                     # topology is and therefore have to trust the ToR/RR.";
  s += p.exportFilter
    ? `\n  export filter {\n    ${p.exportFilter}\n  };  # Only want to export routes for workloads.`
    : "\n  export all;";
  if (p.passive) s += "\n  passive on;";
  if (p.gracefulRestart) s += `\n  graceful restart time ${p.gracefulRestart};`;
  if (p.keepaliveTime) s += `\n  keepalive time ${p.keepaliveTime};`;
  if (p.routeReflector && p.rrClusterId) s += `\n  rr client;\n  rr cluster id ${p.rrClusterId};`;
  if (p.password) s += `\n  password "${p.password}";`;
  if (p.nextHopKeep) s += "\n  next hop keep;";
  if (p.nextHopSelf) s += "\n  next hop self;";
  if (p.numAllowLocalAs) s += `\n  allow local as ${p.numAllowLocalAs};`;
  return `${s}\n}`;
}

/** bird.cfg (family 4) or bird6.cfg (family 6), byte for byte as the template renders it. */
export function renderBirdCfg(c: BirdCfgInput): string {
  const v6 = c.family === 6;
  let s = "function apply_communities ()\n{";
  for (const rule of c.communities) {
    s += `\n      if ( net ~ ${rule.cidr} ) then {`;
    for (const a of rule.addStatements) s += `\n          ${a}`;
    s += "\n      }";
  }
  s += `\n}\n\n${KERNEL_TEMPLATE}\n\ntemplate direct direct_template {`;
  if (c.debugMode) s += `\n  debug ${c.debugMode};`;
  s += `\n  interface ${c.directInterfaces};${c.directInterfaces === DEFAULT_DIRECT ? DIRECT_COMMENT : ""}\n}\n\n`;
  s += `# Generated by confd\ninclude "${v6 ? "bird6_aggr.cfg" : "bird_aggr.cfg"}";\ninclude "${v6 ? "bird6_ipam.cfg" : "bird_ipam.cfg"}";\n\n`;
  s += `router id ${c.routerId};`;
  if (c.listenAddress || c.listenPort) {
    s += "\n# BGP listen configuration\nlisten bgp";
    if (c.listenAddress) s += ` address ${c.listenAddress}`;
    if (c.listenPort) s += ` port ${c.listenPort}`;
    s += ";";
  }
  s += `\n\n${KERNEL_PROTOCOL}\n\n# Watch interface up/down events.\nprotocol device {`;
  if (c.debugMode) s += `\n  debug ${c.debugMode};`;
  s +=
    "\n  scan time 2;    # Scan interfaces every 2 seconds\n}\n\nprotocol direct from direct_template {\n}\n\n";
  if ((v6 ? c.nodeIpv6 : c.nodeIp) === "") {
    s += `# IPv${c.family} disabled on this node.\n`;
  } else {
    s += "\n# Template for all BGP clients\ntemplate bgp bgp_template {";
    if (c.peerDebugMode) s += `\n  ${c.peerDebugMode}`;
    s += `\n  description "Connection to BGP peer";\n  local as ${c.asNumber};`;
    s += "\n  gateway recursive; # This should be the default, but just in case.\n  add paths on;";
    s += "\n  graceful restart;  # See comment in kernel section about graceful restart.";
    s += "\n  connect delay time 2;\n  connect retry time 5;\n  error wait time 5,30;\n}\n\n";
    s += "# -------------- BGP Filters ------------------";
    for (const line of c.filterFunctions) s += `\n${line}`;
    if (c.peers.length > 0) {
      s += "\n# BGP Protocol Configurations";
      for (const p of c.peers) s += renderPeer(p);
    } else s += "\n# No BGP peers configured for this node";
    s += "\n\n";
  }
  return `${s}\n`;
}

/**
 * The comparison calico's confd tests make (helpers_test.go normalizeBlankLines): blank lines dropped, one final
 * newline. The golden files are stored in this form.
 */
export function normalizeBlankLines(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}
