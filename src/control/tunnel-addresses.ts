/**
 * calico-node's tunnel addresses and Felix's WireGuard status, on each Calico Node (projectcalico.org/v3 Node).
 *
 * Felix publishes `status.wireguardPublicKey` while FelixConfiguration `wireguardEnabled` is on for the node (and
 * removes it when off); the key is `wireguardKeyPair(<Calico Node uid>)`, so a re-created Calico Node gets a new
 * one. calico-node's allocateip (node/pkg/allocateip) then gives the node one IPAM address per tunnel kind that
 * an enabled IPv4 pool selecting the node asks for: `spec.bgp.ipv4IPIPTunnelAddr` (ipipMode Always/CrossSubnet),
 * `spec.ipv4VXLANTunnelAddr` (vxlanMode Always/CrossSubnet), `spec.wireguard.interfaceIPv4Address` (any pool,
 * once the node has a public key), each from a pool allowing Tunnel use, under Calico's handle
 * (`ipip-tunnel-addr-<node>`, …) with Calico's attributes (`node`, `type`). An address no pool needs any more is
 * released and its field removed. Calico writes no `vxlanTunnelMACAddr`: Felix derives the VTEP's MAC from the
 * node's name (calc's vtepMac).
 *
 * Crash safety: the IPAM handle is the record of what was allocated. A pass killed between the allocation and
 * the Node write finds the handle's address on the next pass and writes it; a handle holding an address outside
 * the pools now wanted is released before a new address is taken.
 */
import type { ApiObject } from "../api/index.ts";
import { type Ipam, tunnelHandleId } from "../ipam/index.ts";
import { deepEqual } from "../lib/index.ts";
import { type Cidr, cidrContainsIp, parseCidr, parseIp } from "../net/index.ts";
import { parseSelector } from "../selector/index.ts";
import { type ClusterTopology, kinds } from "./topology.ts";
import { wireguardKeyPair } from "./wireguard-keys.ts";
import type { Writer } from "./writes.ts";

/** The tunnel kinds calico-node allocates for IPv4, in allocateip's order. */
type TunnelKind = "wireguard" | "ipip" | "vxlan";
const TUNNEL_KINDS: readonly TunnelKind[] = ["wireguard", "ipip", "vxlan"];

/** The IPAM `type` attribute of each kind's address (libcalico-go's IPAMBlockAttributeType*). */
const ATTRIBUTE_TYPE: Record<TunnelKind, string> = {
  wireguard: "wireguardTunnelAddress",
  ipip: "ipipTunnelAddress",
  vxlan: "vxlanTunnelAddress",
};

const ENCAP_MODES = new Set(["Always", "CrossSubnet"]);

type NodeSpec = Record<string, unknown>;

/** A FelixConfiguration field for one node: `node.<name>` overrides `default` (Felix's per-node config). */
export function felixSetting(objects: readonly ApiObject[], node: string, field: string): unknown {
  const felix = objects.filter((o) => o.kind === "FelixConfiguration");
  const own = felix.find((o) => o.metadata.name === `node.${node}`)?.spec?.[field];
  if (own !== undefined) return own;
  return felix.find((o) => o.metadata.name === "default")?.spec?.[field];
}

/** The Calico Node's tunnel address field of one kind. */
function tunnelAddress(node: ApiObject, kind: TunnelKind): string | undefined {
  const s = node.spec ?? {};
  if (kind === "ipip") return s.bgp?.ipv4IPIPTunnelAddr;
  if (kind === "vxlan") return s.ipv4VXLANTunnelAddr;
  return s.wireguard?.interfaceIPv4Address;
}

/** The spec with the tunnel field of `kind` set to `ip`, or removed (with an emptied parent) when undefined. */
function withTunnelAddress(spec: NodeSpec, kind: TunnelKind, ip: string | undefined): NodeSpec {
  const next = { ...spec };
  const nested = (parent: "bgp" | "wireguard", field: string) => {
    const obj: NodeSpec = { ...((next[parent] as NodeSpec | undefined) ?? {}) };
    if (ip === undefined) delete obj[field];
    else obj[field] = ip;
    if (Object.keys(obj).length === 0) delete next[parent];
    else next[parent] = obj;
  };
  if (kind === "ipip") nested("bgp", "ipv4IPIPTunnelAddr");
  else if (kind === "wireguard") nested("wireguard", "interfaceIPv4Address");
  else if (ip === undefined) delete next.ipv4VXLANTunnelAddr;
  else next.ipv4VXLANTunnelAddr = ip;
  return next;
}

/** allocateip's determineEnabledPoolCIDRs for IPv4: the pools a tunnel kind may take the node's address from. */
function tunnelPools(
  pools: readonly ApiObject[],
  kind: TunnelKind,
  nodeLabels: Record<string, string>,
  hasPublicKey: boolean,
): Cidr[] {
  if (kind === "wireguard" && !hasPublicKey) return [];
  const out: Cidr[] = [];
  for (const pool of pools) {
    const s = pool.spec ?? {};
    const cidr = parseCidr(String(s.cidr));
    if (cidr?.family !== 4 || s.disabled === true || pool.metadata.deletionTimestamp) continue;
    const uses: string[] = s.allowedUses?.length ? s.allowedUses : ["Workload", "Tunnel"];
    if (!uses.includes("Tunnel")) continue;
    if (!parseSelector(s.nodeSelector || "all()").matches(nodeLabels)) continue;
    if (kind === "ipip" && !ENCAP_MODES.has(s.ipipMode)) continue;
    if (kind === "vxlan" && !ENCAP_MODES.has(s.vxlanMode)) continue;
    out.push(cidr);
  }
  return out;
}

function inAny(cidrs: readonly Cidr[], ip: string): boolean {
  const addr = parseIp(ip);
  return addr !== undefined && cidrs.some((c) => cidrContainsIp(c, addr));
}

/**
 * The node's address for one kind: the one its handle holds if still inside `cidrs`, else a new one (after
 * releasing what the handle held); undefined, with the handle released, when `cidrs` is empty.
 */
async function ensureTunnelAddress(
  w: Writer,
  ipam: Ipam,
  node: string,
  kind: TunnelKind,
  cidrs: Cidr[],
  nodeLabels: Record<string, string>,
): Promise<string | undefined> {
  const handle = tunnelHandleId(kind, node);
  const held = await ipam.ipsByHandle(handle);
  if (held !== undefined) {
    if (cidrs.length > 0 && held.length === 1 && inAny(cidrs, held[0]!)) return held[0];
    w.writes++;
    await ipam.releaseByHandle(handle);
  }
  if (cidrs.length === 0) return undefined;
  w.writes++;
  const r = await ipam.autoAssign({
    num4: 1,
    handleId: handle,
    attrs: { node, type: ATTRIBUTE_TYPE[kind] },
    hostname: node,
    ipv4Pools: cidrs,
    intendedUse: "Tunnel",
    nodeLabels,
  });
  const ip = r.v4?.ips[0];
  // No room in the pools: calico-node logs and retries; the node goes without the address meanwhile.
  return ip;
}

/** Felix's WireGuard status on every Calico Node, then each node's tunnel addresses. */
export async function reconcileTunnelAddresses(
  w: Writer,
  ipam: Ipam,
  topology: ClusterTopology,
): Promise<void> {
  const felixConfigs = await w.client.list(kinds.FelixConfiguration);
  const pools = await w.client.list(kinds.IPPool);
  const k8sNodes = new Map((await w.client.list(kinds.Node)).map((n) => [n.metadata.name!, n]));
  const clusterHosts = new Set(topology.hosts.filter((h) => h.role !== "external").map((h) => h.name));
  for (let node of await w.client.list(kinds.CalicoNode)) {
    const name = node.metadata.name!;
    if (!clusterHosts.has(name)) continue;
    node = await publishWireguardKey(w, node, felixConfigs);
    const labels = { ...(k8sNodes.get(name)?.metadata.labels ?? {}), ...(node.metadata.labels ?? {}) };
    const hostEncryption = felixSetting(felixConfigs, name, "wireguardHostEncryptionEnabled") === true;
    const hasKey = Boolean(node.status?.wireguardPublicKey) && !hostEncryption;
    let spec: NodeSpec = node.spec ?? {};
    for (const kind of TUNNEL_KINDS) {
      const cidrs = tunnelPools(pools, kind, labels, hasKey);
      const ip = await ensureTunnelAddress(w, ipam, name, kind, cidrs, labels);
      if (tunnelAddress(node, kind) !== ip) spec = withTunnelAddress(spec, kind, ip);
    }
    if (!deepEqual(spec, node.spec ?? {})) {
      w.writes++;
      await w.client.update({ ...node, spec }, { asController: true });
    }
  }
}

/** Felix's part: the node's public key in its status while WireGuard is enabled for it, none otherwise. */
async function publishWireguardKey(
  w: Writer,
  node: ApiObject,
  felixConfigs: ApiObject[],
): Promise<ApiObject> {
  const enabled = felixSetting(felixConfigs, node.metadata.name!, "wireguardEnabled") === true;
  const status: Record<string, unknown> = { ...(node.status ?? {}) };
  if (enabled) status.wireguardPublicKey = wireguardKeyPair(node.metadata.uid!).publicKey;
  else delete status.wireguardPublicKey;
  const hadStatus = node.status !== undefined;
  if (!hadStatus && Object.keys(status).length === 0) return node;
  return w.setStatus(node, status);
}
