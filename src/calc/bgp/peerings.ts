import type { ApiObject } from "../../api/index.ts";
import type { ConfdView } from "./confd-view.ts";
import {
  asNumberOf,
  canonicalIp,
  durationSecondsText,
  hasValue,
  parseIpPort,
  secretKeyRefOf,
} from "./go-values.ts";

/**
 * The v1 peerings confd derives from v3 BGPPeers (client.go updatePeersV1): the values it stores under
 * /calico/bgp/v1/global/peer_v<4|6>/<ip>[-<port>] and /calico/bgp/v1/host/<node>/peer_v<4|6>/<ip>[-<port>]
 * (backends.BGPPeer). bird.cfg's peers and bird_aggr.cfg's `reachable_by` static routes are read from them.
 */
export interface V1Peering {
  /** The peer address as Go prints it. */
  ip: string;
  /** numorstring.ASNumber, 0 when the BGPPeer has none. */
  asNum: number;
  localAsNum: number;
  rrClusterId: string;
  /** Read from the referenced Secret; undefined when there is no reference or it cannot be read. */
  password?: string;
  /** "UseNodeIP", "None" or "". */
  sourceAddr: string;
  /** Seconds, as text ("" when unset). */
  restartTime: string;
  keepaliveTime: string;
  /** 0 when none. */
  port: number;
  keepNextHop: boolean;
  /** The peer address is some Calico node's BGP address. */
  calicoNode: boolean;
  numAllowLocalAs: number;
  ttlSecurity: number;
  filters: string[];
  reachableBy: string;
  passiveMode: boolean;
  localBgpPeer: boolean;
  /** "Auto", "Self", "Keep" or "". */
  nextHopMode: string;
}

/** One stored peering: its v1 key path and value. */
export interface V1PeeringEntry {
  key: string;
  peering: V1Peering;
}

const DEFAULT_BGP_PORT = 179;

function keyPart(ip: string, port: number): string {
  return port === 0 || port === DEFAULT_BGP_PORT ? ip : `${ip}-${port}`;
}

function familyOf(ip: string): 4 | 6 {
  return ip.includes(":") ? 6 : 4;
}

export function globalPeerKey(ip: string, port: number): string {
  return `/calico/bgp/v1/global/peer_v${familyOf(ip)}/${keyPart(ip, port)}`;
}

export function nodePeerKey(node: string, ip: string, port: number): string {
  return `/calico/bgp/v1/host/${node}/peer_v${familyOf(ip)}/${keyPart(ip, port)}`;
}

function emptyPeering(ip: string): V1Peering {
  return {
    ip,
    asNum: 0,
    localAsNum: 0,
    rrClusterId: "",
    sourceAddr: "",
    restartTime: "",
    keepaliveTime: "",
    port: 0,
    keepNextHop: false,
    calicoNode: false,
    numAllowLocalAs: 0,
    ttlSecurity: 0,
    filters: [],
    reachableBy: "",
    passiveMode: false,
    localBgpPeer: false,
    nextHopMode: "",
  };
}

// biome-ignore lint/suspicious/noExplicitAny: BGPPeer specs are plain JSON
type PeerSpec = Record<string, any>;

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const specOf = (p: ApiObject): PeerSpec => (p.spec ?? {}) as PeerSpec;

/** getNextHopMode: nextHopMode wins; keepOriginalNextHop only when it is unset. */
function nextHop(spec: PeerSpec): [boolean, string] {
  if (hasValue(spec.nextHopMode)) return [false, str(spec.nextHopMode)];
  return [spec.keepOriginalNextHop === true, ""];
}

function filtersOf(spec: PeerSpec): string[] {
  return Array.isArray(spec.filters)
    ? spec.filters.filter((f: unknown): f is string => typeof f === "string")
    : [];
}

/** setPeerConfigFieldsFromV3Resource. */
function setConfigFields(view: ConfdView, peers: V1Peering[], spec: PeerSpec): void {
  const password = view.secret(secretKeyRefOf(spec.password));
  for (const p of peers) {
    if (password === undefined) delete p.password;
    else p.password = password;
    p.sourceAddr = str(spec.sourceAddress) || "UseNodeIP";
    if (hasValue(spec.maxRestartTime)) p.restartTime = durationSecondsText(spec.maxRestartTime);
    if (hasValue(spec.keepaliveTime)) p.keepaliveTime = durationSecondsText(spec.keepaliveTime);
  }
}

/** nodeAsBGPPeers: a Calico node as the remote side, over the chosen families. */
function nodeAsPeers(
  view: ConfdView,
  nodeName: string,
  v4: boolean,
  v6: boolean,
  spec: PeerSpec,
): V1Peering[] {
  const node = view.node(nodeName);
  const out: V1Peering[] = [];
  const addrs: string[] = [];
  if (v4) addrs.push(node?.ipv4 ?? "");
  if (v6) addrs.push(node?.ipv6 ?? "");
  for (const text of addrs) {
    if (text === "") continue;
    const ip = canonicalIp(text);
    if (!ip) continue;
    const p = emptyPeering(ip);
    if (hasValue(spec.ttlSecurity)) p.ttlSecurity = Number(spec.ttlSecurity) || 0;
    p.filters = filtersOf(spec);
    if (str(spec.reachableBy) !== "") p.reachableBy = str(spec.reachableBy);
    p.port = view.nodeListenPort(nodeName) ?? view.globalListenPort();
    p.asNum = asNumberOf(node?.asNum || view.globalAS());
    p.rrClusterId = node?.rrClusterId ?? "";
    [p.keepNextHop, p.nextHopMode] = nextHop(spec);
    out.push(p);
  }
  return out;
}

/** nodesWithIPPortAndAS: the Calico nodes a peerIP (and AS, and port) designates. */
function nodesWithIpPortAndAs(view: ConfdView, ip: string, asNumber: number, port: number): string[] {
  const globalAS = view.globalAS();
  const asStr = asNumber === 0 ? globalAS : String(asNumber);
  const out: string[] = [];
  for (const n of view.nodes.values()) {
    if (n.ipv4 !== ip && n.ipv6 !== ip) continue;
    if ((n.asNum || globalAS) !== asStr) continue;
    if (port !== 0) {
      const nodePort = view.nodeListenPort(n.name);
      if (nodePort !== undefined && port !== nodePort) continue;
      // As upstream: a global listen port that differs also rules the node out, even when the node's own matches.
      if (view.globalListenPort() !== 0 && view.globalListenPort() !== port) continue;
    }
    out.push(n.name);
  }
  return out;
}

/** localBGPPeerDataAsBGPPeers: the local workloads Felix reported for this BGPPeer. */
function localWorkloadPeers(view: ConfdView, peer: ApiObject): V1Peering[] {
  const spec = specOf(peer);
  const out: V1Peering[] = [];
  for (const w of view.localWorkloads) {
    if (w.bgpPeerName !== peer.metadata.name) continue;
    const first = (nets: string[] | undefined) => (nets && nets.length > 0 ? nets[0]! : undefined);
    const v4 = first(w.ipv4Nets);
    const v6 = first(w.ipv6Nets);
    const ip4 = v4 === undefined ? "" : canonicalIp(v4.split("/")[0]!);
    const ip6 = v6 === undefined ? "" : canonicalIp(v6.split("/")[0]!);
    // An unparsable first net makes Felix's status unusable as a whole.
    if (ip4 === undefined || ip6 === undefined || (ip4 === "" && ip6 === "")) continue;
    for (const ip of [ip4, ip6]) {
      if (ip === "") continue;
      const p = emptyPeering(ip);
      if (hasValue(spec.localASNumber)) p.localAsNum = asNumberOf(spec.localASNumber);
      p.filters = filtersOf(spec);
      p.asNum = asNumberOf(spec.asNumber);
      p.sourceAddr = "None";
      p.passiveMode = true;
      p.localBgpPeer = true;
      out.push(p);
    }
  }
  return out;
}

/** The remote side of a BGPPeer given by peerIP (updatePeersV1's last branch); empty when the IP is unusable. */
function explicitPeer(view: ConfdView, spec: PeerSpec): V1Peering[] {
  let [host, port] = parseIpPort(str(spec.peerIP));
  const ip = canonicalIp(host);
  if (!ip) return [];
  const asNumber = asNumberOf(spec.asNumber);
  if (port === 0) {
    const names = nodesWithIpPortAndAs(view, host, asNumber, port);
    if (names.length > 0) port = view.nodeListenPort(names[0]!) ?? view.globalListenPort();
  }
  let reachableBy = "";
  if (str(spec.reachableBy) !== "") {
    const via = canonicalIp(str(spec.reachableBy));
    if (!via || familyOf(via) !== familyOf(ip)) return [];
    reachableBy = str(spec.reachableBy);
  }
  const p = emptyPeering(ip);
  p.asNum = asNumber;
  if (hasValue(spec.localASNumber)) p.localAsNum = asNumberOf(spec.localASNumber);
  p.sourceAddr = str(spec.sourceAddress);
  p.port = port;
  [p.keepNextHop, p.nextHopMode] = nextHop(spec);
  p.calicoNode = view.isNodeIp(host);
  if (hasValue(spec.ttlSecurity)) p.ttlSecurity = Number(spec.ttlSecurity) || 0;
  p.filters = filtersOf(spec);
  if (hasValue(spec.numAllowedLocalASNumbers)) p.numAllowLocalAs = Number(spec.numAllowedLocalASNumbers) || 0;
  p.reachableBy = reachableBy;
  const peers = [p];
  setConfigFields(view, peers, spec);
  return peers;
}

/**
 * Every v1 peering confd stores, by key (global peerings first, then node-specific ones that do not duplicate a
 * global one, then automatic reverse peerings). Where upstream iterates a Go map, BGPPeers are taken in name order.
 */
export function computeV1Peerings(view: ConfdView): Map<string, V1Peering> {
  const peers = new Map<string, V1Peering>();
  const emit = (key: string, peer: V1Peering, globalKey?: string) => {
    if (peers.has(key)) return;
    if (globalKey !== undefined && peers.has(globalKey)) return;
    peers.set(key, peer);
  };

  for (const globalPass of [true, false]) {
    for (const res of view.bgpPeers) {
      const spec = specOf(res);
      const isGlobal = str(spec.nodeSelector) === "" && str(spec.node) === "";
      if (globalPass !== isGlobal) continue;
      let localNodes: string[] = [];
      if (str(spec.nodeSelector) !== "") localNodes = view.nodesMatching(spec.nodeSelector);
      else if (str(spec.node) !== "") localNodes = [spec.node];

      let remote: V1Peering[];
      if (str(spec.localWorkloadSelector) !== "") remote = localWorkloadPeers(view, res);
      else if (str(spec.peerSelector) !== "") {
        remote = view.nodesMatching(spec.peerSelector).flatMap((n) => nodeAsPeers(view, n, true, true, spec));
        setConfigFields(view, remote, spec);
      } else remote = explicitPeer(view, spec);

      for (const p of remote) {
        if (globalPass) emit(globalPeerKey(p.ip, p.port), p);
        else
          for (const node of localNodes)
            emit(nodePeerKey(node, p.ip, p.port), { ...p }, globalPeerKey(p.ip, p.port));
      }
    }
  }

  // Reverse peerings, so that a peering between two Calico nodes is configured on both.
  for (const res of view.bgpPeers) {
    const spec = specOf(res);
    if (str(spec.reversePeering) === "Manual") continue;
    if (str(spec.localWorkloadSelector) !== "") continue;
    let localNodes: string[];
    let v4 = false;
    let v6 = false;
    if (str(spec.peerSelector) !== "") {
      localNodes = view.nodesMatching(spec.peerSelector);
      v4 = true;
      v6 = true;
    } else {
      const [ip, port] = parseIpPort(str(spec.peerIP));
      localNodes = nodesWithIpPortAndAs(view, ip, asNumberOf(spec.asNumber), port);
      if (ip.includes(":")) v6 = true;
      else v4 = true;
    }
    if (localNodes.length === 0) continue;
    let peerNodes: string[];
    if (str(spec.nodeSelector) !== "") peerNodes = view.nodesMatching(spec.nodeSelector);
    else if (str(spec.node) !== "") peerNodes = [spec.node];
    else peerNodes = view.nodesMatching("all()");
    if (peerNodes.length === 0) continue;
    const remote = peerNodes.flatMap((n) => nodeAsPeers(view, n, v4, v6, spec));
    if (remote.length === 0) continue;
    setConfigFields(view, remote, spec);
    for (const p of remote)
      for (const node of localNodes)
        emit(nodePeerKey(node, p.ip, p.port), { ...p }, globalPeerKey(p.ip, p.port));
  }
  return peers;
}

/**
 * The peerings confd on `view.nodeName` reads for one family: the global ones (/calico/bgp/v1/global/peer_v<f>) and
 * this node's (/calico/bgp/v1/host/<node>/peer_v<f>), each in key order as confd's `gets` lists them.
 */
export function peeringsFor(
  view: ConfdView,
  family: 4 | 6,
): { global: V1PeeringEntry[]; node: V1PeeringEntry[] } {
  const all = view.v1Peerings();
  const globalPrefix = `/calico/bgp/v1/global/peer_v${family}/`;
  const nodePrefix = `/calico/bgp/v1/host/${view.nodeName}/peer_v${family}/`;
  const pick = (prefix: string) =>
    [...all.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, peering]) => ({ key, peering }));
  return { global: pick(globalPrefix), node: pick(nodePrefix) };
}
