/**
 * The seam between the semantics and a kernel: what one host of the cluster must look like, as plain data.
 * `calc` computes it from the stored objects; `dataplane/sim` applies it to its emulated kernel and
 * `dataplane/linux` to the real one. Nothing here is a kernel object: every field is JSON, so a description can be
 * saved (the linux dataplane keeps the last one it applied) and compared (`diffNodeDataplane`).
 *
 * Names are the cluster's: a host namespace is the topology host's name (`node1`), a pod's is `NS/POD`; each
 * dataplane maps them to its own (the linux one to `tt-<cluster>-…`).
 */
import type { BpfDataplaneSpec } from "./bpf-dataplane-types.ts";

/** A network device in a namespace. */
export interface LinkSpec {
  name: string;
  /**
   * `uplink`: the host's interface on the underlay segment; `veth`: one end of a pair (`peer` is the other);
   * `vxlan`: Felix's `vxlan.calico` (see `vxlan`); `ipip`: the kernel's `tunl0` (IPIP to any remote, no
   * settings of its own); `wireguard`: Felix's `wireguard.cali` (see `wireguard`).
   */
  kind: "uplink" | "veth" | "vxlan" | "ipip" | "wireguard";
  /** The device's MAC; "" for devices without a link-layer address (`ipip`, `wireguard`). */
  mac: string;
  mtu: number;
  /** A veth's other end: its namespace (by the cluster's name) and device name. */
  peer?: { namespace: string; name: string };
  /** An uplink's segment (the cluster's underlay). */
  segment?: string;
  vxlan?: VxlanLinkSpec;
  wireguard?: WireguardLinkSpec;
}

/** A VXLAN device as Felix makes it (`ip link add vxlan.calico type vxlan id VNI local IP dev UPLINK dstport PORT nolearning`). */
export interface VxlanLinkSpec {
  /** Felix's `vxlanVNI` (default 4096). */
  vni: number;
  /** Felix's `vxlanPort` (default 4789). */
  port: number;
  /** The host's underlay address the encapsulated packets leave from. */
  local: string;
  /** The device that carries them (the host's uplink). */
  parent: string;
}

/** A WireGuard device as Felix configures it (what `wg show` prints). */
export interface WireguardLinkSpec {
  /** Base64 Curve25519 keys. */
  privateKey: string;
  publicKey: string;
  /** Felix's `wireguardListeningPort` (default 51820). */
  listenPort: number;
  /** The firewall mark the device's own UDP packets carry (so the routing rule skips them), e.g. 0x100000. */
  fwmark: number;
  peers: WireguardPeerSpec[];
}

/** One peer of a WireGuard device: another node. */
export interface WireguardPeerSpec {
  publicKey: string;
  /** `IP:PORT` of the peer node's underlay address. */
  endpoint: string;
  /** The CIDRs routed to that node (its blocks, borrowed /32s and tunnel addresses), sorted. */
  allowedIps: string[];
}

/** A permanent neighbour entry (`ip neigh replace IP lladdr MAC dev DEV nud permanent`): Felix's VTEP ARP entries. */
export interface NeighbourSpec {
  dev: string;
  ip: string;
  mac: string;
}

/** A permanent forwarding entry of a VXLAN device (`bridge fdb replace MAC dev DEV dst IP self permanent`). */
export interface FdbSpec {
  dev: string;
  mac: string;
  /** The remote VTEP's underlay address. */
  dst: string;
}

/** A policy routing rule (`ip rule add [not] fwmark MARK/MASK lookup TABLE priority PRIO`). */
export interface RuleSpec {
  priority: number;
  table: number;
  /** Match packets whose mark, masked, equals `fwmark` (or, with `not`, does not). */
  fwmark?: { value: number; mask: number; not?: boolean };
}

/** An address on a device, `A.B.C.D/LEN` (the local address and the prefix of its subnet). */
export interface AddressSpec {
  dev: string;
  cidr: string;
}

/** A route tortie programs (BIRD's routes are BIRD's own, on both kernels). */
export interface RouteSpec {
  /** `A.B.C.D/LEN` (`0.0.0.0/0` for the default route). */
  dst: string;
  type: "unicast" | "blackhole" | "unreachable" | "prohibit";
  via?: string;
  dev?: string;
  /** 80 is Felix's own protocol for the routes it owns (dataplanedefs.DefaultRouteProto); `ip route` prints `proto 80`. */
  proto: "boot" | "static" | "kernel" | 80;
  scope: "global" | "link" | "host";
  metric: number;
  /** The routing table (absent: main, 254). WireGuard's routes are in Felix's table (normally 1). */
  table?: number;
  /** `onlink`: the gateway is reachable on `dev` without a route to it (tunnel routes). */
  onlink?: boolean;
}

/** The stub resolver's configuration (resolv.conf) of a namespace. */
export interface ResolvConfSpec {
  nameserver: string;
  search: string[];
  ndots: number;
}

/** One network namespace: a host's, or a running pod's. */
export interface NamespaceSpec {
  /** The host's name, or `NS/POD`. */
  name: string;
  kind: "host" | "pod";
  links: LinkSpec[];
  addresses: AddressSpec[];
  /** In the order they are added (a route's gateway is reachable by an earlier one). */
  routes: RouteSpec[];
  /**
   * sysctl keys (`net.ipv4.ip_forward`, `net.ipv4.conf.all.rp_filter`, `net.ipv4.conf.<dev>.proxy_arp`, …) and
   * values as `sysctl -w` takes them. A kernel refuses a key it does not model rather than ignore it.
   */
  sysctls: Record<string, string>;
  /** iptables-restore payloads, applied in order with --noflush to a namespace that starts empty. */
  iptables: string[];
  /** `ipset restore` text (create/add lines), applied before the iptables payloads that name the sets. */
  ipsets: string;
  /** An `nft -f` script (kube-proxy's nftables mode), or "" for none. */
  nft: string;
  resolvConf?: ResolvConfSpec;
  /** Permanent neighbour entries (absent: none). */
  neighbours?: NeighbourSpec[];
  /** VXLAN forwarding entries (absent: none). */
  fdb?: FdbSpec[];
  /** Policy routing rules besides the kernel's three defaults (absent: none). */
  rules?: RuleSpec[];
}

/** A BIRD daemon on a host. */
export interface BirdSpec {
  /** `bird1`: Calico's BIRD 1.6 dialect (calico-node); `bird2`: BIRD 2 (an external router). */
  dialect: "bird1" | "bird2";
  /** The file BIRD is started with; includes name files of `files` relative to the same directory. */
  main: string;
  files: Record<string, string>;
  /** The control socket's path as the host's tools expect it (`birdcl` on calico-node, `birdc` on host1). */
  socket: string;
  /** The version its `birdc` greets with on the sim (the linux dataplane prints the real daemon's). */
  version: string;
}

/** A process the host runs besides BIRD: a pod's app, or the host's own services. */
export interface ProcessSpec {
  /** Unique on the host: `pod:NS/POD:CONTAINER` or `host:services`. */
  id: string;
  /** The namespace it runs in (the cluster's name for it). */
  namespace: string;
  /** The container image it stands for (`appsForImage` picks the app), or `tortie/host-services`. */
  image: string;
  /** The pod whose log its lines go to (`NS/POD`), if any. */
  logTo?: string;
}

/** One host's whole description. */
export interface NodeDataplane {
  host: string;
  role: "control-plane" | "worker" | "external";
  /** The host's namespace first, then its running pods' in the store's order. */
  namespaces: NamespaceSpec[];
  bird?: BirdSpec;
  /** Why this host's BIRD does not run (confd or BIRD refused its configuration), if so. */
  birdFailure?: string;
  processes: ProcessSpec[];
  /** Felix's notes for this node: what it cannot program, what it warns about and ignores. */
  unsupported: string[];
  warnings: string[];
  /**
   * Calico's eBPF dataplane (FelixConfiguration `bpfEnabled`): the service NAT tables its programs consult, as
   * plain data (bpf-dataplane-types.ts). Absent in iptables/nftables mode. The linux dataplane refuses it.
   */
  bpf?: BpfDataplaneSpec;
}

/** The cluster DNS zone the DNS server answers from (CoreDNS's kubernetes plugin's view). */
export interface DnsZoneSpec {
  domain: string;
  serial: number;
  /** calc.clusterDnsZone's records, as JSON. */
  records: unknown;
}

/** The whole cluster's description: every host's, the underlay they share, and the DNS zone. */
export interface ClusterDataplane {
  cluster: string;
  underlay: { name: string };
  hosts: NodeDataplane[];
  dns?: DnsZoneSpec;
}

/** What the kernel offers that rendering depends on (kube-proxy probes nfacct before it names counters). */
export interface KernelFeatures {
  nfacct: boolean;
}

/** What a command printed, as a process would (exit status, both streams). */
export interface KernelCommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * A state a kernel reports in one normalised text form, so the sim's and the real kernel's can be compared:
 * `routes` is `ip -4 route show table all` without BIRD's and the kernel's own local/broadcast routes' noise;
 * `iptables` is `iptables-save -c` without comment lines and with chains in name order; `ipsets` is
 * `ipset save` sorted; `conntrack` is `conntrack -L` reduced to tuples and NAT; `links` is `ip -br link`;
 * `rules` is `ip -4 rule show`; `neighbours` is `ip -4 neigh show nud permanent`; `fdb` is `bridge fdb show` of
 * VXLAN devices; `wireguard` is `wg show all dump` without private keys.
 */
export type KernelQuery =
  | "routes"
  | "iptables"
  | "ipsets"
  | "conntrack"
  | "links"
  | "rules"
  | "neighbours"
  | "fdb"
  | "wireguard";

/**
 * One kernel that runs a cluster: the sim's emulated one (agent's SimDataplaneKernel) or the real one
 * (dataplane/linux's LinuxDataplane). Both pass test/dataplane/contract.ts.
 */
export interface DataplaneKernel {
  /**
   * Makes the kernel look as `next` describes. With `previous` (the description applied last), only what differs
   * is changed: namespaces added or removed, links, addresses, routes and sysctls changed, the iptables chains
   * that changed (restore --noflush), ipset deltas, BIRD's files (then a reconfigure), processes started or
   * stopped. Anything that fails leaves what was applied before in place (fail static) and throws.
   */
  apply(next: ClusterDataplane, previous?: ClusterDataplane): Promise<void>;
  /** Runs a command in a namespace (a host's name or `NS/POD`), as the real tool would print. */
  run(target: string, argv: string[], options?: { timeoutMs?: number }): Promise<KernelCommandResult>;
  /** A namespace's state in the normalised form `KernelQuery` describes. */
  query(target: string, what: KernelQuery): Promise<string>;
  /** Removes every namespace, link and process this kernel made for the cluster. */
  destroy(): Promise<void>;
}
