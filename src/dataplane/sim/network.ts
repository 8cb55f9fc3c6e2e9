import { resolveNeighbour } from "./arp.ts";
import { type BpfIngressVerdict, bpfPassed, bpfPolicyVerdict, bpfProgramOf } from "./bpf/index.ts";
import { type ConntrackEntry, setReplyTuple } from "./conntrack.ts";
import { applyNat, manipTracked } from "./conntrack-nat.ts";
import { chooseNexthop, flowHash } from "./fib.ts";
import { mix32 } from "./hash.ts";
import { formatIpv4 } from "./ipv4.ts";
import type { Kernel } from "./kernel.ts";
import { KernelMatchContext } from "./match-context.ts";
import {
  type CtState,
  type Hook,
  type Packet,
  type RuleHit,
  type TableName,
  TCP,
  TCP_SYN,
  type TraversalResult,
} from "./netfilter/index.ts";
import { traverseHook } from "./nft/index.ts";
import { copyPacket } from "./packet-copy.ts";
import { isIcmpError, rejectReply } from "./reject.ts";
import { relatedEntry, unconfirmedEntry } from "./related.ts";
import { rpFilterAccepts } from "./sysctl.ts";
import { endpoint, protoLabel, type Trace, type TraceHop, traceRoute, traceSeq } from "./trace-record.ts";
import { isTunnel, type TunnelStack, tunnelReceive, tunnelTransmit } from "./tunnel-path.ts";

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
export class Network implements TunnelStack {
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
    const p = copyPacket(packet);
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

  /** The namespace's match context, reused for each packet (its conntrack fields are set by `track`). */
  private context(kernel: Kernel, inIface: string, outIface: string): KernelMatchContext {
    const reused = kernel.hookContext;
    if (reused instanceof KernelMatchContext && reused.random === this.random) {
      reused.inIface = inIface;
      reused.outIface = outIface;
      return reused;
    }
    const fresh = new KernelMatchContext(kernel, inIface, outIface, "INVALID", undefined, this.random);
    kernel.hookContext = fresh;
    return fresh;
  }

  private run(
    kernel: Kernel,
    table: TableName,
    hook: Hook,
    p: Packet,
    ctx: KernelMatchContext,
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
    // eBPF mode: the endpoints' policy is the programs' (bpf/policy.ts), not in the node's iptables.
    if (table === "filter" && r.verdict === "ACCEPT") r = bpfPolicyVerdict(kernel, hook, p, ctx, trace) ?? r;
    return r;
  }

  /**
   * Conntrack lookup at the first hook: the entry, the direction and the state rules see, set on the
   * namespace's context (no object per packet: this runs for every packet in every namespace).
   */
  private track(kernel: Kernel, p: Packet, ctx: KernelMatchContext): void {
    this.trackPacket(kernel, p, ctx);
    this.lastTracked.kernel = kernel;
    this.lastTracked.entry = ctx.ctEntry;
    this.lastTracked.fresh = ctx.ctFresh;
  }

  private trackPacket(kernel: Kernel, p: Packet, ctx: KernelMatchContext): void {
    const attached = this.attached?.kernel === kernel ? this.attached.entry : undefined;
    if (isIcmpError(p)) {
      const related = relatedEntry(kernel.conntrack, p, this.now);
      if (related) ctx.track(related.entry, related.reply, false, "RELATED");
      else if (attached) ctx.track(attached, true, false, "RELATED");
      else ctx.track(undefined, false, false, "INVALID");
      return;
    }
    const hit = kernel.conntrack.lookup(p, this.now);
    if (hit) {
      const state: CtState = hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW";
      ctx.track(hit.entry, hit.reply, false, state);
    } else if (attached) ctx.track(attached, true, false, "RELATED");
    else if (p.proto === TCP && !(p.tcpFlags & TCP_SYN) && p.tcpFlags !== 0) {
      // tcp_loose pick-up is off here: a mid-stream packet without an entry is INVALID.
      ctx.track(undefined, false, false, "INVALID");
    } else ctx.track(kernel.conntrack.newEntry(p), false, true, "NEW");
  }

  /**
   * nf_conntrack_in, after raw: a known connection's state moves on (TCP state, seen reply, timeout) as the
   * packet enters, whether or not a later rule drops it. A new connection is confirmed only if it leaves.
   */
  private conntrackIn(kernel: Kernel, p: Packet, ctx: KernelMatchContext) {
    if (ctx.ctEntry && !ctx.ctFresh) kernel.conntrack.update(ctx.ctEntry, p, ctx.ctReply, this.now);
  }

  /** The host's own stack sends a packet it built (a tunnel's outer packet): OUTPUT, routing, POSTROUTING. */
  sendFromHost(kernel: Kernel, p: Packet, trace: Trace | undefined, depth: number): Delivery {
    return this.output(kernel, p, trace, depth, p);
  }

  /** A packet arrives on `dev` (a tunnel device that decapsulated it): PREROUTING on. */
  receiveOn(kernel: Kernel, dev: string, p: Packet, trace: Trace | undefined, depth: number): Delivery {
    return this.receive(kernel, dev, p, trace, depth);
  }

  private output(
    kernel: Kernel,
    p: Packet,
    trace: Trace | undefined,
    depth: number,
    origin: Packet,
  ): Delivery {
    let route = kernel.isLocal(p.dst) ? undefined : kernel.routeLookup(p.dst, p.mark);
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
    const ctx = this.context(kernel, "", outDev);
    this.track(kernel, p, ctx);
    if (sent) sent.conntrack = { state: ctx.ctState, reply: ctx.ctReply };
    for (const table of RAW_MANGLE) {
      const r = this.run(kernel, table, "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", table);
      if (r.notrack) ctx.untrack();
      if (table === "raw") this.conntrackIn(kernel, p, ctx);
    }
    const dstBefore = p.dst;
    if (ctx.ctFresh) {
      const r = this.run(kernel, "nat", "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", "nat");
      applyNat(kernel, r, p, outDev, trace, ctx.ctEntry, this.random, this.now);
    } else if (ctx.ctEntry) manipTracked(kernel, ctx.ctEntry, ctx.ctReply, p, "dst", trace);
    const bpfOut = bpfProgramOf(kernel)?.hostOutput(p, bpfLog(kernel, trace));
    if (bpfOut && bpfOut.action !== "pass") return this.bpfAct(kernel, "", bpfOut, trace, depth);
    if (p.dst !== dstBefore) {
      // Rerouted after DNAT, as ip_route_me_harder does.
      const nowLocal = kernel.isLocal(p.dst);
      route = nowLocal ? undefined : kernel.routeLookup(p.dst, p.mark);
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
    const post = this.postrouting(kernel, p, ctx, outDev, trace);
    if (post) return post;
    if (kernel.isLocal(p.dst)) return this.input(kernel, "lo", p, trace, depth, true);
    if (route?.type !== "unicast") return this.routeFailure(kernel, route?.type);
    return this.transmit(kernel, outDev, hop?.via ?? p.dst, p, trace, depth);
  }

  private postrouting(
    kernel: Kernel,
    p: Packet,
    ctx: KernelMatchContext,
    outDev: string,
    trace: Trace | undefined,
  ): Delivery | undefined {
    const r = this.run(kernel, "mangle", "POSTROUTING", p, ctx, trace);
    if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "POSTROUTING", "mangle");
    const entry = ctx.ctEntry;
    if (ctx.ctFresh && entry) {
      const n = this.run(kernel, "nat", "POSTROUTING", p, ctx, trace);
      if (n.verdict !== "ACCEPT") return this.refuse(kernel, n, "POSTROUTING", "nat");
      applyNat(kernel, n, p, outDev, trace, entry, this.random, this.now);
      this.confirm(kernel, entry, p);
    } else if (entry) {
      manipTracked(kernel, entry, ctx.ctReply, p, "src", trace);
    }
    return undefined;
  }

  private confirm(kernel: Kernel, entry: ConntrackEntry, p: Packet): void {
    // The reply tuple is the packet as it leaves, reversed (written into the entry's own tuple: nothing else
    // holds it before the connection is confirmed).
    setReplyTuple(entry.reply, p);
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
    const bpfEgress = bpfProgramOf(kernel)?.egress(p, bpfLog(kernel, trace));
    if (bpfEgress) [p, nextHop] = [bpfEgress.packet, bpfEgress.nextHop ?? nextHop];
    if (isTunnel(link)) return tunnelTransmit(this, kernel, link, nextHop, p, trace, depth);
    // A neighbour stays REACHABLE for 30 s after it answered, as in the kernel's neighbour table.
    // Keyed by the address as a signed 32-bit number: a small integer for V8, never a boxed heap number.
    const last = link.resolved?.get(nextHop | 0);
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
      link.resolved.set(nextHop | 0, { ...neighbour, at: this.now, entry });
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

  /** Felix's eBPF verdicts that leave the kernel's path (bpf/program.ts): a drop, the NodePort tunnel, a redirect. */
  private bpfAct(
    kernel: Kernel,
    dev: string,
    v: BpfIngressVerdict,
    trace: Trace | undefined,
    depth: number,
  ): Delivery {
    if (v.action === "drop") return { kind: "dropped", host: kernel.name, reason: v.reason };
    if (v.action === "tunnel") return this.transmit(kernel, dev, v.nextHop, v.packet, trace, depth);
    // Felix's redirect after bpf_fib_lookup forwards the packet, TTL decremented, as the kernel would.
    const q = v.packet;
    q.ttl = (q.ttl ?? 64) - 1;
    const route = kernel.routeLookup(q.dst, 0);
    if (route?.type !== "unicast") return this.routeFailure(kernel, route?.type);
    const hop = chooseNexthop(
      route,
      flowHash(kernel.sysctl.multipathHashPolicy, q.src, q.dst, q.proto, q.sport, q.dport),
    )!;
    return this.transmit(kernel, hop.dev, hop.via ?? q.dst, q, trace, depth);
  }

  private receive(kernel: Kernel, dev: string, p: Packet, trace: Trace | undefined, depth: number): Delivery {
    // A packet from another namespace or host carries no mark (veth and the wire scrub it).
    p.mark = 0;
    const bpf = bpfProgramOf(kernel)?.ingress(
      p,
      kernel.links.get(dev)?.kind === "ether",
      bpfLog(kernel, trace),
    );
    if (bpf && bpf.action !== "pass") return this.bpfAct(kernel, dev, bpf, trace, depth);
    if (bpf) p = bpfPassed(kernel, dev, bpf.packet);
    const ctx = this.context(kernel, dev, "");
    this.track(kernel, p, ctx);
    if (trace)
      trace.hops.push({
        host: kernel.name,
        stage: "receive",
        detail: `in ${dev}: ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)}`,
        inIface: dev,
        conntrack: { state: ctx.ctState, reply: ctx.ctReply },
      });
    for (const table of RAW_MANGLE) {
      const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
      if (r.notrack) ctx.untrack();
      if (table === "raw") this.conntrackIn(kernel, p, ctx);
    }
    if (ctx.ctFresh) {
      const r = this.run(kernel, "nat", "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", "nat");
      applyNat(kernel, r, p, "", trace, ctx.ctEntry, this.random, this.now);
    } else if (ctx.ctEntry) manipTracked(kernel, ctx.ctEntry, ctx.ctReply, p, "dst", trace);
    if (!rpFilterAccepts(kernel, dev, p.src))
      return {
        kind: "dropped",
        host: kernel.name,
        reason: `rp_filter: no route back to ${formatIpv4(p.src)} via ${dev}`,
      };
    if (kernel.isLocal(p.dst)) return this.inputAfterPrerouting(kernel, dev, p, trace, ctx, depth);
    if (!kernel.sysctl.ipForward)
      return { kind: "dropped", host: kernel.name, reason: "not forwarding (ip_forward=0)" };
    const route = kernel.routeLookup(p.dst, p.mark);
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
    const post = this.postrouting(kernel, p, ctx, hop.dev, trace);
    if (post) return post;
    return this.transmit(kernel, hop.dev, hop.via ?? p.dst, p, trace, depth);
  }

  private input(
    kernel: Kernel,
    dev: string,
    p: Packet,
    trace: Trace | undefined,
    depth: number,
    loopback: boolean,
  ): Delivery {
    if (loopback) this.tap?.(kernel, dev, "in", p, { src: LOOPBACK_MAC, dst: LOOPBACK_MAC });
    // A looped-back packet is already tracked: PREROUTING's nat does not see it again.
    const hit = isIcmpError(p) ? undefined : kernel.conntrack.lookup(p, this.now);
    const ctx = this.context(kernel, dev, "");
    if (hit) ctx.track(hit.entry, hit.reply, false, hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW");
    else this.track(kernel, p, ctx);
    if (loopback) {
      for (const table of RAW_MANGLE) {
        const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
        if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
        if (r.notrack) ctx.untrack();
      }
      ctx.ctFresh = false;
    }
    return this.inputAfterPrerouting(kernel, dev, p, trace, ctx, depth);
  }

  private inputAfterPrerouting(
    kernel: Kernel,
    dev: string,
    p: Packet,
    trace: Trace | undefined,
    ctx: KernelMatchContext,
    depth: number,
  ): Delivery {
    for (const table of MANGLE_FILTER) {
      const r = this.run(kernel, table, "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", table);
    }
    const entry = ctx.ctEntry;
    if (ctx.ctFresh && entry) {
      const r = this.run(kernel, "nat", "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", "nat");
      applyNat(kernel, r, p, dev, trace, entry, this.random, this.now);
      this.confirm(kernel, entry, p);
    } else if (entry) {
      if (dev !== "lo") manipTracked(kernel, entry, ctx.ctReply, p, "src", trace);
    }
    // A tunnel's outer packet ends here: its device takes the inner one (vxlan_rcv, ipip_rcv, WireGuard's socket).
    if (p.encapsulated) {
      const tunnelled = tunnelReceive(this, kernel, p, trace, depth);
      if (tunnelled) return tunnelled;
    }
    const bpfReply = bpfProgramOf(kernel)?.egress(p, bpfLog(kernel, trace));
    if (bpfReply && bpfReply.nextHop === undefined) p = bpfReply.packet;
    if (trace)
      trace.hops.push({
        host: kernel.name,
        stage: "deliver",
        detail: `in ${dev}: ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)}`,
        inIface: dev,
        conntrack: { state: ctx.ctState, reply: ctx.ctReply },
      });
    return { kind: "delivered", kernel, packet: p };
  }
}

/** A trace step for each decision of a node's eBPF programs (none without a trace). */
function bpfLog(kernel: Kernel, trace: Trace | undefined): ((detail: string) => void) | undefined {
  return trace && ((detail) => trace.hops.push({ host: kernel.name, stage: "bpf", detail }));
}
