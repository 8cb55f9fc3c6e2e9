import type { ApiObject } from "../api/index.ts";
import {
  type AppListener,
  appsForImage,
  DNS_TYPES,
  dnsServer,
  formatRequest,
  hostServices,
  parseResponse,
} from "../apps/index.ts";
import { clusterDnsZone } from "../calc/index.ts";
import { type ClusterTopology, calicoInterfaceName, POD_GATEWAY } from "../control/index.ts";
import {
  type BirdSavedState,
  type ConntrackEntry,
  counterEntries,
  formatIpv4,
  joinSegment,
  Kernel,
  maskOf,
  type Neighbour,
  Network,
  parseIpv4,
  parseIpv4Prefix,
  ruleSaveText,
  type Segment,
  tcpExchange,
} from "../dataplane/sim/index.ts";
import { formatCidr } from "../net/index.ts";
import { buildPolicyModel } from "../policy/index.ts";
import {
  buildServicePorts,
  type FelixOrigins,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  renderFelixIptables,
  renderKubeProxyJumps,
  renderNftables,
} from "../render/index.ts";
import { type ResolverConfig, resolveName } from "./resolver.ts";
import { type BgpWiring, forgetSessionTraces, startBgp } from "./sim-bgp.ts";

/** What survives between two CLI invocations: the virtual clock, randomness, counters, conntrack, app logs. */
export interface SimState {
  now: number;
  rngState: number;
  counters: Record<string, [number, number]>;
  conntrack: Record<string, ConntrackEntry[]>;
  ephemeral: Record<string, number>;
  logs: Record<string, string[]>;
  /** Per namespace, its neighbour cache (`ip neigh`). */
  neighbours?: Record<string, Neighbour[]>;
  /** The wall clock (ms since the epoch) at which `now` was read; the next command advances `now` from it. */
  wall?: number;
  /** Per host and BIRD protocol, its state and since when (so `birdc`'s Since column survives commands). */
  bgp?: BirdSavedState;
}

export function emptySimState(): SimState {
  return { now: 0, rngState: 0x2545f491, counters: {}, conntrack: {}, ephemeral: {}, logs: {} };
}

/** A seeded generator (mulberry32) whose state is one number, so it can be saved with the cluster. */
class SeededRandom {
  constructor(public state: number) {}
  next = (): number => {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function byKind(objects: ApiObject[], kind: string): ApiObject[] {
  return objects.filter((o) => o.kind === kind);
}

function macFor(seed: string): string {
  let h = 0x811c9dc5;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const b = [0x0a, 0x58, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * The whole cluster on the sim dataplane, programmed the way the agents would: per node, calc → render →
 * kernel. Hosts share one underlay segment; each running pod is a namespace joined to its node by a cali veth.
 */
export class SimCluster {
  readonly kernels = new Map<string, Kernel>();
  readonly net: Network;
  readonly logs = new Map<string, string[]>();
  /** Why parts of the cluster are not programmed (features not built yet). */
  readonly unsupported: string[] = [];
  /** What Felix would log a warning about and ignore (the sim ignores it too). */
  readonly warnings: string[] = [];
  /** Per node, where each Felix rule came from (by table, chain and rule number), for `tortie trace`. */
  readonly felixOrigins = new Map<string, FelixOrigins>();
  private readonly rng: SeededRandom;
  private readonly podKernels = new Map<string, Kernel>();
  private readonly resolvers = new Map<Kernel, ResolverConfig>();
  private readonly bootTime: number;
  /** The wall-clock ms the virtual clock was last synchronised with (see advanceClock). */
  private wall: number | undefined;
  /** The hosts' BIRDs (sim-bgp.ts): their configurations, the speakers, and why a host runs none. */
  bgp!: BgpWiring;

  constructor(
    readonly objects: ApiObject[],
    readonly topology: ClusterTopology,
    state: SimState,
    /** The wall clock now (ms): the virtual clock catches up before the agents start (BGP sessions' Since). */
    wallMs?: number,
  ) {
    this.rng = new SeededRandom(state.rngState);
    this.net = new Network(this.rng.next);
    this.net.now = state.now;
    this.wall = state.wall;
    const topo = objects.find((o) => o.kind === "Topology");
    this.bootTime = Date.parse(topo?.metadata.creationTimestamp ?? "2026-01-01T00:00:00Z");
    if (wallMs !== undefined) this.advanceClock(wallMs);
    this.build();
    this.runBgp(state);
    this.restore(state);
  }

  /**
   * BIRD on every host that runs it, after pods are plumbed and netfilter is loaded: the sessions connect over
   * TCP 179 through the hosts' rules, and the kernel protocols program the routes between nodes.
   *
   * **Decision:** the sessions' packets leave no trace users see. A real BIRD's keepalives would count in
   * iptables counters and keep conntrack and neighbour entries alive, but the sim re-establishes the sessions
   * on every command; letting that count would make counters grow per command typed. So the counters,
   * conntrack entries, neighbour entries, ephemeral ports and random draws the sessions caused are forgotten
   * before the saved state is restored.
   */
  private runBgp(state: SimState): void {
    const rng = this.rng.state;
    const now = this.net.now;
    this.bgp = startBgp({
      net: this.net,
      kernels: this.kernels,
      topology: this.topology,
      objects: this.objects,
      saved: state.bgp,
      clock: () => this.virtualDate(),
      ...(this.wall === undefined ? {} : { wallMs: this.wall }),
    });
    for (const [host, why] of this.bgp.failures) this.unsupported.push(`BGP on ${host}: ${why}`);
    forgetSessionTraces(this.kernels.values());
    this.rng.state = rng;
    this.net.now = now;
  }

  private build(): void {
    const underlay: Segment = { name: "underlay", members: [] };
    const t = this.topology;
    for (const h of t.hosts) {
      const k = new Kernel(h.name);
      // Ubuntu's sysctl defaults (10-network-security.conf): loose reverse-path filtering.
      k.sysctl.rpFilter = k.sysctl.rpFilterDefault = 2;
      const link = k.addLink({ name: h.interface, kind: "ether", mac: macFor(h.name), mtu: 1500 });
      joinSegment(underlay, k, link);
      k.addAddress(h.interface, parseIpv4Prefix(`${h.ip}/${h.prefix}`)!, parseIpv4(h.ip)!);
      k.sysctl.ipForward = h.role !== "external";
      this.kernels.set(h.name, k);
    }
    // The lab's external host is its router. Cluster hosts route by default through it, as the seed's nodes do
    // through their DHCP gateway; without a default route Linux's proxy ARP would not answer for 169.254.1.1.
    const router = t.hosts.find((h) => h.role === "external");
    if (router)
      for (const h of t.hosts)
        if (h !== router)
          this.kernels.get(h.name)!.addRoute({
            type: "unicast",
            dst: { addr: 0, len: 0, mask: 0 },
            nexthops: [{ via: parseIpv4(router.ip)!, dev: h.interface, weight: 1 }],
            proto: "static",
            scope: "global",
            metric: 100,
          });
    const pods = byKind(this.objects, "Pod").filter((p) => p.status?.podIP && p.spec?.nodeName);
    for (const pod of pods) this.plumbPod(pod);
    const model = buildPolicyModel(this.objects);
    const pools = byKind(this.objects, "IPPool").filter(
      (p) => !p.spec?.disabled && !String(p.spec?.cidr).includes(":"),
    );
    const masq = pools.filter((p) => p.spec?.natOutgoing).map((p) => String(p.spec.cidr));
    const all = pools.map((p) => String(p.spec.cidr));
    const services = byKind(this.objects, "Service");
    const slices = byKind(this.objects, "EndpointSlice");
    for (const h of t.hosts) {
      if (h.role === "external") continue;
      const k = this.kernels.get(h.name)!;
      const config = kubeProxyIptablesConfig({
        nodeName: h.name,
        nodeIP: h.ip,
        clusterCIDR: formatCidr(t.clusterCIDR),
      });
      const proxyPorts = buildServicePorts(services, slices, h.name, 4);
      if (t.kubeProxyMode === "nftables") {
        // nftables mode: table ip kube-proxy instead of the KUBE-* chains (Felix stays on iptables).
        k.nft.clock = () => this.net.now;
        const serviceCIDRs = [formatCidr(t.serviceCIDR)];
        k.nft.load(renderNftables({ config, serviceCIDRs, servicePorts: proxyPorts }), "kube-proxy.nft");
      } else {
        const sync = new KubeProxyIptablesSyncer(config).sync(proxyPorts);
        k.netfilter.restore(sync.restore, { noflush: true });
        k.netfilter.restore(renderKubeProxyJumps(), { noflush: true });
      }
      const felix = renderFelixIptables({
        model,
        node: h.name,
        masqueradePools: masq,
        allPools: all,
        interfaces: [
          { name: "lo", ips: ["127.0.0.1"] },
          { name: h.interface, ips: [h.ip] },
        ],
      });
      k.ipsets.restore(felix.ipsets);
      // raw, mangle, filter and nat in one payload, as Felix's table syncers leave them.
      k.netfilter.restore(felix.restore, { noflush: true });
      this.felixOrigins.set(h.name, felix.origins);
      for (const u of felix.unsupported) if (!this.unsupported.includes(u)) this.unsupported.push(u);
      for (const w of felix.warnings) if (!this.warnings.includes(w)) this.warnings.push(w);
    }
    this.startApps(pods);
    this.startHostServices();
  }

  /** sshd, the API server and the kubelet in each host's own namespace. */
  private startHostServices(): void {
    for (const h of this.topology.hosts) {
      const k = this.kernels.get(h.name)!;
      for (const l of hostServices(h.role))
        if (!k.sockets.has(`${l.protocol}:${l.port}`)) this.serve(k, l, () => {});
    }
  }

  /** Runs an app's listener in a namespace: its requests come from the kernel, its clock is the virtual one. */
  private serve(k: Kernel, l: AppListener, log: (line: string) => void): void {
    k.listen({
      protocol: l.protocol,
      port: l.port,
      handle: (req) =>
        l.handle(
          { clientIp: formatIpv4(req.src), clientPort: req.sport, payload: req.payload },
          { fetch: (url) => this.fetch(k, url), log, now: () => this.virtualDate() },
        ),
    });
  }

  private plumbPod(pod: ApiObject): void {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const node = this.kernels.get(pod.spec.nodeName);
    if (!node) return;
    if (pod.spec.hostNetwork) {
      this.podKernels.set(`${ns}/${name}`, node);
      return;
    }
    const ip = parseIpv4(pod.status.podIP);
    if (ip === undefined) return;
    const k = new Kernel(`${ns}/${name}`);
    const iface = calicoInterfaceName(ns, name);
    const eth0 = k.addLink({ name: "eth0", kind: "veth", mac: macFor(`${ns}/${name}`), mtu: 1450 });
    const cali = node.addLink({ name: iface, kind: "veth", mac: "ee:ee:ee:ee:ee:ee", mtu: 1450 });
    eth0.peer = { kernel: node, link: cali };
    cali.peer = { kernel: k, link: eth0 };
    cali.proxyArp = true;
    // Felix's configureInterface: strict reverse-path filtering on workload interfaces (max(all, iface) wins).
    cali.rpFilter = 1;
    k.addAddress("eth0", { addr: ip, len: 32, mask: maskOf(32) }, ip);
    const gw = parseIpv4(POD_GATEWAY)!;
    k.addRoute({
      type: "unicast",
      dst: { addr: gw, len: 32, mask: maskOf(32) },
      nexthops: [{ dev: "eth0", weight: 1 }],
      proto: "boot",
      scope: "link",
      metric: 0,
    });
    k.addRoute({
      type: "unicast",
      dst: { addr: 0, len: 0, mask: 0 },
      nexthops: [{ via: gw, dev: "eth0", weight: 1 }],
      proto: "boot",
      scope: "global",
      metric: 0,
    });
    node.addRoute({
      type: "unicast",
      dst: { addr: ip, len: 32, mask: maskOf(32) },
      nexthops: [{ dev: iface, weight: 1 }],
      proto: "boot",
      scope: "link",
      metric: 0,
    });
    this.kernels.set(`${ns}/${name}`, k);
    this.podKernels.set(`${ns}/${name}`, k);
  }

  private startApps(pods: ApiObject[]): void {
    const t = this.topology;
    const zone = clusterDnsZone({
      domain: t.clusterDomain,
      services: byKind(this.objects, "Service"),
      endpointSlices: byKind(this.objects, "EndpointSlice"),
      pods: byKind(this.objects, "Pod"),
    });
    for (const pod of pods) {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      const k = this.podKernels.get(key);
      if (!k) continue;
      const ns = String(pod.metadata.namespace);
      if (!pod.spec.hostNetwork)
        this.resolvers.set(k, {
          search: [`${ns}.svc.${t.clusterDomain}`, `svc.${t.clusterDomain}`, t.clusterDomain],
          nameserver: parseIpv4(t.dnsServiceIP)!,
          ndots: 5,
        });
      for (const c of pod.spec.containers ?? []) {
        let listeners: AppListener[] | undefined = appsForImage(String(c.image ?? ""));
        if (String(c.image).includes("coredns"))
          listeners = dnsServer(() => ({
            domain: `${t.clusterDomain.replace(/\.$/, "")}.`,
            records: zone,
            serial: Math.floor(this.bootTime / 1000),
          }));
        for (const l of listeners ?? []) this.serve(k, l, (line) => this.log(key, line));
      }
    }
  }

  log(pod: string, line: string): void {
    const list = this.logs.get(pod) ?? [];
    list.push(line);
    this.logs.set(pod, list);
  }

  /**
   * Between commands the virtual clock follows real time: it moves on by the wall-clock time elapsed since the
   * state was saved (never backwards), so log times, conntrack timeouts and neighbour states age as on a host.
   * A state never synchronised starts at the wall clock's time since the cluster was created.
   */
  private advanceClock(wallMs: number): void {
    const elapsed = this.wall === undefined ? wallMs - this.bootTime - this.net.now : wallMs - this.wall;
    if (elapsed > 0) this.net.now += elapsed;
    this.wall = wallMs;
  }

  /** The virtual clock as a wall-clock date (the cluster's creation time plus the virtual time since). */
  virtualDate(): Date {
    return new Date(this.bootTime + this.net.now);
  }

  kernel(target: string): Kernel | undefined {
    return this.kernels.get(target);
  }

  /** A namespace's resolv.conf: a pod's ClusterFirst one; a host asks the cluster DNS with no search list. */
  resolverConfig(k: Kernel): ResolverConfig {
    return (
      this.resolvers.get(k) ?? { search: [], nameserver: parseIpv4(this.topology.dnsServiceIP)!, ndots: 1 }
    );
  }

  /** getaddrinfo in a namespace: the search list, then DNS queries over UDP 53 (through NAT and policy). */
  resolve(
    k: Kernel,
    name: string,
    budgetMs?: number,
  ): { ok: true; ip: number } | { ok: false; error: string } {
    const literal = parseIpv4(name);
    if (literal !== undefined) return { ok: true, ip: literal };
    const r = resolveName(this.net, k, this.resolverConfig(k), name, DNS_TYPES.A, budgetMs);
    if (!r.ok) return { ok: false, error: r.error };
    return { ok: true, ip: parseIpv4(r.message.answers.find((a) => a.type === DNS_TYPES.A)!.data)! };
  }

  /** An HTTP GET from a namespace, as curl would make it. */
  fetch(
    k: Kernel,
    url: string,
    connectTimeoutMs?: number,
  ): { ok: true; status: number; body: string } | { ok: false; error: string } {
    const m = /^(?:http:\/\/)?([^/:]+)(?::(\d+))?(\/.*)?$/.exec(url);
    if (!m) return { ok: false, error: "bad-url" };
    const host = m[1]!;
    const port = m[2] ? Number(m[2]) : 80;
    const path = m[3] ?? "/";
    const addr = this.resolve(k, host, connectTimeoutMs);
    // A name whose lookup went unanswered: curl tells that apart from a connect that timed out.
    if (!addr.ok) return { ok: false, error: addr.error === "timeout" ? "resolve-timeout" : addr.error };
    const res = tcpExchange(
      this.net,
      k,
      addr.ip,
      port,
      formatRequest("GET", m[2] ? `${host}:${port}` : host, path),
      {
        connectTimeoutMs,
      },
    );
    if (!res.ok) return { ok: false, error: res.error };
    const http = parseResponse(res.response);
    if (!http) return { ok: false, error: "empty-reply" };
    return { ok: true, status: http.status, body: http.body };
  }

  private counterKeys(): [string, { packets: number; bytes: number }][] {
    const out: [string, { packets: number; bytes: number }][] = [];
    for (const [host, k] of this.kernels)
      for (const [table, chains] of k.netfilter.tables)
        for (const [name, chain] of chains) {
          if (chain.policy) out.push([`${host}|${table}|${name}|policy`, chain]);
          const seen = new Map<string, number>();
          for (const r of chain.rules) {
            const text = ruleSaveText(r);
            const n = seen.get(text) ?? 0;
            seen.set(text, n + 1);
            out.push([`${host}|${table}|${name}|${text}#${n}`, r]);
          }
        }
    for (const [host, k] of this.kernels)
      for (const [key, c] of counterEntries(k.nft)) out.push([`${host}|nft|${key}`, c]);
    return out;
  }

  private restore(state: SimState): void {
    for (const [key, c] of this.counterKeys()) {
      const saved = state.counters[key];
      if (saved) [c.packets, c.bytes] = saved;
    }
    for (const [host, entries] of Object.entries(state.conntrack))
      this.kernels.get(host)?.conntrack.restoreSnapshot(entries);
    for (const [host, port] of Object.entries(state.ephemeral)) {
      const k = this.kernels.get(host);
      if (k) k.nextEphemeral = port;
    }
    for (const [pod, lines] of Object.entries(state.logs)) this.logs.set(pod, [...lines]);
    for (const [host, entries] of Object.entries(state.neighbours ?? {})) {
      const k = this.kernels.get(host);
      // A device that is gone (its pod deleted) took its entries with it.
      if (k) for (const n of entries) if (k.links.has(n.dev)) k.neighbours.set(`${n.dev}|${n.ip}`, n);
    }
  }

  /** The state to save after a command. Counters are kept per rule text, so a rule that stays keeps counting. */
  state(): SimState {
    const counters: SimState["counters"] = {};
    for (const [key, c] of this.counterKeys()) if (c.packets || c.bytes) counters[key] = [c.packets, c.bytes];
    const conntrack: SimState["conntrack"] = {};
    const ephemeral: SimState["ephemeral"] = {};
    const neighbours: Record<string, Neighbour[]> = {};
    for (const [host, k] of this.kernels) {
      const live = k.conntrack.snapshot(this.net.now);
      if (live.length) conntrack[host] = live;
      if (k.nextEphemeral !== 32768) ephemeral[host] = k.nextEphemeral;
      if (k.neighbours.size) neighbours[host] = [...k.neighbours.values()];
    }
    return {
      now: this.net.now,
      rngState: this.rng.state,
      counters,
      conntrack,
      ephemeral,
      logs: Object.fromEntries(this.logs),
      neighbours,
      ...(this.wall === undefined ? {} : { wall: this.wall }),
      ...(this.bgp.fabric ? { bgp: this.bgp.fabric.saved() } : {}),
    };
  }
}
