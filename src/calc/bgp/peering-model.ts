import { sha256 } from "../../lib/index.ts";
import { bgpFilterFunctions, peerFilterTexts } from "./bgp-filters.ts";
import { ConfdView } from "./confd-view.ts";
import { durationSecondsText } from "./go-values.ts";
import type { ConfdInput } from "./input.ts";
import { peeringsFor, type V1Peering } from "./peerings.ts";

/**
 * The peering part of confd's GetBirdBGPConfig (bgp_processor.go) for one node and family: everything bird.cfg /
 * bird6.cfg print. All values are the strings the Go template prints ("" = absent).
 */

/** One `protocol bgp` (types.BirdBGPPeer). */
export interface BirdPeer {
  /** Mesh_<ip>, Global_<ip>, Node_<ip> or Local_Workload_<ip>, with `_port_<n>` when a port is set. */
  name: string;
  ip: string;
  port: string;
  asNumber: string;
  localAsNumber: string;
  type: "mesh" | "global" | "node" | "local_workload";
  /** The body of `import filter { … }` (lines joined with "\n    "). */
  importFilter: string;
  exportFilter: string;
  password: string;
  /** "off", or the hop count for `ttl security on; multihop <n>;`. */
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

/** A prefixAdvertisements entry: the community statements apply_communities() runs for routes in cidr. */
export interface CommunityRule {
  cidr: string;
  addStatements: string[];
}

export interface BgpPeeringModel {
  family: 4 | 6;
  nodeName: string;
  /** This node's IPv4 BGP address ("" when it has none: bird.cfg then says IPv4 is disabled). */
  nodeIp: string;
  nodeIpv6: string;
  asNumber: string;
  routerId: string;
  /** debug, info or none. */
  logLevel: string;
  /** "all", "{ states }" or "" (none). */
  debugMode: string;
  peerDebugMode: string;
  listenAddress: string;
  listenPort: string;
  /** The `interface` patterns of protocol direct. */
  directInterfaces: string;
  normalRoutePriority: number;
  communities: CommunityRule[];
  /** BGPFilter function definitions, one line each. */
  filterFunctions: string[];
  /** Sorted by name. */
  peers: BirdPeer[];
}

/** The interface patterns protocol direct uses when no interface is ignored. */
export const DEFAULT_DIRECT_INTERFACES = `-"cali*", -"kube-ipvs*", "*"`;

const STANDARD_COMMUNITY = /^(\d+):(\d+)$/;
const LARGE_COMMUNITY = /^(\d+):(\d+):(\d+)$/;

/** template.HashToIPv4: the first four bytes of SHA-256(node name), with the first octet kept out of 224+. */
export function hashToIPv4(nodeName: string): string {
  const h = sha256(nodeName);
  const first = h[0]! > 223 ? h[0]! - 32 : h[0]!;
  return `${first}.${h[1]}.${h[2]}.${h[3]}`;
}

export class ConfdNodeError extends Error {}

// biome-ignore lint/suspicious/noExplicitAny: BGPConfiguration specs are plain JSON
type Spec = Record<string, any>;

/** getPrefixAdvertisementsKVPair + processCommunityRules for one BGPConfiguration spec and family. */
function communityRules(spec: Spec, family: 4 | 6): CommunityRule[] {
  const defined: Spec[] = Array.isArray(spec.communities) ? spec.communities : [];
  const out: CommunityRule[] = [];
  for (const adv of spec.prefixAdvertisements as Spec[]) {
    const cidr = typeof adv?.cidr === "string" ? adv.cidr : "";
    if (cidr.includes(":") !== (family === 6)) continue;
    const set = new Set<string>();
    for (const c of Array.isArray(adv.communities) ? adv.communities : []) {
      if (typeof c !== "string") continue;
      if (STANDARD_COMMUNITY.test(c) || LARGE_COMMUNITY.test(c)) set.add(c);
      else {
        const d = defined.find((x) => x?.name === c);
        if (d && typeof d.value === "string") set.add(d.value);
      }
    }
    if (cidr === "") continue;
    const statements: string[] = [];
    for (const c of [...set].sort()) {
      const parts = c.split(":");
      if (parts.length === 2) statements.push(`bgp_community.add((${parts[0]}, ${parts[1]}));`);
      else if (parts.length === 3)
        statements.push(`bgp_large_community.add((${parts[0]}, ${parts[1]}, ${parts[2]}));`);
    }
    if (statements.length > 0) out.push({ cidr, addStatements: statements });
  }
  return out;
}

const ipForName = (ip: string, family: 4 | 6) =>
  family === 4 ? ip.replaceAll(".", "_") : ip.replaceAll(":", "_");

/**
 * The BIRD peering model of `input.node` for one family (GetBirdBGPConfig without the IP pool filters, which
 * bird_ipam.cfg uses). Throws ConfdNodeError when the node has no Calico Node (confd then renders nothing).
 * Pass a ConfdView to share it with bgpRoutingModel.
 */
export function bgpPeeringModel(input: ConfdInput | ConfdView, family: 4 | 6): BgpPeeringModel {
  const view = ConfdView.of(input);
  const me = view.node(view.nodeName);
  if (!me)
    throw new ConfdNodeError(
      `node ${view.nodeName} has no Calico Node: confd cannot render its BGP configuration`,
    );
  const global = view.globalConfig;
  const asNumber = view.asOf(me.name);
  const logLevel = view.logLevel(me.name);
  const debugMode = logLevel === "none" ? "" : logLevel === "debug" ? "all" : "{ states }";
  const peerDebugMode =
    logLevel === "none"
      ? ""
      : logLevel === "debug"
        ? "debug all;"
        : "debug { states, routes, filters, events };";
  const envRouterId = view.env.CALICO_ROUTER_ID ?? "";
  const routerId = envRouterId === "hash" ? hashToIPv4(me.name) : envRouterId !== "" ? envRouterId : me.ipv4;
  let listenAddress = "";
  if (global?.bindMode === "NodeIP") listenAddress = family === 6 ? me.ipv6 : me.ipv4;
  const ignored: unknown[] = Array.isArray(global?.ignoredInterfaces) ? global.ignoredInterfaces : [];
  const directInterfaces = [...ignored.map((i) => `-"${String(i)}"`), DEFAULT_DIRECT_INTERFACES].join(", ");
  const priority = view.normalRoutePriority(family);
  const currentIp = family === 4 ? me.ipv4 : me.ipv6;

  const peers: BirdPeer[] = [];
  const filterArgs = (names: readonly string[], peerAS: string, nodeAS: string) =>
    peerFilterTexts(view.bgpFilters, names, peerAS, nodeAS, family, priority);

  // Node-to-node mesh, unless this node is a route reflector.
  if (me.rrClusterId === "" && view.meshEnabled()) {
    const password = view.meshPassword();
    const restart = durationSecondsText(global?.nodeMeshMaxRestartTime);
    for (const host of view.nodes.values()) {
      const peerIp = family === 4 ? host.ipv4 : host.ipv6;
      if (peerIp === "" || peerIp === currentIp || host.rrClusterId !== "") continue;
      const peerAS = host.asNum || asNumber;
      peers.push({
        ...blankPeer(),
        name: `Mesh_${ipForName(peerIp, family)}`,
        ip: peerIp,
        port: view.listenPortText(host.name),
        asNumber: peerAS,
        type: "mesh",
        sourceAddr: currentIp,
        ttlSecurity: "off",
        password,
        gracefulRestart: restart,
        passive: peerIp > currentIp,
        ...filterArgs([], peerAS, asNumber),
      });
    }
  }

  const { global: globalPeers, node: nodePeers } = peeringsFor(view, family);
  const build = (p: V1Peering, prefix: string): BirdPeer | undefined => {
    if (p.ip === "" || p.ip === currentIp) return undefined;
    const type = prefix.toLowerCase() as BirdPeer["type"];
    let name = `${prefix}_${ipForName(p.ip, family)}`;
    if (p.port > 0) name += `_port_${p.port}`;
    const peerAS = String(p.asNum);
    const localAs = p.localAsNum !== 0 ? String(p.localAsNum) : "";
    const effectiveAS = localAs !== "" ? localAs : asNumber;
    const peer: BirdPeer = {
      ...blankPeer(),
      name,
      ip: p.ip,
      port: p.port > 0 ? String(p.port) : "",
      asNumber: peerAS,
      localAsNumber: localAs,
      type,
      ttlSecurity: p.ttlSecurity > 0 ? String(p.ttlSecurity) : "off",
      sourceAddr: p.sourceAddr === "UseNodeIP" ? currentIp : "",
      ...filterArgs(p.filters, peerAS, effectiveAS),
      password: p.password ?? "",
      gracefulRestart: p.restartTime,
      keepaliveTime: p.keepaliveTime,
      passive: p.passiveMode,
      numAllowLocalAs: p.numAllowLocalAs > 0 ? String(p.numAllowLocalAs) : "",
      nextHopSelf: p.nextHopMode === "Self",
      nextHopKeep: p.nextHopMode === "Keep" || (p.keepNextHop && peerAS !== effectiveAS),
    };
    if (peerAS === effectiveAS && me.rrClusterId !== "" && p.rrClusterId !== me.rrClusterId) {
      peer.routeReflector = true;
      peer.rrClusterId = me.rrClusterId;
    }
    if ((type === "global" || type === "local_workload") && !peer.passive && p.calicoNode && p.ip > currentIp)
      peer.passive = true;
    return peer;
  };
  for (const [entries, prefix] of [
    [globalPeers, "Global"],
    [nodePeers, "Node"],
  ] as const) {
    for (const { peering } of entries.filter((e) => !e.peering.localBgpPeer)) {
      const p = build(peering, prefix);
      if (p) peers.push(p);
    }
    for (const { peering } of entries.filter((e) => e.peering.localBgpPeer)) {
      const p = build(peering, "Local_Workload");
      if (p) peers.push(p);
    }
  }
  peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // Prefix advertisements: this node's `node.<name>` configuration if it has any, else the global one.
  const nodeSpec = view.nodeConfigs.get(me.name);
  const advSpec = Array.isArray(nodeSpec?.prefixAdvertisements)
    ? nodeSpec
    : Array.isArray(global?.prefixAdvertisements)
      ? global
      : undefined;

  return {
    family,
    nodeName: me.name,
    nodeIp: me.ipv4,
    nodeIpv6: me.ipv6,
    asNumber,
    routerId,
    logLevel,
    debugMode,
    peerDebugMode,
    listenAddress,
    listenPort: view.listenPortText(me.name),
    directInterfaces,
    normalRoutePriority: priority,
    communities: advSpec ? communityRules(advSpec, family) : [],
    filterFunctions: bgpFilterFunctions(view.bgpFilters.values(), family),
    peers,
  };
}

function blankPeer(): Omit<BirdPeer, "name" | "ip" | "type"> {
  return {
    port: "",
    asNumber: "",
    localAsNumber: "",
    importFilter: "",
    exportFilter: "",
    password: "",
    ttlSecurity: "",
    routeReflector: false,
    rrClusterId: "",
    sourceAddr: "",
    nextHopSelf: false,
    nextHopKeep: false,
    passive: false,
    gracefulRestart: "",
    keepaliveTime: "",
    numAllowLocalAs: "",
  };
}
