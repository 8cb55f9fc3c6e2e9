/**
 * The sim's BGP speakers: one BIRD per host, its protocols run over the emulated network to a fixpoint, and
 * each host's FIB programmed from its table. `converge()` recomputes everything from the configuration, the
 * FIBs and the saved session states at `net.now`; birdc.ts prints what it found.
 *
 * Route propagation is a worklist of (speaker, prefix) pairs: a changed prefix is offered only to the sessions
 * that could carry one of its old or new routes (a prefix learned over iBGP from a non-client is offered to
 * eBGP peers and reflector clients only), so a full mesh costs its inherent route count, not sessions².
 */
import { maskOf } from "../ipv4.ts";
import type { Kernel } from "../kernel.ts";
import type { Network } from "../network.ts";
import { birdc as birdcCommand } from "./birdc.ts";
import {
  ExchangeCache,
  incoming,
  nextHopResolver,
  preexportRefusal,
  protocolDecision,
  type ResolvedHop,
  rxRefusal,
} from "./exchange.ts";
import {
  directRoutes,
  FibRouteCache,
  kernelExport,
  learnedRoutes,
  staticRoutes,
  syncPrefix,
} from "./kernel-sync.ts";
import { prefixKey, RouteTableRib, type Rte } from "./rib.ts";
import {
  type BgpEnd,
  type BgpState,
  kernelSource,
  linkIfHeld,
  type PriorState,
  runSession,
} from "./session.ts";
import type { BirdConfig, BirdProtocol, BirdRoute, FilterDecision, KernelProtocol } from "./types.ts";

export interface BirdHostSpec {
  host: string;
  kernel: Kernel;
  config: BirdConfig;
  /** "v0.3.3+birdv1.6.8" on Calico nodes, "2.0.7" on host1. */
  version: string;
  /**
   * When each protocol was configured (virtual ms: the BGPPeer's or node's creation, when confd rendered it).
   * A session with no saved state starts then: Idle for its connect delay, Established from then on if the
   * network allows. Without it, a session first seen is taken to have started a connect delay ago, so it is
   * Established at once if the network allows (the labs look at a cluster that has been running).
   */
  startedAt?: Record<string, number>;
}

export interface ProtocolStatus {
  name: string;
  proto: "Kernel" | "Device" | "Direct" | "Static" | "BGP";
  table: string;
  state: "up" | "down" | "start";
  /** Virtual ms. */
  since: number;
  info: string;
  bgpState?: BgpState;
  neighbor?: number;
  lastError?: string;
}

/**
 * Per host, per protocol: its state and since-time (virtual ms), and when a session's loss was first seen. The keys
 * are in BIRD's protocol list order (`show protocols`), which the next run keeps (protocolOrder).
 */
export type BirdSavedState = Record<
  string,
  Record<string, { state: string; since: number; lostAt?: number; error?: string; upAt?: number }>
>;

export interface RouteVerdict {
  route: BirdRoute;
  decision: FilterDecision;
}

const PROTO_CLASS: Record<BirdProtocol["kind"], ProtocolStatus["proto"]> = {
  kernel: "Kernel",
  device: "Device",
  direct: "Direct",
  static: "Static",
  bgp: "BGP",
};

/** One host's BIRD. */
export class Speaker {
  readonly table: RouteTableRib;
  readonly ends: BgpEnd[] = [];
  readonly endByName = new Map<string, BgpEnd>();
  readonly endsByNeighbor = new Map<number, BgpEnd[]>();
  /** The ends that may carry routes learned over iBGP from a non-client: eBGP peers and reflector clients. */
  readonly reflectEnds: BgpEnd[] = [];
  readonly routerId: number;
  /** Prefixes whose exported route the kernel refused (EEXIST): `show route` marks their best route `!`. */
  readonly syncErrors = new Set<number>();
  /** Since-times of the non-BGP protocols. */
  readonly since = new Map<string, number>();
  resolve: Map<string, (gw: number) => ResolvedHop | undefined> = new Map();
  /** The protocols in the order BIRD lists them (`show protocols`), see protocolOrder. */
  order: BirdProtocol[] = [];
  /** The table before any BGP route entered it (prefix key → routes, best first): what `gateway recursive` reads. */
  igp = new Map<number, Rte[]>();

  constructor(readonly spec: BirdHostSpec) {
    const c = spec.config;
    this.table = new RouteTableRib(c.dialect === "bird2" ? "master4" : "master", c.dialect);
    const lowest = spec.kernel.addresses
      .filter((a) => a.dev !== "lo" && a.ip >>> 24 !== 127)
      .map((a) => a.ip);
    this.routerId = c.routerId ?? (lowest.length ? Math.min(...lowest) : 0);
  }

  get host(): string {
    return this.spec.host;
  }
  get kernel(): Kernel {
    return this.spec.kernel;
  }
  get config(): BirdConfig {
    return this.spec.config;
  }

  resolver(
    mode: "recursive" | "direct",
    intern: (gw: number, iface: string, igpMetric?: number) => ResolvedHop,
  ): (gw: number) => ResolvedHop | undefined {
    let r = this.resolve.get(mode);
    if (!r) {
      r = nextHopResolver(this.kernel, mode, (gw) => this.igpRoute(gw), intern);
      this.resolve.set(mode, r);
    }
    return r;
  }

  /** The best route of the longest prefix in `igp` covering `ip` (BIRD's net_route). */
  igpRoute(ip: number): Rte | undefined {
    for (let len = 32; len >= 0; len--) {
      const best = this.igp.get(((ip & maskOf(len)) >>> 0) * 64 + len)?.[0];
      if (best) return best;
    }
    return undefined;
  }
}

export class BgpFabric {
  readonly speakers = new Map<string, Speaker>();
  private readonly byIp = new Map<number, Speaker>();
  private readonly prior: BirdSavedState;
  private cache = new ExchangeCache();
  private readonly fibRoutes = new FibRouteCache();
  readonly net: Network;
  readonly clock: () => Date;
  private readonly intern = (gw: number, iface: string, igpMetric?: number) =>
    this.cache.intern(gw, iface, igpMetric);

  constructor(opts: { net: Network; hosts: BirdHostSpec[]; saved?: BirdSavedState; clock: () => Date }) {
    this.net = opts.net;
    this.clock = opts.clock;
    this.prior = opts.saved ?? {};
    for (const spec of opts.hosts) {
      if (this.speakers.has(spec.host)) throw new Error(`two BIRD configurations for host ${spec.host}`);
      const s = new Speaker(spec);
      this.speakers.set(spec.host, s);
      for (const a of spec.kernel.addresses)
        if (a.ip >>> 24 !== 127 && !this.byIp.has(a.ip)) this.byIp.set(a.ip, s);
      const port = spec.config.listen?.port ?? 179;
      spec.kernel.listen({ protocol: "tcp", port, handle: () => undefined });
    }
  }

  /** Converts a virtual time to the wall-clock date BIRD prints. */
  dateOf(ms: number): Date {
    const now = this.clock().getTime();
    return new Date(now - (this.net.now - ms));
  }

  speaker(host: string): Speaker {
    const s = this.speakers.get(host);
    if (!s) throw new Error(`no BIRD runs on ${host}`);
    return s;
  }

  converge(): void {
    const now = this.net.now;
    this.cache = new ExchangeCache();
    for (const s of this.speakers.values()) {
      s.ends.length = 0;
      s.reflectEnds.length = 0;
      s.endByName.clear();
      s.endsByNeighbor.clear();
      s.resolve.clear();
      s.table.nets.clear();
      s.order = protocolOrder(s.config, this.prior[s.host]);
      for (const p of s.config.protocols) {
        if (p.kind === "bgp") {
          const end: BgpEnd = {
            host: s.host,
            kernel: s.kernel,
            proto: p,
            routerId: s.routerId,
            localIp: p.sourceAddress ?? kernelSource(s.kernel, p.neighbor.ip),
            state: { bgpState: "Idle", since: now },
          };
          s.ends.push(end);
          s.endByName.set(p.name, end);
          const same = s.endsByNeighbor.get(p.neighbor.ip);
          if (same) same.push(end);
          else s.endsByNeighbor.set(p.neighbor.ip, [end]);
          if (p.rrClient || p.localAs !== p.neighbor.as) s.reflectEnds.push(end);
        } else
          s.since.set(
            p.name,
            this.prior[s.host]?.[p.name]?.since ?? Math.min(s.spec.startedAt?.[p.name] ?? now, now),
          );
      }
    }
    const t0 = performance.now();
    this.runSessions(now);
    const t1 = performance.now();
    const work = new Worklist();
    for (const s of this.speakers.values()) this.originate(s, now, work);
    // `gateway recursive` resolves through the table's originated routes (BIRD refuses to resolve through another
    // recursive route; resolving through a `gateway direct` BGP route is not modelled).
    for (const s of this.speakers.values()) s.igp = new Map(s.table.nets);
    this.propagate(work);
    const t2 = performance.now();
    for (const s of this.speakers.values()) this.program(s);
    this.timings = { sessionsMs: t1 - t0, routesMs: t2 - t1, kernelMs: performance.now() - t2 };
  }

  /** Wall time of the last converge's phases (for the benchmark; never part of any output). */
  timings = { sessionsMs: 0, routesMs: 0, kernelMs: 0 };

  /** The peer end configured for `a`: the protocol on the neighbour's speaker naming `a`'s address. */
  matchOf(a: BgpEnd): BgpEnd | undefined {
    const other = this.byIp.get(a.proto.neighbor.ip);
    if (!other) return undefined;
    const fits = (b: BgpEnd) => (b.localIp ?? a.proto.neighbor.ip) === a.proto.neighbor.ip;
    if (a.localIp !== undefined) return other.endsByNeighbor.get(a.localIp)?.find(fits);
    // No route to the neighbour, so no source address: the peer may still name one of this host's addresses.
    for (const addr of a.kernel.addresses) {
      const b = other.endsByNeighbor.get(addr.ip)?.find(fits);
      if (b) return b;
    }
    return undefined;
  }

  private runSessions(now: number): void {
    const done = new Set<BgpEnd>();
    const prior = (e: BgpEnd): PriorState | undefined => {
      const saved = this.prior[e.host];
      const p = saved?.[e.proto.name];
      if (p) return p;
      const started = this.speakers.get(e.host)?.spec.startedAt?.[e.proto.name];
      if (started !== undefined) return { state: "Idle", since: Math.min(started, now) };
      // Started at some moment before this command: as if its connect delay has passed.
      return { state: "Idle", since: now - e.proto.connectDelayTime * 1000, upAt: now };
    };
    for (const s of this.speakers.values())
      for (const a of s.ends) {
        if (done.has(a)) continue;
        const b = this.matchOf(a);
        if (b && done.has(b)) continue;
        done.add(a);
        if (b) done.add(b);
        runSession(this.net, now, a, b, prior);
        linkIfHeld(a, b);
      }
  }

  private originate(s: Speaker, now: number, work: Worklist): void {
    const byKey = new Map<number, Map<string, Rte[]>>();
    const add = (r: Rte) => {
      const k = prefixKey(r.net);
      let m = byKey.get(k);
      if (!m) {
        m = new Map();
        byKey.set(k, m);
      }
      const list = m.get(r.proto) ?? [];
      list.push(r);
      m.set(r.proto, list);
    };
    for (const p of s.config.protocols) {
      const at = s.since.get(p.name) ?? now;
      let routes: Rte[] = [];
      if (p.kind === "direct") routes = directRoutes(s.kernel, p, at);
      else if (p.kind === "static") routes = staticRoutes(s.kernel, p, at);
      else if (p.kind === "kernel" && p.learn) routes = learnedRoutes(s.kernel, p, at);
      for (const r of routes) {
        const f = this.cache.filters.run(p.import, r);
        if (f.decision.accepted) add(f.route === r ? r : { ...f.route, at });
      }
    }
    for (const [k, m] of byKey) for (const [proto, list] of m) work.set(s, k, proto, list);
  }

  private propagate(work: Worklist): void {
    for (let item = work.next(); item; item = work.next()) {
      const [s, key, old] = item;
      const now = s.table.get(key) ?? [];
      for (const e of targets(s, old, now)) {
        const peer = e.peer;
        if (!peer) continue;
        const sent = this.sendFor(s, e, now);
        const at = peer.state.since;
        const resolve = this.speaker(peer.host).resolver(peer.proto.gateway, this.intern);
        const received: Rte[] = [];
        for (const r of sent) {
          const got = this.cache.receive(peer, r, at, resolve);
          if (got) received.push(got);
        }
        work.set(this.speaker(peer.host), key, peer.proto.name, received);
      }
    }
  }

  /** The routes end `e` of speaker `s` sends for one prefix (add paths: every route, else the best). */
  private sendFor(s: Speaker, e: BgpEnd, routes: Rte[]): BirdRoute[] {
    const out: BirdRoute[] = [];
    const all = addPathsTx(e);
    for (const r of routes) {
      const source = r.source === "RTS_BGP" ? s.endByName.get(r.proto) : undefined;
      if (!preexportRefusal(e, r, source)) {
        const sent = this.cache.send(e, r, source);
        if (sent) out.push(sent);
      }
      if (!all) break;
    }
    return out;
  }

  private program(s: Speaker): void {
    const kp = s.config.protocols.find((p): p is KernelProtocol => p.kind === "kernel");
    const wanted = new Set<number>();
    s.syncErrors.clear();
    if (kp)
      for (const [key, routes] of s.table.nets) {
        const exp = kernelExport(kp, routes, this.cache.filters, s.config.dialect);
        if (!exp.length) continue;
        const route = this.fibRoutes.build(exp[0]!, exp, kp.metric, kp.mergePathsLimit);
        wanted.add(key);
        if (!syncPrefix(s.kernel, route)) s.syncErrors.add(key);
      }
    for (const r of s.kernel.main.routes)
      if (r.proto === "bird" && !wanted.has(prefixKey(r.dst))) s.kernel.main.remove(r);
  }

  /** One birdc command on a host (`show protocols`, `show route`, `show status`). */
  birdc(host: string, args: string[]): { out: string; code: number } {
    return birdcCommand(this, host, args);
  }

  saved(): BirdSavedState {
    const out: BirdSavedState = {};
    for (const s of this.speakers.values()) {
      // In BIRD's list order: the next run reads the order back from the keys (protocolOrder).
      const h: BirdSavedState[string] = {};
      for (const p of s.order) {
        if (p.kind === "bgp") {
          const st = s.endByName.get(p.name)?.state;
          if (st)
            h[p.name] = {
              state: st.bgpState,
              since: st.since,
              ...(st.lostAt !== undefined ? { lostAt: st.lostAt } : {}),
              ...(st.upAt !== undefined ? { upAt: st.upAt } : {}),
              ...(st.error ? { error: st.error } : {}),
            };
        } else h[p.name] = { state: "up", since: s.since.get(p.name) ?? this.net.now };
      }
      out[s.host] = h;
    }
    return out;
  }

  protocols(host: string): ProtocolStatus[] {
    const s = this.speaker(host);
    const bird2 = s.config.dialect === "bird2";
    return s.order.map((p): ProtocolStatus => {
      const table = !bird2 ? p.table : p.kind === "kernel" || p.kind === "static" ? p.table : "---";
      if (p.kind !== "bgp")
        return {
          name: p.name,
          proto: PROTO_CLASS[p.kind],
          table,
          state: "up",
          since: s.since.get(p.name) ?? this.net.now,
          info: "",
        };
      const st = s.endByName.get(p.name)!.state;
      const up = st.bgpState === "Established";
      return {
        name: p.name,
        proto: "BGP",
        table,
        state: up ? "up" : "start",
        since: st.since,
        info: `${st.bgpState.padEnd(14)}${st.error ?? ""}`,
        bgpState: st.bgpState,
        neighbor: p.neighbor.ip,
        ...(st.error ? { lastError: st.error } : {}),
      };
    });
  }

  /** Each best route in the table with the protocol's export verdict (BGP: what this peer would be sent). */
  exports(host: string, protocol: string): RouteVerdict[] {
    const s = this.speaker(host);
    const p = s.config.protocols.find((x) => x.name === protocol);
    if (!p) throw new Error(`${host}: no protocol ${protocol}`);
    const e = s.endByName.get(protocol);
    const out: RouteVerdict[] = [];
    for (const key of s.table.walkOrder()) {
      const routes = s.table.get(key)!;
      for (const r of routes) {
        if (e) {
          const source = r.source === "RTS_BGP" ? s.endByName.get(r.proto) : undefined;
          const why = preexportRefusal(e, r, source);
          if (why) out.push({ route: r, decision: protocolDecision(e, why) });
          else out.push(this.cache.filters.run(p.export, r));
          if (!addPathsTx(e)) break;
        } else {
          if (r.proto === p.name) continue;
          out.push(this.cache.filters.run(p.export, r));
          break;
        }
      }
    }
    return out;
  }

  /** Each route the peer sends over this session (its export side), with this side's import verdict. */
  imports(host: string, protocol: string): RouteVerdict[] {
    const s = this.speaker(host);
    const e = s.endByName.get(protocol);
    if (!e) throw new Error(`${host}: no BGP protocol ${protocol}`);
    const b = this.matchOf(e);
    if (!b) return [];
    const peer = this.speaker(b.host);
    const out: RouteVerdict[] = [];
    const resolve = s.resolver(e.proto.gateway, this.intern);
    for (const key of peer.table.walkOrder())
      for (const sent of this.sendFor(peer, b, peer.table.get(key)!)) {
        const gw = sent.attrs.bgp_next_hop;
        const r = incoming(e, sent, e.state.since, gw === undefined ? undefined : resolve(gw));
        if (!r) out.push({ route: sent, decision: protocolDecision(e, rxRefusal(e, sent) ?? "refused") });
        else out.push(this.cache.filters.run(e.proto.import, r));
      }
    return out;
  }
}

/**
 * The order BIRD lists its protocols in (nest/proto.c, protos_commit). A first start: the configuration's order.
 * A reconfiguration keeps the protocols that ran (those in `saved`, whose keys keep BIRD's list order) where they
 * were; a new one goes, in BIRD 1.6, at the end of the list (proto_init's add_tail), so a BGPPeer added to a
 * running Calico node is listed after the mesh; in BIRD 2, right after the protocol preceding it in the
 * configuration (at the head when it is first). Both checked on BIRD 1.6.8 and 2.0.12 with `birdc configure`.
 * Not modelled: BIRD 1.6 also moves a protocol that a reconfiguration restarts (e.g. a changed hold time) to the end.
 */
export function protocolOrder(config: BirdConfig, saved: BirdSavedState[string] | undefined): BirdProtocol[] {
  const byName = new Map(config.protocols.map((p) => [p.name, p]));
  const kept: BirdProtocol[] = [];
  for (const name of Object.keys(saved ?? {})) {
    const p = byName.get(name);
    if (p) kept.push(p);
  }
  if (kept.length === 0) return config.protocols.slice();
  const running = new Set(kept);
  if (config.dialect === "bird1") return kept.concat(config.protocols.filter((p) => !running.has(p)));
  const out = kept;
  let at = -1;
  for (const p of config.protocols) {
    if (running.has(p)) at = out.indexOf(p);
    else out.splice(++at, 0, p);
  }
  return out;
}

/** ADD-PATH is negotiated: several paths per prefix only when this end sends them and the peer takes them. */
function addPathsTx(e: BgpEnd): boolean {
  const tx = e.proto.addPaths === true || e.proto.addPaths === "tx";
  const peer = e.peer?.proto.addPaths ?? (e.proto.addPaths === true || e.proto.addPaths === "rx");
  return tx && (peer === true || peer === "rx");
}

/** The sessions of `s` that could carry one of a prefix's old or new routes. */
function targets(s: Speaker, old: Rte[] | undefined, now: Rte[]): BgpEnd[] {
  let onlyIbgpNonClient = true;
  for (const list of [old ?? [], now])
    for (const r of list) {
      if (r.source !== "RTS_BGP" || !r.ibgp) onlyIbgpNonClient = false;
      else if (s.endByName.get(r.proto)?.proto.rrClient) onlyIbgpNonClient = false;
    }
  if (!onlyIbgpNonClient) return s.ends;
  return s.reflectEnds;
}

/** Pending (speaker, prefix) changes, each with the prefix's routes before the first change. */
class Worklist {
  private readonly pending = new Map<Speaker, Map<number, Rte[] | undefined>>();

  set(s: Speaker, key: number, proto: string, routes: Rte[]): void {
    const before = s.table.get(key);
    if (!s.table.replace(key, proto, routes)) return;
    // Nothing to pass on (e.g. an iBGP client's reflected routes): the kernel sync reads the table at the end.
    if (targets(s, before, s.table.get(key) ?? []).length === 0) return;
    let m = this.pending.get(s);
    if (!m) {
      m = new Map();
      this.pending.set(s, m);
    }
    if (!m.has(key)) m.set(key, before);
  }

  next(): [Speaker, number, Rte[] | undefined] | undefined {
    for (const [s, m] of this.pending) {
      for (const [key, old] of m) {
        m.delete(key);
        if (m.size === 0) this.pending.delete(s);
        return [s, key, old];
      }
      this.pending.delete(s);
    }
    return undefined;
  }
}
