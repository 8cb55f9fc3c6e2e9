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
import { DataplaneCalculator, type DnsZoneSpec, type ProcessSpec } from "../calc/index.ts";
import type { ClusterTopology, TopologyHost } from "../control/index.ts";
import {
  applyNamespace,
  attachBpf,
  formatIpv4,
  Kernel,
  Network,
  parseIpv4,
  type Segment,
  SIM_KERNEL_FEATURES,
  tcpExchange,
} from "../dataplane/sim/index.ts";
import { SeededRandom } from "../lib/index.ts";
import type { FelixOrigins } from "../render/index.ts";
import { type ResolverConfig, resolveName } from "./resolver.ts";
import { type BgpWiring, forgetSessionTraces, startBgp } from "./sim-bgp.ts";
import { bgpHorizon, birdRoutes, inputFingerprints } from "./sim-bgp-cache.ts";
import {
  type BgpCacheMeta,
  emptyHostState,
  restoreCounters,
  type SimGlobalState,
  type SimHostState,
  type SimState,
  type SimStateUpdate,
  saveCounters,
} from "./sim-state.ts";

export {
  emptySimState,
  type SimGlobalState,
  type SimHostState,
  type SimState,
  type SimStateUpdate,
} from "./sim-state.ts";

export interface SimClusterOptions {
  /**
   * Build namespaces when first asked for (`kernel(name)`, or a packet's ARP on the underlay), and take the
   * routes BIRD programs from the last full BGP run when its inputs are unchanged and no BGP timer is due.
   * Without it every host and pod is built and BGP runs in full (what `birdc` and the summaries need).
   */
  lazy?: boolean;
  /**
   * A key for the objects' version (the store's revision they were read at): when the saved state has the
   * inputs' fingerprints for the same key, they are taken instead of hashing every object.
   */
  inputsKey?: string;
  /**
   * The code's identity (bin/tortie passes the bundle's hash): saved outcomes and notes of another build are not
   * replayed, since it may program the same objects differently.
   */
  build?: string;
}

/**
 * The whole cluster on the sim dataplane, programmed the way the agents would: per node, calc → render →
 * kernel. Hosts share one underlay segment; each running pod is a namespace joined to its node by a cali veth.
 *
 * A lazy cluster (options.lazy) builds a host (with its pods) only when a command or a packet needs it, so a
 * command's cost is the work it does, not the cluster's size.
 */
export class SimCluster {
  /** The namespaces built so far (every one unless lazy): hosts by name, pods as NS/POD. */
  readonly kernels = new Map<string, Kernel>();
  readonly net: Network;
  /** Per pod, the lines its apps logged during this command (appended to its log when the state is saved). */
  readonly logs = new Map<string, string[]>();
  /** Why parts of the cluster are not programmed (features not built yet). */
  readonly unsupported: string[] = [];
  /** What Felix would log a warning about and ignore (the sim ignores it too). */
  readonly warnings: string[] = [];
  /** Per node built, where each Felix rule came from (by table, chain and rule number), for `tortie trace`. */
  readonly felixOrigins = new Map<string, FelixOrigins>();
  /** The hosts' BIRDs (sim-bgp.ts): their configurations, the speakers, and why a host runs none. */
  bgp!: BgpWiring;
  /** Whether BGP ran in full in this process ("full") or its routes came from the saved outcome ("cached"). */
  bgpMode: "full" | "cached" = "full";
  private readonly rng: SeededRandom;
  private readonly resolvers = new Map<Kernel, ResolverConfig>();
  private readonly bootTime: number;
  /** The wall-clock ms the virtual clock was last synchronised with (see advanceClock). */
  private wall: number | undefined;
  private readonly underlay: Segment;
  private readonly hostByName = new Map<string, TopologyHost>();
  private readonly hostByIp = new Map<number, TopologyHost>();
  /** Running pods (an IP and a node) by node, in the store's order. */
  private readonly podsByNode = new Map<string, ApiObject[]>();
  private readonly podByKey = new Map<string, ApiObject>();
  private readonly podByIp = new Map<number, ApiObject>();
  private readonly built = new Set<string>();
  /** Each host's description (calc), computed when the host is built; Felix's rendering is shared with the notes. */
  private readonly dataplane: DataplaneCalculator;
  private zone?: DnsZoneSpec;
  /** Each built host's saved part as it was loaded (BGP's part passes through when BGP is cached). */
  private readonly loaded = new Map<string, SimHostState>();
  /** After a full BGP run: per host, the routes BIRD programmed and the port it listens on. */
  private readonly bgpOutcome = new Map<string, { routes: SimHostState["bgpRoutes"]; port: number }>();
  private bgpMeta: BgpCacheMeta | undefined;
  private notes: SimGlobalState["notes"];
  private readonly inputs: NonNullable<SimGlobalState["inputs"]>;

  constructor(
    readonly objects: ApiObject[],
    readonly topology: ClusterTopology,
    private readonly saved: SimState,
    /** The wall clock now (ms): the virtual clock catches up before the agents start (BGP sessions' Since). */
    wallMs?: number,
    options: SimClusterOptions = {},
  ) {
    this.rng = new SeededRandom(saved.global.rngState);
    this.net = new Network(this.rng.next);
    this.net.now = saved.global.now;
    this.wall = saved.global.wall;
    const topo = objects.find((o) => o.kind === "Topology");
    this.bootTime = Date.parse(topo?.metadata.creationTimestamp ?? "2026-01-01T00:00:00Z");
    this.dataplane = new DataplaneCalculator({ objects, topology, features: SIM_KERNEL_FEATURES });
    this.underlay = {
      name: "underlay",
      members: [],
      resolve: (ip) => {
        const h = this.hostByIp.get(ip);
        if (h) this.buildHost(h.name);
      },
    };
    for (const h of topology.hosts) {
      this.hostByName.set(h.name, h);
      const ip = parseIpv4(h.ip);
      if (ip !== undefined && !this.hostByIp.has(ip)) this.hostByIp.set(ip, h);
    }
    for (const pod of objects.filter((o) => o.kind === "Pod")) {
      if (!pod.status?.podIP || !pod.spec?.nodeName || !this.hostByName.has(pod.spec.nodeName)) continue;
      const list = this.podsByNode.get(pod.spec.nodeName);
      if (list) list.push(pod);
      else this.podsByNode.set(pod.spec.nodeName, [pod]);
      this.podByKey.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod);
      const ip = pod.spec.hostNetwork ? undefined : parseIpv4(pod.status.podIP);
      if (ip !== undefined && !this.podByIp.has(ip)) this.podByIp.set(ip, pod);
    }
    if (wallMs !== undefined) this.advanceClock(wallMs);
    const known = saved.global.inputs;
    if (options.inputsKey !== undefined && known?.key === options.inputsKey) this.inputs = known;
    else {
      const fp = inputFingerprints(topology, objects, options.build);
      this.inputs = { key: options.inputsKey ?? "", bgp: fp.bgp, all: fp.all };
    }
    const fingerprint = this.inputs.bgp;
    const meta = saved.global.bgp;
    const holds =
      meta && meta.fingerprint === fingerprint && (meta.horizon === undefined || this.net.now < meta.horizon);
    if (options.lazy && holds) {
      this.bgpMode = "cached";
      this.bgpMeta = meta;
      this.bgp = { fabric: undefined, instances: new Map(), failures: new Map(meta.failures) };
      this.takeNotes();
    } else {
      for (const h of topology.hosts) this.buildHost(h.name, false);
      this.notes = {
        fingerprint: this.inputs.all,
        unsupported: [...this.unsupported],
        warnings: [...this.warnings],
      };
      this.runBgp(fingerprint);
      for (const h of topology.hosts) this.restoreHost(h.name);
    }
  }

  /**
   * Felix's notes (what it cannot program, what it warns about) for every node, as a full build collects them:
   * from the saved state when the inputs are the same, else by rendering every node's rules (kept for the nodes
   * this command then builds). BGP's failures follow.
   */
  private takeNotes(): void {
    const fingerprint = this.inputs.all;
    const saved = this.saved.global.notes;
    if (saved?.fingerprint === fingerprint) this.notes = saved;
    else {
      const unsupported: string[] = [];
      const warnings: string[] = [];
      for (const h of this.topology.hosts) {
        if (h.role === "external") continue;
        const felix = this.dataplane.felix(h.name)!;
        for (const u of felix.unsupported) if (!unsupported.includes(u)) unsupported.push(u);
        for (const w of felix.warnings) if (!warnings.includes(w)) warnings.push(w);
      }
      this.notes = { fingerprint, unsupported, warnings };
    }
    this.unsupported.push(...this.notes.unsupported);
    this.warnings.push(...this.notes.warnings);
    for (const [host, why] of this.bgp.failures) this.unsupported.push(`BGP on ${host}: ${why}`);
  }

  /**
   * BIRD on every host that runs it, after pods are plumbed and netfilter is loaded: the sessions connect over
   * TCP 179 through the hosts' rules, and the kernel protocols program the routes between nodes. The outcome
   * is kept (sim-bgp-cache.ts) for later commands to replay while its inputs stay the same.
   *
   * **Decision:** the sessions' packets leave no trace users see. A real BIRD's keepalives would count in
   * iptables counters and keep conntrack and neighbour entries alive, but the sim re-establishes the sessions
   * on every command; letting that count would make counters grow per command typed. So the counters,
   * conntrack entries, neighbour entries, ephemeral ports and random draws the sessions caused are forgotten
   * before the saved state is restored.
   */
  private runBgp(fingerprint: string): void {
    const rng = this.rng.state;
    const now = this.net.now;
    const saved: NonNullable<Parameters<typeof startBgp>[0]["saved"]> = {};
    let any = false;
    for (const h of this.topology.hosts) {
      const bgp = this.saved.bgpSessions(h.name);
      if (bgp) {
        saved[h.name] = bgp;
        any = true;
      }
    }
    this.bgp = startBgp({
      net: this.net,
      kernels: this.kernels,
      nodes: this.topology.hosts.map((h) => this.dataplane.node(h.name)),
      objects: this.objects,
      saved: any ? saved : undefined,
      clock: () => this.virtualDate(),
      ...(this.wall === undefined ? {} : { wallMs: this.wall }),
    });
    for (const [host, why] of this.bgp.failures) this.unsupported.push(`BGP on ${host}: ${why}`);
    forgetSessionTraces(this.kernels.values());
    this.rng.state = rng;
    this.net.now = now;
    const fabric = this.bgp.fabric;
    for (const [host, i] of this.bgp.instances) {
      const k = this.kernels.get(host);
      if (k && fabric)
        this.bgpOutcome.set(host, { routes: birdRoutes(k), port: i.config.listen?.port ?? 179 });
    }
    const horizon = fabric ? bgpHorizon(fabric, now) : Number.POSITIVE_INFINITY;
    this.bgpMeta = {
      fingerprint,
      ...(horizon === Number.POSITIVE_INFINITY ? {} : { horizon }),
      failures: [...this.bgp.failures],
    };
  }

  /** A host's saved part (loaded once). */
  private hostState(name: string): SimHostState {
    let s = this.loaded.get(name);
    if (!s) {
      s = this.saved.host(name) ?? emptyHostState();
      this.loaded.set(name, s);
    }
    return s;
  }

  /**
   * A host's namespace and its pods', programmed as the agents would: links and routes, kube-proxy's and
   * Felix's rules, apps and host services, BIRD's routes (lazy: from the saved outcome), then its saved state.
   */
  private buildHost(name: string, restore = true): void {
    if (this.built.has(name)) return;
    const h = this.hostByName.get(name);
    if (!h) return;
    this.built.add(name);
    const desc = this.dataplane.node(name);
    const options = {
      segment: (n: string) => (n === this.underlay.name ? this.underlay : undefined),
      kernel: (n: string) => this.kernels.get(n),
      clock: () => this.net.now,
    };
    for (const ns of desc.namespaces) {
      const nk = new Kernel(ns.name);
      applyNamespace(nk, ns, options);
      this.kernels.set(ns.name, nk);
      const rc = ns.resolvConf;
      if (rc)
        this.resolvers.set(nk, { search: rc.search, nameserver: parseIpv4(rc.nameserver)!, ndots: rc.ndots });
    }
    const k = this.kernels.get(h.name)!;
    if (desc.bpf) attachBpf(k, h.name, desc.bpf);
    const origins = this.dataplane.felixOrigins(h.name);
    if (origins) this.felixOrigins.set(h.name, origins);
    for (const u of desc.unsupported) if (!this.unsupported.includes(u)) this.unsupported.push(u);
    for (const w of desc.warnings) if (!this.warnings.includes(w)) this.warnings.push(w);
    this.startApps(desc.processes);
    if (this.bgpMode === "cached") {
      const s = this.hostState(h.name);
      // BIRD's routes as the last full run programmed them, and its listening socket.
      if (s.bgpPort !== undefined) k.listen({ protocol: "tcp", port: s.bgpPort, handle: () => undefined });
      for (const r of s.bgpRoutes ?? []) k.addRoute(r);
    }
    if (restore) this.restoreHost(h.name);
  }

  /** Puts a host's saved counters, conntrack, ephemeral ports and neighbours back on it and its pods. */
  private restoreHost(name: string): void {
    const s = this.hostState(name);
    for (const k of this.unitKernels(name)) {
      restoreCounters(k, s.counters);
      const ct = s.conntrack[k.name];
      if (ct) k.conntrack.restoreSnapshot(ct);
      const port = s.ephemeral[k.name];
      if (port !== undefined) k.nextEphemeral = port;
      // A device that is gone (its pod deleted) took its entries with it.
      for (const n of s.neighbours[k.name] ?? [])
        if (k.links.has(n.dev)) k.neighbours.set(`${n.dev}|${n.ip}`, n);
    }
  }

  /** A host's namespace and its pods' (the unit its state is saved in). */
  private unitKernels(host: string): Kernel[] {
    const out: Kernel[] = [];
    const k = this.kernels.get(host);
    if (k) out.push(k);
    for (const pod of this.podsByNode.get(host) ?? []) {
      const pk = this.kernels.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
      if (pk) out.push(pk);
    }
    return out;
  }

  /**
   * Starts the description's processes: a container's app (its image's, or the DNS server for CoreDNS) in its
   * pod's namespace (the host's for a host-networked pod), then the host's own services on ports no app took.
   */
  private startApps(processes: ProcessSpec[]): void {
    for (const p of processes) {
      const k = this.kernels.get(p.namespace);
      if (!k) continue;
      const role = /^tortie\/host-services:(control-plane|worker|external)$/.exec(p.image)?.[1];
      if (role) {
        for (const l of hostServices(role as TopologyHost["role"]))
          if (!k.sockets.has(`${l.protocol}:${l.port}`)) this.serve(k, l, () => {});
        continue;
      }
      let listeners: AppListener[] | undefined = appsForImage(p.image);
      if (p.image.includes("coredns")) {
        const zone = this.dnsZone();
        const records = this.dataplane.zone();
        listeners = dnsServer(() => ({ domain: zone.domain, records, serial: zone.serial }));
      }
      const logTo = p.logTo;
      for (const l of listeners ?? []) this.serve(k, l, logTo ? (line) => this.log(logTo, line) : () => {});
    }
  }

  private dnsZone(): DnsZoneSpec {
    this.zone ??= this.dataplane.dnsZone();
    return this.zone;
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

  /** A host's (by name) or a running pod's (NS/POD) namespace, built on first use; undefined if there is none. */
  kernel(target: string): Kernel | undefined {
    const k = this.kernels.get(target);
    if (k) return k;
    const node = this.hostByName.has(target) ? target : this.podByKey.get(target)?.spec.nodeName;
    if (node === undefined) return undefined;
    this.buildHost(node);
    return this.kernels.get(target);
  }

  /** The namespace that has `ip` on an interface other than lo: a host's address or a pod's. */
  kernelOwning(ip: number): Kernel | undefined {
    const h = this.hostByIp.get(ip);
    if (h) return this.kernel(h.name);
    const pod = this.podByIp.get(ip);
    return pod && this.kernel(`${pod.metadata.namespace}/${pod.metadata.name}`);
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

  /**
   * The state to save after a command: the global part, and the part of each host this command built (the
   * others' stay as saved). Counters are kept per rule text, so a rule that stays keeps counting.
   */
  state(): SimStateUpdate {
    const hosts = new Map<string, SimHostState>();
    const sessions = this.bgpMode === "full" ? (this.bgp.fabric?.saved() ?? {}) : undefined;
    for (const name of this.built) {
      const s = emptyHostState();
      for (const k of this.unitKernels(name)) {
        saveCounters(k, s.counters);
        const live = k.conntrack.snapshot(this.net.now);
        if (live.length) s.conntrack[k.name] = live;
        if (k.nextEphemeral !== 32768) s.ephemeral[k.name] = k.nextEphemeral;
        if (k.neighbours.size) s.neighbours[k.name] = [...k.neighbours.values()];
      }
      if (this.bgpMode === "full") {
        const outcome = this.bgpOutcome.get(name);
        if (outcome) {
          s.bgpRoutes = outcome.routes;
          s.bgpPort = outcome.port;
        }
      } else {
        const prev = this.hostState(name);
        if (prev.bgpRoutes) s.bgpRoutes = prev.bgpRoutes;
        if (prev.bgpPort !== undefined) s.bgpPort = prev.bgpPort;
      }
      hosts.set(name, s);
    }
    const global: SimGlobalState = {
      now: this.net.now,
      rngState: this.rng.state,
      ...(this.wall === undefined ? {} : { wall: this.wall }),
      ...(this.inputs.key ? { inputs: this.inputs } : {}),
      ...(this.bgpMeta ? { bgp: this.bgpMeta } : {}),
      ...(this.notes ? { notes: this.notes } : {}),
    };
    return {
      global,
      hosts,
      ...(sessions
        ? { bgpSessions: new Map(this.topology.hosts.map((h) => [h.name, sessions[h.name]])) }
        : {}),
      source: this.saved,
      logs: this.logs,
    };
  }
}
