/**
 * Felix's overlay and WireGuard devices on a host, as plain data: what its ipip, vxlan and route managers
 * (felix/dataplane/linux/ipip_mgr.go, vxlan_mgr.go, route_mgr.go) and its WireGuard manager (felix/wireguard)
 * program from the Calico Nodes, IP pools and IPAM blocks.
 *
 * - IPIP: `tunl0` (mtu uplink − 20) with the node's `ipv4IPIPTunnelAddr`/32; each remote node's blocks in an IPIP
 *   pool `via <node IP> dev tunl0 onlink proto 80` (CrossSubnet: same-subnet nodes `via <node IP> dev <uplink>`),
 *   while FelixConfiguration `programClusterRoutes` leaves IPIP routes to Felix (default EnabledIPIPOnly;
 *   confd's filters then reject them for BIRD).
 * - VXLAN: `vxlan.calico` (mtu uplink − 50, VNI `vxlanVNI` 4096, port `vxlanPort` 4789) with the node's
 *   `ipv4VXLANTunnelAddr`/32, a permanent neighbour and fdb entry per remote VTEP, and each remote node's blocks in
 *   a VXLAN pool `via <remote VTEP> dev vxlan.calico onlink proto 80` (CrossSubnet as IPIP). BIRD never programs
 *   VXLAN pools.
 * - WireGuard: `wireguardInterfaceName` (`wireguard.cali`, mtu uplink − 60) with `wireguard.interfaceIPv4Address`/32,
 *   the node's keys, one peer per other node with a public key, a `dev <device> scope link` route per peer CIDR in
 *   table 1 and the rule `not fwmark 0x100000/0x100000 lookup 1` at priority 99.
 * - Blackholes: `blackhole <block> proto 80` for each of the node's own blocks in a VXLAN pool, or in an IPIP pool
 *   while Felix programs IPIP routes (route_mgr.go's RouteClassBlackholeVXLAN/IPIP): BIRD's kernel filter rejects
 *   these pools, so without them traffic to an unused address of the block would leave by the default route.
 *
 * Pools are typed as Felix's route resolver does (l3_route_resolver.go poolTypeForPool): VXLAN if `vxlanMode` is
 * not Never, else IPIP if `ipipMode` is not Never; LoadBalancer-only pools carry no routes. Disabled pools count
 * (neither the encapsulation nor the route resolver looks at `disabled`: blocks stay in them).
 * Routes go only to a node Felix has the address it needs for (its tunnel address for VXLAN, its node IP
 * otherwise).
 */
import { createHash } from "node:crypto";
import type { ApiObject } from "../api/index.ts";
import { type ClusterTopology, felixSetting, type TopologyHost, wireguardKeyPair } from "../control/index.ts";
import { type Cidr, cidrContainsCidr, cidrContainsIp, formatCidr, parseCidr, parseIp } from "../net/index.ts";
import { DEFAULT_VXLAN_PORT, type FelixTunnels } from "../render/index.ts";
import type {
  AddressSpec,
  FdbSpec,
  LinkSpec,
  NamespaceSpec,
  NeighbourSpec,
  RouteSpec,
  RuleSpec,
  WireguardPeerSpec,
} from "./node-dataplane-types.ts";

/** Felix's device names and defaults (felix/config/config_params.go). */
export const IPIP_DEVICE = "tunl0";
export const VXLAN_DEVICE = "vxlan.calico";
export const WIREGUARD_DEVICE = "wireguard.cali";
const VXLAN_VNI = 4096;
const WIREGUARD_PORT = 51820;
const WIREGUARD_TABLE = 1;
const WIREGUARD_RULE_PRIORITY = 99;
/**
 * Felix allocates its marks from IptablesMarkMask (0xffff0000) in order: accept 0x10000, pass 0x20000, scratch
 * 0x40000 and 0x80000, then WireGuard's 0x100000 (felix/dataplane/linux/int_dataplane.go markBitsManager).
 */
export const WIREGUARD_FWMARK = 0x100000;
/** Encapsulation overheads (felix/dataplane/linux/mtu.go): IPIP 20, VXLAN 50, WireGuard 60. */
const IPIP_OVERHEAD = 20;
const VXLAN_OVERHEAD = 50;
const WIREGUARD_OVERHEAD = 60;
const UPLINK_MTU = 1500;
const FELIX_PROTO = 80;

type EncapMode = "Always" | "CrossSubnet";

interface PoolEncap {
  cidr: Cidr;
  ipip?: EncapMode;
  vxlan?: EncapMode;
  /** Felix's IPPoolType for routes in the pool: VXLAN wins over IPIP; "none" for LoadBalancer-only pools. */
  routeType: "vxlan" | "ipip" | "no-encap" | "none";
}

/** What Felix knows of one cluster node. */
interface TunnelNode {
  host: TopologyHost;
  ipipAddress?: string;
  vxlanAddress?: string;
  wireguardAddress?: string;
  publicKey?: string;
  /** Its affine blocks, then the /32s of workloads it runs from other nodes' blocks (borrowed). */
  cidrs: string[];
  /** Its affine blocks only. */
  blocks: string[];
}

/** The tunnel parts of one host namespace (all empty when no pool encapsulates and WireGuard is off). */
export interface TunnelPart {
  links: LinkSpec[];
  addresses: AddressSpec[];
  routes: RouteSpec[];
  neighbours: NeighbourSpec[];
  fdb: FdbSpec[];
  rules: RuleSpec[];
}

function encapMode(value: unknown): EncapMode | undefined {
  return value === "Always" || value === "CrossSubnet" ? value : undefined;
}

/** Felix's VTEP MAC when the Node sets none (felix/calc/vxlan_resolver.go vtepMACForHost): 0x66 and SHA-1[0:5]. */
export function vtepMac(node: ApiObject): string {
  const set = node.spec?.vxlanTunnelMACAddr;
  if (typeof set === "string" && set !== "") return set.toLowerCase();
  const sha = createHash("sha1").update(node.metadata.name!).digest();
  return [0x66, ...sha.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function poolRouteType(pool: ApiObject, ipip?: EncapMode, vxlan?: EncapMode): PoolEncap["routeType"] {
  const uses = pool.spec?.allowedUses;
  if (Array.isArray(uses) && uses.length > 0 && uses.every((u) => u === "LoadBalancer")) return "none";
  return vxlan ? "vxlan" : ipip ? "ipip" : "no-encap";
}

function sameSubnet(a: TopologyHost, b: TopologyHost): boolean {
  const subnet = parseCidr(`${a.ip}/${a.prefix}`);
  const ip = parseIp(b.ip);
  return subnet !== undefined && ip !== undefined && cidrContainsIp(subnet, ip);
}

/** The cluster-wide view every host's tunnels are computed from (computed once per calculator). */
export class TunnelCluster {
  private readonly pools: PoolEncap[];
  private readonly nodes = new Map<string, TunnelNode>();
  private readonly calicoNodes = new Map<string, ApiObject>();
  /** Felix programs IPIP routes (FelixConfiguration programClusterRoutes Enabled or EnabledIPIPOnly). */
  private readonly felixIpipRoutes: boolean;

  constructor(
    private readonly objects: readonly ApiObject[],
    topology: ClusterTopology,
  ) {
    this.pools = objects
      .filter((o) => o.kind === "IPPool")
      .flatMap((o) => {
        const cidr = parseCidr(String(o.spec?.cidr));
        if (cidr?.family !== 4) return [];
        const ipip = encapMode(o.spec?.ipipMode);
        const vxlan = encapMode(o.spec?.vxlanMode);
        return [{ cidr, ipip, vxlan, routeType: poolRouteType(o, ipip, vxlan) }];
      });
    const programs = objects.find((o) => o.kind === "FelixConfiguration" && o.metadata.name === "default")
      ?.spec?.programClusterRoutes;
    this.felixIpipRoutes = programs === undefined || programs === "Enabled" || programs === "EnabledIPIPOnly";
    for (const o of objects)
      if (o.kind === "Node" && o.apiVersion === "projectcalico.org/v3")
        this.calicoNodes.set(o.metadata.name!, o);
    const blocks = objects.filter((o) => o.kind === "IPAMBlock");
    for (const h of topology.hosts) {
      if (h.role === "external") continue;
      const n = this.calicoNodes.get(h.name);
      const own = blocks
        .filter((b) => b.spec?.affinity === `host:${h.name}`)
        .map((b) => parseCidr(String(b.spec?.cidr)))
        .filter((c): c is Cidr => c?.family === 4);
      this.nodes.set(h.name, {
        host: h,
        ipipAddress: n?.spec?.bgp?.ipv4IPIPTunnelAddr,
        vxlanAddress: n?.spec?.ipv4VXLANTunnelAddr,
        wireguardAddress: n?.spec?.wireguard?.interfaceIPv4Address,
        publicKey: n?.status?.wireguardPublicKey,
        cidrs: [...own.map(formatCidr), ...borrowed(objects, h.name, own)],
        blocks: own.map(formatCidr),
      });
    }
  }

  /** The encapsulating pool a node's CIDR lies in, if any. */
  private poolOf(cidr: string): PoolEncap | undefined {
    const c = parseCidr(cidr);
    return c && this.pools.find((p) => p.routeType !== "none" && cidrContainsCidr(p.cidr, c));
  }

  /** Felix's per-node setting (node.<name> over default), or its default. */
  private setting(host: string, field: string, fallback: number): number;
  private setting(host: string, field: string, fallback: string): string;
  private setting(host: string, field: string, fallback: number | string): number | string {
    const value = felixSetting(this.objects, host, field);
    if (typeof fallback === "number") return typeof value === "number" ? value : fallback;
    return typeof value === "string" && value !== "" ? value : fallback;
  }

  private vxlanPort(host: string): number {
    return this.setting(host, "vxlanPort", DEFAULT_VXLAN_PORT);
  }

  private wireguardDevice(host: string): string {
    return this.setting(host, "wireguardInterfaceName", WIREGUARD_DEVICE);
  }

  /**
   * What Felix's rules need of one host's tunnels (felix-tunnel-rules.ts), or undefined for a host that is not a
   * cluster node. IPIP and VXLAN are on while any pool uses them (Felix's encapsulation calculator); WireGuard while
   * enabled for the node and it has published its key. `fromWorkloads` is always there (the workload drops).
   */
  felixTunnels(host: string): FelixTunnels | undefined {
    const self = this.nodes.get(host);
    if (!self) return undefined;
    const tunnels: FelixTunnels = {
      fromWorkloads: {
        vxlanPort: this.vxlanPort(host),
        allowVxlan: felixSetting(this.objects, host, "allowVXLANPacketsFromWorkloads") === true,
        allowIpip: felixSetting(this.objects, host, "allowIPIPPacketsFromWorkloads") === true,
      },
    };
    const others = [...this.nodes.values()].filter((n) => n !== self);
    if (this.pools.some((p) => p.ipip))
      tunnels.ipip = {
        hostNets: [...this.nodes.values()].map((n) => n.host.ip),
        hasAddress: self.ipipAddress !== undefined,
      };
    if (this.pools.some((p) => p.vxlan))
      tunnels.vxlan = {
        sourceNets: others.filter((n) => n.vxlanAddress).map((n) => n.host.ip),
        port: this.vxlanPort(host),
        hasAddress: self.vxlanAddress !== undefined,
      };
    if (self.publicKey && felixSetting(this.objects, host, "wireguardEnabled") === true)
      tunnels.wireguard = {
        port: Number(felixSetting(this.objects, host, "wireguardListeningPort") ?? WIREGUARD_PORT),
        device: this.wireguardDevice(host),
      };
    return tunnels;
  }

  /** Felix's tunnel devices, addresses, routes, neighbours, fdb entries and rules on one cluster host. */
  hostTunnels(host: string): TunnelPart {
    const part: TunnelPart = { links: [], addresses: [], routes: [], neighbours: [], fdb: [], rules: [] };
    const self = this.nodes.get(host);
    if (!self) return part;
    const remotes = [...this.nodes.values()].filter((n) => n !== self);
    this.blackholes(self, part);
    if (self.ipipAddress) this.ipip(self, remotes, part);
    if (self.vxlanAddress) this.vxlan(self, remotes, part);
    if (self.publicKey && felixSetting(this.objects, host, "wireguardEnabled") === true)
      this.wireguard(self, remotes, part);
    return part;
  }

  /**
   * route_mgr.go's blackholeRoutes: the VXLAN manager runs while any pool uses VXLAN, the IPIP manager's route
   * manager while one uses IPIP and Felix programs IPIP routes; each blackholes the node's own blocks (not /32
   * blocks) of its pool type, whether or not the node has a tunnel address yet.
   */
  private blackholes(self: TunnelNode, part: TunnelPart): void {
    const vxlanOn = this.pools.some((p) => p.vxlan);
    const ipipOn = this.felixIpipRoutes && this.pools.some((p) => p.ipip);
    for (const block of self.blocks) {
      if (block.endsWith("/32")) continue;
      const type = this.poolOf(block)?.routeType;
      if ((type === "vxlan" && vxlanOn) || (type === "ipip" && ipipOn))
        part.routes.push({ dst: block, type: "blackhole", proto: FELIX_PROTO, scope: "global", metric: 0 });
    }
  }

  private ipip(self: TunnelNode, remotes: TunnelNode[], part: TunnelPart): void {
    part.links.push({ name: IPIP_DEVICE, kind: "ipip", mac: "", mtu: UPLINK_MTU - IPIP_OVERHEAD });
    part.addresses.push({ dev: IPIP_DEVICE, cidr: `${self.ipipAddress}/32` });
    if (!this.felixIpipRoutes) return;
    for (const r of remotes)
      for (const cidr of r.cidrs) {
        const pool = this.poolOf(cidr);
        const mode = pool?.routeType === "ipip" ? pool.ipip : undefined;
        if (mode) part.routes.push(this.clusterRoute(self, r, cidr, mode, IPIP_DEVICE, r.host.ip));
      }
  }

  private vxlan(self: TunnelNode, remotes: TunnelNode[], part: TunnelPart): void {
    const h = self.host;
    part.links.push({
      name: VXLAN_DEVICE,
      kind: "vxlan",
      mac: vtepMac(this.calicoNodes.get(h.name)!),
      mtu: UPLINK_MTU - VXLAN_OVERHEAD,
      vxlan: {
        vni: this.setting(h.name, "vxlanVNI", VXLAN_VNI),
        port: this.vxlanPort(h.name),
        local: h.ip,
        parent: h.interface,
      },
    });
    part.addresses.push({ dev: VXLAN_DEVICE, cidr: `${self.vxlanAddress}/32` });
    for (const r of remotes) {
      if (!r.vxlanAddress) continue;
      const mac = vtepMac(this.calicoNodes.get(r.host.name)!);
      part.neighbours.push({ dev: VXLAN_DEVICE, ip: r.vxlanAddress, mac });
      part.fdb.push({ dev: VXLAN_DEVICE, mac, dst: r.host.ip });
      for (const cidr of r.cidrs) {
        const pool = this.poolOf(cidr);
        const mode = pool?.routeType === "vxlan" ? pool.vxlan : undefined;
        if (mode) part.routes.push(this.clusterRoute(self, r, cidr, mode, VXLAN_DEVICE, r.vxlanAddress));
      }
    }
  }

  /** A remote node's CIDR through the tunnel, or (CrossSubnet, same subnet) straight over the uplink. */
  private clusterRoute(
    self: TunnelNode,
    remote: TunnelNode,
    cidr: string,
    mode: EncapMode,
    device: string,
    gateway: string,
  ): RouteSpec {
    const base = { dst: cidr, type: "unicast", proto: FELIX_PROTO, scope: "global", metric: 0 } as const;
    if (mode === "CrossSubnet" && sameSubnet(self.host, remote.host))
      return { ...base, via: remote.host.ip, dev: self.host.interface };
    return { ...base, via: gateway, dev: device, onlink: true };
  }

  private wireguard(self: TunnelNode, remotes: TunnelNode[], part: TunnelPart): void {
    const host = self.host.name;
    const device = this.wireguardDevice(host);
    const keys = wireguardKeyPair(this.calicoNodes.get(host)!.metadata.uid!);
    const port = Number(felixSetting(this.objects, host, "wireguardListeningPort") ?? WIREGUARD_PORT);
    // 0 is auto-detect; Felix's LinkSetMTU fails for a negative MTU and the device keeps the detected one.
    const configured = this.setting(host, "wireguardMTU", 0);
    const mtu = configured > 0 ? configured : UPLINK_MTU - WIREGUARD_OVERHEAD;
    const table = WIREGUARD_TABLE;
    const priority = Number(
      felixSetting(this.objects, host, "wireguardRoutingRulePriority") ?? WIREGUARD_RULE_PRIORITY,
    );
    const peers: WireguardPeerSpec[] = [];
    for (const r of remotes) {
      if (!r.publicKey) continue;
      const peerPort = Number(
        felixSetting(this.objects, r.host.name, "wireguardListeningPort") ?? WIREGUARD_PORT,
      );
      const tunnelIps = [r.ipipAddress, r.vxlanAddress, r.wireguardAddress]
        .filter((ip): ip is string => typeof ip === "string")
        .map((ip) => `${ip}/32`);
      // Felix's route resolver sends remote tunnel addresses as /32s of their own, inside the node's block.
      const allowedIps = [...new Set([...r.cidrs, ...tunnelIps])].sort(compareCidrs);
      peers.push({ publicKey: r.publicKey, endpoint: `${r.host.ip}:${peerPort}`, allowedIps });
      for (const cidr of allowedIps)
        part.routes.push({
          dst: cidr,
          type: "unicast",
          dev: device,
          proto: FELIX_PROTO,
          scope: "link",
          metric: 0,
          table,
        });
    }
    part.links.push({
      name: device,
      kind: "wireguard",
      mac: "",
      mtu,
      wireguard: { ...keys, listenPort: port, fwmark: WIREGUARD_FWMARK, peers },
    });
    if (self.wireguardAddress) part.addresses.push({ dev: device, cidr: `${self.wireguardAddress}/32` });
    part.rules.push({
      priority,
      table,
      fwmark: { value: WIREGUARD_FWMARK, mask: WIREGUARD_FWMARK, not: true },
    });
  }
}

/** Address order, then prefix length. */
function compareCidrs(a: string, b: string): number {
  const x = parseCidr(a)!;
  const y = parseCidr(b)!;
  return x.value === y.value ? x.prefix - y.prefix : x.value < y.value ? -1 : 1;
}

/** /32s of the node's running workloads whose addresses lie outside its own blocks (Felix's borrowed routes). */
function borrowed(objects: readonly ApiObject[], node: string, own: Cidr[]): string[] {
  const out: string[] = [];
  for (const pod of objects) {
    if (pod.kind !== "Pod" || pod.spec?.nodeName !== node || pod.spec?.hostNetwork) continue;
    const ip = parseIp(String(pod.status?.podIP ?? ""));
    if (ip?.family === 4 && !own.some((c) => cidrContainsIp(c, ip)))
      out.push(`${String(pod.status.podIP)}/32`);
  }
  return out;
}

/** Adds a host's tunnel part to its namespace; the optional lists appear only when they have entries. */
export function addTunnels(ns: NamespaceSpec, part: TunnelPart): void {
  ns.links.push(...part.links);
  ns.addresses.push(...part.addresses);
  ns.routes.push(...part.routes);
  if (part.neighbours.length > 0) ns.neighbours = [...(ns.neighbours ?? []), ...part.neighbours];
  if (part.fdb.length > 0) ns.fdb = [...(ns.fdb ?? []), ...part.fdb];
  if (part.rules.length > 0) ns.rules = [...(ns.rules ?? []), ...part.rules];
}
