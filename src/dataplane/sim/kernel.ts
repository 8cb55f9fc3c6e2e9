import { Conntrack } from "./conntrack.ts";
import { type Route, RouteTable } from "./fib.ts";
import { IpSets } from "./ipsets.ts";
import { type Ipv4Prefix, maskOf } from "./ipv4.ts";
import { type MatchContext, Netfilter } from "./netfilter/index.ts";
import { Nftables } from "./nft/index.ts";
import { DEFAULT_RULES, lookupByRules, MAIN_TABLE, type Rule } from "./policy-routing.ts";
import type { FdbEntry, VxlanDevice, WireguardDevice } from "./tunnel-devices.ts";

/** A layer-2 segment: the underlay bridge the hosts' uplinks share. */
export interface Segment {
  name: string;
  members: Link[];
  /**
   * Called when no member answers ARP for an address: the owner of the segment may join the namespace that
   * owns it then (a cluster that builds its hosts on demand). Members joined meanwhile are asked again.
   */
  resolve?: (ip: number) => void;
}

export interface Link {
  index: number;
  name: string;
  kind: "loopback" | "veth" | "ether" | "vxlan" | "ipip" | "wireguard";
  mac: string;
  mtu: number;
  up: boolean;
  /** For a veth: the other end, in its namespace. */
  peer?: { kernel: Kernel; link: Link };
  segment?: Segment;
  proxyArp: boolean;
  /** net.ipv4.conf.IFACE.rp_filter (0 off, 1 strict, 2 loose); sysctl.ts reads and writes it. */
  rpFilter: number;
  /**
   * The neighbours this link resolved, by address (`ip | 0`: a small integer key), and when (the fast path in
   * front of ARP; network.ts).
   */
  resolved?: Map<number, { kernel: Kernel; link: Link; proxy: boolean; at: number; entry: Neighbour }>;
  /** A VXLAN device's settings (`ip -d link show`). */
  vxlan?: VxlanDevice;
  /** A WireGuard device's configuration and peers' state (`wg show`). */
  wireguard?: WireguardDevice;
}

export interface Address {
  ip: number;
  len: number;
  dev: string;
}

/** A connection handler: given the request bytes as the server sees them, the response (or nothing). */
export interface ServerSocket {
  protocol: "tcp" | "udp" | "sctp";
  port: number;
  handle(request: Request): string | undefined;
}

export interface Request {
  src: number;
  sport: number;
  dst: number;
  dport: number;
  payload: string;
}

/** An entry of the neighbour (ARP) cache: who answered for `ip` on `dev`, and when (virtual-clock ms). */
export interface Neighbour {
  ip: number;
  dev: string;
  mac: string;
  confirmed: number;
  /** A static entry (`nud permanent`): never expires, never re-resolved (Felix's VTEP entries). */
  permanent?: boolean;
}

/** One network namespace: links, addresses, routes, sysctls, netfilter, conntrack and listening sockets. */
export class Kernel {
  readonly links = new Map<string, Link>();
  readonly addresses: Address[] = [];
  readonly main = new RouteTable();
  /** The routing tables by number (254 is `main`); others appear when a route is added to them. */
  readonly tables = new Map<number, RouteTable>([[MAIN_TABLE, this.main]]);
  /** The policy routing rules, by priority (the kernel's three defaults plus those added). */
  rules: Rule[] = [...DEFAULT_RULES];
  /** VXLAN forwarding entries (`bridge fdb`): which VTEP a MAC is behind. */
  readonly fdb: FdbEntry[] = [];
  readonly netfilter = new Netfilter();
  readonly nft = new Nftables();
  readonly conntrack = new Conntrack();
  readonly ipsets = new IpSets();
  readonly sockets = new Map<string, ServerSocket>();
  /** The neighbour cache neighbour resolution fills, by `dev|ip`. */
  readonly neighbours = new Map<string, Neighbour>();
  /**
   * The match context Network reuses for each packet's hooks in this namespace (network.ts). A packet's walk
   * is a chain of tail calls, so no two hooks of one namespace need their own context at the same time.
   */
  hookContext?: MatchContext;
  readonly sysctl = { ipForward: false, rpFilter: 0, rpFilterDefault: 0, multipathHashPolicy: 0 };
  private readonly localIps = new Set<number>();
  private nextIndex = 1;
  nextEphemeral = 32768;

  constructor(readonly name: string) {
    this.addLink({ name: "lo", kind: "loopback", mac: "00:00:00:00:00:00", mtu: 65536 });
    this.addAddress("lo", { addr: 0x7f000001, len: 8, mask: maskOf(8) }, 0x7f000001);
  }

  addLink(spec: { name: string; kind: Link["kind"]; mac: string; mtu: number }): Link {
    if (this.links.has(spec.name))
      throw new Error(`RTNETLINK answers: File exists (${spec.name} in ${this.name})`);
    const link: Link = {
      index: this.nextIndex++,
      up: true,
      proxyArp: false,
      rpFilter: this.sysctl.rpFilterDefault,
      ...spec,
    };
    this.links.set(spec.name, link);
    return link;
  }

  /** `ip addr add IP/LEN dev DEV`, with the connected route the kernel adds for it. */
  addAddress(dev: string, prefix: Ipv4Prefix, ip: number): void {
    this.addresses.push({ ip, len: prefix.len, dev });
    this.localIps.add(ip);
    if (prefix.len < 32 && dev !== "lo")
      this.main.add({
        type: "unicast",
        dst: prefix,
        nexthops: [{ dev, weight: 1 }],
        proto: "kernel",
        scope: "link",
        src: ip,
        metric: 0,
      });
  }

  addRoute(route: Route, table = MAIN_TABLE): void {
    this.table(table).add(table === MAIN_TABLE ? route : { ...route, table });
  }

  /** Routing table `n`, made empty on first use as the kernel does for `ip route add … table N`. */
  table(n: number): RouteTable {
    let t = this.tables.get(n);
    if (!t) {
      t = new RouteTable();
      this.tables.set(n, t);
    }
    return t;
  }

  /** The FIB lookup for a packet to `dst` with firewall mark `mark`: the rules in priority order (fib_rules). */
  routeLookup(dst: number, mark: number): Route | undefined {
    if (this.rules.length === DEFAULT_RULES.length) return this.main.lookup(dst);
    return lookupByRules(this.rules, this.tables, dst, mark);
  }

  addRule(rule: Rule): void {
    this.rules = [...this.rules, rule].sort((a, b) => a.priority - b.priority);
  }

  isLocal(ip: number): boolean {
    return this.localIps.has(ip) || ip >>> 24 === 127;
  }

  /** The address the kernel picks as source for traffic out of a device. */
  sourceFor(dev: string, dst: number): number | undefined {
    const onDev = this.addresses.filter((a) => a.dev === dev);
    const sameNet = onDev.find((a) => ((a.ip ^ dst) & maskOf(a.len)) >>> 0 === 0);
    return (sameNet ?? onDev[0] ?? this.addresses.find((a) => a.dev !== "lo"))?.ip;
  }

  listen(socket: ServerSocket): void {
    this.sockets.set(`${socket.protocol}:${socket.port}`, socket);
  }
}
