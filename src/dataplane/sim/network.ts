import { resolveNeighbour } from "./arp.ts";
import { type ConntrackEntry, replyTupleOf } from "./conntrack.ts";
import { chooseNexthop, flowHash } from "./fib.ts";
import { mix32 } from "./hash.ts";
import { formatIpv4 } from "./ipv4.ts";
import type { Kernel } from "./kernel.ts";
import { KernelMatchContext } from "./match-context.ts";
import {
  type CtState,
  type Hook,
  ICMP,
  type MatchContext,
  type Packet,
  type RuleHit,
  type TableName,
  TCP,
  TCP_SYN,
  type TraversalResult,
} from "./netfilter/index.ts";
import { traverseHook } from "./nft/index.ts";
import { isIcmpError, rejectReply } from "./reject.ts";
import { relatedEntry, translateRelated, unconfirmedEntry } from "./related.ts";
import { rpFilterAccepts } from "./sysctl.ts";
import { endpoint, protoLabel, type Trace, type TraceHop, traceRoute, traceSeq } from "./trace-record.ts";

export { joinSegment } from "./arp.ts";
export type { Trace, TraceHop, TraceRoute } from "./trace-record.ts";

export type Delivery =
  | { kind: "delivered"; kernel: Kernel; packet: Packet }
  | { kind: "dropped"; host: string; reason: string }
  | { kind: "rejected"; host: string; with: string; at?: Kernel; from?: number; answer?: Packet }
  | { kind: "unreachable"; host: string; reason: "network" | "host" };

/** Sees a packet an interface receives (`in`) or transmits (`out`), as a packet socket would. */
export type PacketTap = (
  kernel: Kernel,
  dev: string,
  direction: "in" | "out",
  p: Packet,
  frame: { src: string; dst: string },
) => void;

const LOOPBACK_MAC = "00:00:00:00:00:00";

const MAX_HOPS = 32;
/** The tables of a hook, in order (module constants: these loops run for every packet). */
const RAW_MANGLE = ["raw", "mangle"] as const;
const MANGLE_FILTER = ["mangle", "filter"] as const;

/**
 * Moves packets between emulated namespaces through each one's netfilter hooks in the kernel's order, with
 * conntrack and NAT. Deterministic: randomness comes from the seeded `random`, time from `now`.
 */
export class Network {
  now = 0;
  /** Sees every packet an interface receives or transmits (tcpdump's packet socket); none by default. */
  tap?: PacketTap;
  /**
   * The namespace that tracked a packet last, and the verdict (for the answer to a refused packet: the
   * namespace that refuses a packet is the last one the packet reached).
   */
  private readonly lastTracked: { kernel?: Kernel; entry?: ConntrackEntry; fresh: boolean } = {
    fresh: false,
  };
  /** While a namespace answers a packet it refused: the unconfirmed connection its answer belongs to. */
  private attached?: { kernel: Kernel; entry: ConntrackEntry };
  constructor(readonly random: () => number) {}

  /**
   * A packet a process in `kernel` sends. `packet.src` 0 means "let the kernel choose"; the choice is written
   * back to `packet`, which is otherwise left as the process made it (the network works on a copy).
   */
  send(kernel: Kernel, packet: Packet, trace?: Trace): Delivery {
    const p = { ...packet };
    const d = this.output(kernel, p, trace, 0, packet);
    return d.kind === "rejected" && d.at ? this.answerRefused(d.at, p, d.with, kernel) : d;
  }

  /**
   * `at` refuses `p` (a REJECT, a closed UDP port): it sends the ICMP error (or, for tcp-reset, the RST) back
   * through the network like any packet, RELATED to the connection. The sender learns of the refusal only if
   * that answer reaches it; otherwise the packet was, as far as it can tell, lost.
   */
  answerRefused(at: Kernel, p: Packet, how: string, sender: Kernel): Delivery {
    const answer = rejectReply(p, how, at.isLocal(p.dst), mix32(this.now, p.src, p.dst, p.sport) & 0xffff);
    if (!answer)
      return {
        kind: "dropped",
        host: at.name,
        reason: `rejected (${how}); an ICMP error or RST is not answered`,
      };
    const tracked = this.lastTracked.kernel === at ? { ...this.lastTracked } : undefined;
    const outer = this.attached;
    this.attached =
      tracked?.fresh && tracked.entry ? { kernel: at, entry: unconfirmedEntry(tracked.entry, p) } : undefined;
    let d: Delivery;
    try {
      d = this.send(at, answer);
    } finally {
      this.attached = outer;
    }
    if (d.kind === "delivered" && d.kernel === sender)
      return { kind: "rejected", host: at.name, with: how, from: d.packet.src, answer: d.packet };
    return {
      kind: "dropped",
      host: at.name,
      reason: `rejected (${how}); the answer did not reach the sender (${d.kind === "delivered" ? `delivered to ${d.kernel.name}` : `${d.kind} at ${d.host}`})`,
    };
  }

  private context(
    kernel: Kernel,
    inIface: string,
    outIface: string,
    ctState: CtState,
    entry?: ConntrackEntry,
  ): MatchContext {
    const reused = kernel.hookContext;
    if (reused instanceof KernelMatchContext && reused.random === this.random) {
      reused.inIface = inIface;
      reused.outIface = outIface;
      reused.ctState = ctState;
      reused.ctNat = entry;
      return reused;
    }
    const fresh = new KernelMatchContext(kernel, inIface, outIface, ctState, entry, this.random);
    kernel.hookContext = fresh;
    return fresh;
  }

  private run(
    kernel: Kernel,
    table: TableName,
    hook: Hook,
    p: Packet,
    ctx: MatchContext,
    trace: Trace | undefined,
  ): TraversalResult {
    const hits: RuleHit[] | undefined = trace ? [] : undefined;
    // raw runs before conntrack (priority -300 < -200): its rules see no connection, so the state INVALID.
    const beforeConntrack = table === "raw" && ctx.ctState !== "UNTRACKED";
    const { ctState, ctNat } = ctx;
    if (beforeConntrack) {
      ctx.ctState = "INVALID";
      ctx.ctNat = undefined;
    }
    let r: TraversalResult;
    try {
      r = traverseHook(kernel.netfilter, kernel.nft, table, hook, p, ctx, hits);
    } finally {
      if (beforeConntrack) {
        ctx.ctState = ctState;
        ctx.ctNat = ctNat;
      }
    }
    if (trace && hits)
      for (const h of hits) trace.rules.push({ ...h, host: kernel.name, hook, at: traceSeq(trace) });
    return r;
  }

  /** Conntrack lookup at the first hook: the entry, the direction and the state rules see. */
  private track(
    kernel: Kernel,
    p: Packet,
  ): { entry?: ConntrackEntry; reply: boolean; fresh: boolean; state: CtState } {
    const r = this.trackPacket(kernel, p);
    // Fields set in place: this runs for every packet in every namespace.
    this.lastTracked.kernel = kernel;
    this.lastTracked.entry = r.entry;
    this.lastTracked.fresh = r.fresh;
    return r;
  }

  private trackPacket(
    kernel: Kernel,
    p: Packet,
  ): { entry?: ConntrackEntry; reply: boolean; fresh: boolean; state: CtState } {
    const attached = this.attached?.kernel === kernel ? this.attached.entry : undefined;
    if (isIcmpError(p)) {
      const related = relatedEntry(kernel.conntrack, p, this.now);
      if (related) return { ...related, fresh: false, state: "RELATED" };
      if (attached) return { entry: attached, reply: true, fresh: false, state: "RELATED" };
      return { reply: false, fresh: false, state: "INVALID" };
    }
    const hit = kernel.conntrack.lookup(p, this.now);
    if (hit) {
      const state: CtState = hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW";
      return { entry: hit.entry, reply: hit.reply, fresh: false, state };
    }
    if (attached) return { entry: attached, reply: true, fresh: false, state: "RELATED" };
    if (p.proto === TCP && !(p.tcpFlags & TCP_SYN) && p.tcpFlags !== 0) {
      // tcp_loose pick-up is off here: a mid-stream packet without an entry is INVALID.
      return { reply: false, fresh: false, state: "INVALID" };
    }
    return { entry: kernel.conntrack.newEntry(p), reply: false, fresh: true, state: "NEW" };
  }

  /**
   * nf_conntrack_in, after raw: a known connection's state moves on (TCP state, seen reply, timeout) as the
   * packet enters, whether or not a later rule drops it. A new connection is confirmed only if it leaves.
   */
  private conntrackIn(
    kernel: Kernel,
    p: Packet,
    ct: { entry?: ConntrackEntry; reply: boolean; fresh: boolean },
  ) {
    if (ct.entry && !ct.fresh) kernel.conntrack.update(ct.entry, p, ct.reply, this.now);
  }

  /** Conntrack's NAT of a known connection's packet (`half` dst at PREROUTING/OUTPUT, src at POSTROUTING/INPUT). */
  private manip(
    kernel: Kernel,
    entry: ConntrackEntry,
    reply: boolean,
    p: Packet,
    half: "dst" | "src",
    trace: Trace | undefined,
  ): void {
    const before = !trace
      ? ""
      : half === "dst"
        ? endpoint(p.dst, p.dport, p.proto)
        : endpoint(p.src, p.sport, p.proto);
    if (isIcmpError(p)) translateRelated(entry, reply, p, half);
    else if (half === "dst") this.manipDst(entry, reply, p);
    else this.manipSrc(entry, reply, p);
    if (!trace) return;
    const after = half === "dst" ? endpoint(p.dst, p.dport, p.proto) : endpoint(p.src, p.sport, p.proto);
    if (before !== after) {
      const kind = half === "dst" ? (reply ? "un-SNAT" : "DNAT") : reply ? "un-DNAT" : "SNAT";
      trace.nat.push({
        host: kernel.name,
        kind: `${kind} (conntrack)`,
        from: before,
        to: after,
        at: traceSeq(trace),
      });
    }
  }

  /** NAT for packets of known connections: the destination half at PREROUTING/OUTPUT. */
  private manipDst(entry: ConntrackEntry, reply: boolean, p: Packet): void {
    const t = reply ? entry.orig : entry.reply;
    p.dst = t.src;
    if (p.proto !== 1) p.dport = t.sport;
  }

  /** …and the source half at POSTROUTING/INPUT. */
  private manipSrc(entry: ConntrackEntry, reply: boolean, p: Packet): void {
    const t = reply ? entry.orig : entry.reply;
    p.src = t.dst;
    if (p.proto !== 1) p.sport = t.dport;
  }

  private applyNat(
    kernel: Kernel,
    r: TraversalResult,
    p: Packet,
    outDev: string,
    trace: Trace | undefined,
    entry?: ConntrackEntry,
  ): void {
    const nat = r.nat;
    if (!nat) return;
    // A binding changes one half of the tuple: the destination (DNAT) or the source.
    const dnat = nat.kind === "DNAT";
    const ipBefore = dnat ? p.dst : p.src;
    const portBefore = dnat ? p.dport : p.sport;
    if (dnat) {
      p.dst = nat.ip;
      if (nat.portMin) p.dport = nat.portMin + Math.floor(this.random() * (nat.portMax - nat.portMin + 1));
    } else {
      const ip = nat.kind === "SNAT" ? nat.ip : kernel.sourceFor(outDev, p.dst);
      if (ip === undefined) return;
      p.src = ip;
      p.sport = this.natPort(kernel, p, nat.portMin, nat.portMax, nat.randomFully);
    }
    const ipAfter = dnat ? p.dst : p.src;
    const portAfter = dnat ? p.dport : p.sport;
    // IPS_DST_NAT / IPS_SRC_NAT: set when the binding changed the tuple (`--ctstate DNAT`/`SNAT` see them).
    if (entry && (ipAfter !== ipBefore || portAfter !== portBefore)) entry[dnat ? "dnat" : "snat"] = true;
    trace?.nat.push({
      host: kernel.name,
      kind: nat.kind,
      from: endpoint(ipBefore, portBefore, p.proto),
      to: endpoint(ipAfter, portAfter, p.proto),
      at: traceSeq(trace),
    });
  }

  /**
   * The source port after SNAT: kept unless taken (or a range/random-fully says otherwise), as
   * nf_nat_l4proto_unique_tuple picks it. An ICMP echo's identifier (`sport`) is its port, from 0–65535.
   */
  private natPort(kernel: Kernel, p: Packet, min: number, max: number, randomFully: boolean): number {
    const icmp = p.proto === ICMP;
    const lo = icmp ? 0 : min || 1024;
    const hi = icmp ? 65535 : max || 65535;
    // `p.src` is already translated: the port is free when the reply tuple it makes is.
    const free = (port: number) =>
      !kernel.conntrack.inUse(
        p.proto,
        icmp
          ? { src: p.dst, sport: port, dst: p.src, dport: 0 }
          : { src: p.dst, sport: p.dport, dst: p.src, dport: port },
        this.now,
      );
    if (!randomFully && (icmp || min === 0 || (p.sport >= lo && p.sport <= hi)) && free(p.sport))
      return p.sport;
    for (let i = 0; i < 64; i++) {
      const port = lo + Math.floor(this.random() * (hi - lo + 1));
      if (free(port)) return port;
    }
    for (let port = lo; port <= hi; port++) if (free(port)) return port;
    return p.sport;
  }

  private output(
    kernel: Kernel,
    p: Packet,
    trace: Trace | undefined,
    depth: number,
    origin: Packet,
  ): Delivery {
    let route = kernel.isLocal(p.dst) ? undefined : kernel.main.lookup(p.dst);
    const local = kernel.isLocal(p.dst);
    if (!local && !route) return { kind: "unreachable", host: kernel.name, reason: "network" };
    let hop =
      route &&
      chooseNexthop(
        route,
        flowHash(kernel.sysctl.multipathHashPolicy, p.src, p.dst, p.proto, p.sport, p.dport),
      );
    let outDev = local ? "lo" : (hop?.dev ?? "");
    if (p.src === 0) {
      p.src = local ? p.dst : (route?.src ?? kernel.sourceFor(outDev, p.dst) ?? 0);
      // ip_route_connect's second lookup, with the source chosen: the nexthop of a multipath route is the one every
      // later packet of the flow hashes to (otherwise a SYN and its ACK could leave by different routers).
      if (route && route.nexthops.length > 1) {
        hop = chooseNexthop(
          route,
          flowHash(kernel.sysctl.multipathHashPolicy, p.src, p.dst, p.proto, p.sport, p.dport),
        );
        outDev = hop?.dev ?? "";
      }
    }
    origin.src = p.src;
    let sent: TraceHop | undefined;
    if (trace) {
      sent = {
        host: kernel.name,
        stage: "send",
        detail: `${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)} ${protoLabel(p)}`,
        outIface: outDev,
      };
      if (route) sent.route = traceRoute(route, hop);
      trace.hops.push(sent);
    }
    let ct = this.track(kernel, p);
    if (sent) sent.conntrack = { state: ct.state, reply: ct.reply };
    const ctx = this.context(kernel, "", outDev, ct.state, ct.entry);
    for (const table of RAW_MANGLE) {
      const r = this.run(kernel, table, "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", table);
      if (r.notrack) ct = untrack(ctx);
      if (table === "raw") this.conntrackIn(kernel, p, ct);
    }
    const dstBefore = p.dst;
    if (ct.fresh) {
      const r = this.run(kernel, "nat", "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", "nat");
      this.applyNat(kernel, r, p, outDev, trace, ct.entry);
    } else if (ct.entry) this.manip(kernel, ct.entry, ct.reply, p, "dst", trace);
    if (p.dst !== dstBefore) {
      // Rerouted after DNAT, as ip_route_me_harder does.
      const nowLocal = kernel.isLocal(p.dst);
      route = nowLocal ? undefined : kernel.main.lookup(p.dst);
      if (!nowLocal && !route) return { kind: "unreachable", host: kernel.name, reason: "network" };
      hop =
        route &&
        chooseNexthop(
          route,
          flowHash(kernel.sysctl.multipathHashPolicy, p.src, p.dst, p.proto, p.sport, p.dport),
        );
      outDev = nowLocal ? "lo" : (hop?.dev ?? "");
      ctx.outIface = outDev;
      if (trace) {
        const rerouted: TraceHop = {
          host: kernel.name,
          stage: "reroute",
          detail: `after DNAT to ${endpoint(p.dst, p.dport, p.proto)}`,
          outIface: outDev,
        };
        if (route) rerouted.route = traceRoute(route, hop);
        trace.hops.push(rerouted);
      }
    }
    {
      const r = this.run(kernel, "filter", "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", "filter");
    }
    const post = this.postrouting(kernel, p, ctx, ct, outDev, trace);
    if (post) return post;
    if (kernel.isLocal(p.dst)) return this.input(kernel, "lo", p, trace, depth, true);
    if (route?.type !== "unicast") return this.routeFailure(kernel, route?.type);
    return this.transmit(kernel, outDev, hop?.via ?? p.dst, p, trace, depth);
  }

  private postrouting(
    kernel: Kernel,
    p: Packet,
    ctx: MatchContext,
    ct: { entry?: ConntrackEntry; reply: boolean; fresh: boolean },
    outDev: string,
    trace: Trace | undefined,
  ): Delivery | undefined {
    const r = this.run(kernel, "mangle", "POSTROUTING", p, ctx, trace);
    if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "POSTROUTING", "mangle");
    if (ct.fresh && ct.entry) {
      const n = this.run(kernel, "nat", "POSTROUTING", p, ctx, trace);
      if (n.verdict !== "ACCEPT") return this.refuse(kernel, n, "POSTROUTING", "nat");
      this.applyNat(kernel, n, p, outDev, trace, ct.entry);
      this.confirm(kernel, ct.entry, p);
    } else if (ct.entry) {
      this.manip(kernel, ct.entry, ct.reply, p, "src", trace);
    }
    return undefined;
  }

  private confirm(kernel: Kernel, entry: ConntrackEntry, p: Packet): void {
    // The reply tuple is the packet as it leaves, reversed.
    entry.reply = replyTupleOf(p);
    kernel.conntrack.confirm(entry, p, this.now);
  }

  private routeFailure(kernel: Kernel, type: string | undefined): Delivery {
    if (type === "blackhole") return { kind: "dropped", host: kernel.name, reason: "blackhole route" };
    if (type === "prohibit") return { kind: "rejected", host: kernel.name, with: "icmp-host-prohibited" };
    return { kind: "unreachable", host: kernel.name, reason: "host" };
  }

  private refuse(kernel: Kernel, r: TraversalResult, hook: Hook, table: TableName): Delivery {
    if (r.verdict === "REJECT")
      return {
        kind: "rejected",
        host: kernel.name,
        with: r.rejectWith ?? "icmp-port-unreachable",
        at: kernel,
      };
    return { kind: "dropped", host: kernel.name, reason: `${table} ${hook}` };
  }

  /** Puts a packet on a link towards `nextHop`: neighbour resolution (with proxy ARP), then the receiver. */
  private transmit(
    kernel: Kernel,
    dev: string,
    nextHop: number,
    p: Packet,
    trace: Trace | undefined,
    depth: number,
  ): Delivery {
    if (depth > MAX_HOPS) return { kind: "dropped", host: kernel.name, reason: "TTL exceeded" };
    const link = kernel.links.get(dev);
    if (!link?.up) return { kind: "unreachable", host: kernel.name, reason: "host" };
    // A neighbour stays REACHABLE for 30 s after it answered, as in the kernel's neighbour table.
    const last = link.resolved?.get(nextHop);
    const neighbour = last?.link.up && this.now - last.at < 30_000 ? last : resolveNeighbour(link, nextHop);
    if (!neighbour) {
      trace?.hops.push({
        host: kernel.name,
        stage: "arp",
        detail: `no neighbour answers for ${formatIpv4(nextHop)} on ${dev}`,
      });
      return { kind: "unreachable", host: kernel.name, reason: "host" };
    }
    if (neighbour === last) last.entry.confirmed = this.now;
    else {
      const entry = { ip: nextHop, dev, mac: neighbour.link.mac, confirmed: this.now };
      kernel.neighbours.set(`${dev}|${nextHop}`, entry);
      link.resolved ??= new Map();
      link.resolved.set(nextHop, { ...neighbour, at: this.now, entry });
    }
    trace?.hops.push({
      host: kernel.name,
      stage: "transmit",
      detail: `out ${dev} to ${formatIpv4(nextHop)} (${neighbour.kernel.name} ${neighbour.link.name}${neighbour.proxy ? ", proxy ARP" : ""})`,
    });
    if (this.tap) {
      const frame = { src: link.mac, dst: neighbour.link.mac };
      this.tap(kernel, dev, "out", p, frame);
      this.tap(neighbour.kernel, neighbour.link.name, "in", p, frame);
    }
    return this.receive(neighbour.kernel, neighbour.link.name, p, trace, depth + 1);
  }

  private receive(kernel: Kernel, dev: string, p: Packet, trace: Trace | undefined, depth: number): Delivery {
    // A packet from another namespace or host carries no mark (veth and the wire scrub it).
    p.mark = 0;
    let ct = this.track(kernel, p);
    const ctx = this.context(kernel, dev, "", ct.state, ct.entry);
    if (trace)
      trace.hops.push({
        host: kernel.name,
        stage: "receive",
        detail: `in ${dev}: ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)}`,
        inIface: dev,
        conntrack: { state: ct.state, reply: ct.reply },
      });
    for (const table of RAW_MANGLE) {
      const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
      if (r.notrack) ct = untrack(ctx);
      if (table === "raw") this.conntrackIn(kernel, p, ct);
    }
    if (ct.fresh) {
      const r = this.run(kernel, "nat", "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", "nat");
      this.applyNat(kernel, r, p, "", trace, ct.entry);
    } else if (ct.entry) this.manip(kernel, ct.entry, ct.reply, p, "dst", trace);
    if (!rpFilterAccepts(kernel, dev, p.src))
      return {
        kind: "dropped",
        host: kernel.name,
        reason: `rp_filter: no route back to ${formatIpv4(p.src)} via ${dev}`,
      };
    if (kernel.isLocal(p.dst)) return this.inputAfterPrerouting(kernel, dev, p, trace, ct, ctx);
    if (!kernel.sysctl.ipForward)
      return { kind: "dropped", host: kernel.name, reason: "not forwarding (ip_forward=0)" };
    const route = kernel.main.lookup(p.dst);
    if (!route) return { kind: "unreachable", host: kernel.name, reason: "network" };
    if (route.type !== "unicast") return this.routeFailure(kernel, route.type);
    const hop = chooseNexthop(
      route,
      flowHash(kernel.sysctl.multipathHashPolicy, p.src, p.dst, p.proto, p.sport, p.dport),
    )!;
    ctx.outIface = hop.dev;
    p.ttl = (p.ttl ?? 64) - 1;
    if (p.ttl <= 0) return { kind: "dropped", host: kernel.name, reason: "TTL exceeded" };
    if (trace)
      trace.hops.push({
        host: kernel.name,
        stage: "forward",
        detail: `in ${dev}, route ${formatIpv4(route.dst.addr)}/${route.dst.len} → ${hop.via !== undefined ? `via ${formatIpv4(hop.via)} ` : ""}dev ${hop.dev}`,
        inIface: dev,
        outIface: hop.dev,
        route: traceRoute(route, hop),
      });
    for (const table of MANGLE_FILTER) {
      const r = this.run(kernel, table, "FORWARD", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "FORWARD", table);
    }
    const post = this.postrouting(kernel, p, ctx, ct, hop.dev, trace);
    if (post) return post;
    return this.transmit(kernel, hop.dev, hop.via ?? p.dst, p, trace, depth);
  }

  private input(
    kernel: Kernel,
    dev: string,
    p: Packet,
    trace: Trace | undefined,
    _depth: number,
    loopback: boolean,
  ): Delivery {
    if (loopback) this.tap?.(kernel, dev, "in", p, { src: LOOPBACK_MAC, dst: LOOPBACK_MAC });
    // A looped-back packet is already tracked: PREROUTING's nat does not see it again.
    const hit = isIcmpError(p) ? undefined : kernel.conntrack.lookup(p, this.now);
    let ct: { entry?: ConntrackEntry; reply: boolean; fresh: boolean; state: CtState } = hit
      ? {
          entry: hit.entry,
          reply: hit.reply,
          fresh: false,
          state: (hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW") as CtState,
        }
      : this.track(kernel, p);
    const ctx = this.context(kernel, dev, "", ct.state, ct.entry);
    if (loopback)
      for (const table of RAW_MANGLE) {
        const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
        if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
        if (r.notrack) ct = untrack(ctx);
      }
    return this.inputAfterPrerouting(kernel, dev, p, trace, { ...ct, fresh: ct.fresh && !loopback }, ctx);
  }

  private inputAfterPrerouting(
    kernel: Kernel,
    dev: string,
    p: Packet,
    trace: Trace | undefined,
    ct: { entry?: ConntrackEntry; reply: boolean; fresh: boolean },
    ctx: MatchContext,
  ): Delivery {
    for (const table of MANGLE_FILTER) {
      const r = this.run(kernel, table, "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", table);
    }
    if (ct.fresh && ct.entry) {
      const r = this.run(kernel, "nat", "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", "nat");
      this.applyNat(kernel, r, p, dev, trace, ct.entry);
      this.confirm(kernel, ct.entry, p);
    } else if (ct.entry) {
      if (dev !== "lo") this.manip(kernel, ct.entry, ct.reply, p, "src", trace);
    }
    if (trace)
      trace.hops.push({
        host: kernel.name,
        stage: "deliver",
        detail: `in ${dev}: ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)}`,
        inIface: dev,
        conntrack: { state: ctx.ctState, reply: ct.reply },
      });
    return { kind: "delivered", kernel, packet: p };
  }
}

/** After NOTRACK in raw: no conntrack entry, no NAT, and rules see the state UNTRACKED. */
function untrack(ctx: MatchContext): { reply: boolean; fresh: boolean; state: CtState } {
  ctx.ctState = "UNTRACKED";
  ctx.ctNat = undefined;
  return { reply: false, fresh: false, state: "UNTRACKED" };
}
