import { type ConntrackEntry, tupleOf } from "./conntrack.ts";
import { chooseNexthop, flowHash } from "./fib.ts";
import { formatIpv4 } from "./ipv4.ts";
import type { Kernel, Link, Segment } from "./kernel.ts";
import {
  type CtState,
  type Hook,
  type MatchContext,
  type Packet,
  type RuleHit,
  type TableName,
  TCP,
  TCP_SYN,
  type TraversalResult,
} from "./netfilter/index.ts";

/** One step of a packet's journey, for `tortie trace`. */
export interface TraceHop {
  host: string;
  stage: string;
  detail: string;
}

export interface Trace {
  hops: TraceHop[];
  rules: (RuleHit & { host: string })[];
  nat: { host: string; kind: string; from: string; to: string }[];
}

export type Delivery =
  | { kind: "delivered"; kernel: Kernel; packet: Packet }
  | { kind: "dropped"; host: string; reason: string }
  | { kind: "rejected"; host: string; with: string }
  | { kind: "unreachable"; host: string; reason: "network" | "host" };

const MAX_HOPS = 32;

function endpoint(ip: number, port: number, proto: number): string {
  return proto === TCP || proto === 17 ? `${formatIpv4(ip)}:${port}` : formatIpv4(ip);
}

/**
 * Moves packets between emulated namespaces through each one's netfilter hooks in the kernel's order, with
 * conntrack and NAT. Deterministic: randomness comes from the seeded `random`, time from `now`.
 */
export class Network {
  now = 0;
  constructor(readonly random: () => number) {}

  /**
   * A packet a process in `kernel` sends. `packet.src` 0 means "let the kernel choose"; the choice is written
   * back to `packet`, which is otherwise left as the process made it (the network works on a copy).
   */
  send(kernel: Kernel, packet: Packet, trace?: Trace): Delivery {
    return this.output(kernel, { ...packet }, trace, 0, packet);
  }

  private context(kernel: Kernel, inIface: string, outIface: string, ctState: CtState): MatchContext {
    return {
      inIface,
      outIface,
      ctState,
      isLocal: (ip) => kernel.isLocal(ip),
      isAddressType: (ip, type) => {
        if (type === "LOCAL") return kernel.isLocal(ip);
        if (type === "UNICAST") return !kernel.isLocal(ip) && ip >>> 28 !== 14 && ip !== 0xffffffff;
        if (type === "BROADCAST") return ip === 0xffffffff;
        if (type === "MULTICAST") return ip >>> 28 === 14;
        return false;
      },
      ipsetHas: (name, p, dirs) => kernel.ipsets.has(name, p, dirs),
      random: this.random,
    };
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
    const r = kernel.netfilter.traverse(table, hook, p, ctx, hits);
    if (trace && hits) for (const h of hits) trace.rules.push({ ...h, host: kernel.name });
    return r;
  }

  /** Conntrack lookup at the first hook: the entry, the direction and the state rules see. */
  private track(
    kernel: Kernel,
    p: Packet,
  ): { entry?: ConntrackEntry; reply: boolean; fresh: boolean; state: CtState } {
    const hit = kernel.conntrack.lookup(p, this.now);
    if (hit) {
      const state: CtState = hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW";
      return { entry: hit.entry, reply: hit.reply, fresh: false, state };
    }
    if (p.proto === TCP && !(p.tcpFlags & TCP_SYN) && p.tcpFlags !== 0) {
      // tcp_loose pick-up is off here: a mid-stream packet without an entry is INVALID.
      return { reply: false, fresh: false, state: "INVALID" };
    }
    return { entry: kernel.conntrack.newEntry(p), reply: false, fresh: true, state: "NEW" };
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
  ): void {
    const nat = r.nat;
    if (!nat) return;
    const before = endpoint(
      nat.kind === "DNAT" ? p.dst : p.src,
      nat.kind === "DNAT" ? p.dport : p.sport,
      p.proto,
    );
    if (nat.kind === "DNAT") {
      p.dst = nat.ip;
      if (nat.portMin) p.dport = nat.portMin + Math.floor(this.random() * (nat.portMax - nat.portMin + 1));
    } else {
      const ip = nat.kind === "SNAT" ? nat.ip : kernel.sourceFor(outDev, p.dst);
      if (ip === undefined) return;
      p.src = ip;
      p.sport = this.natPort(kernel, p, nat.portMin, nat.portMax, nat.randomFully);
    }
    const after = endpoint(
      nat.kind === "DNAT" ? p.dst : p.src,
      nat.kind === "DNAT" ? p.dport : p.sport,
      p.proto,
    );
    trace?.nat.push({ host: kernel.name, kind: nat.kind, from: before, to: after });
  }

  /** The source port after SNAT: kept unless taken (or a range/random-fully says otherwise). */
  private natPort(kernel: Kernel, p: Packet, min: number, max: number, randomFully: boolean): number {
    if (p.proto === 1) return p.sport;
    const lo = min || 1024;
    const hi = max || 65535;
    const free = (port: number) =>
      !kernel.conntrack.inUse(p.proto, { src: p.dst, sport: p.dport, dst: p.src, dport: port }, this.now);
    if (!randomFully && (min === 0 || (p.sport >= lo && p.sport <= hi)) && free(p.sport)) return p.sport;
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
    let hop = route && chooseNexthop(route, flowHash(p.src, p.dst, p.proto, p.sport, p.dport));
    let outDev = local ? "lo" : (hop?.dev ?? "");
    if (p.src === 0) p.src = local ? p.dst : (route?.src ?? kernel.sourceFor(outDev, p.dst) ?? 0);
    origin.src = p.src;
    trace?.hops.push({
      host: kernel.name,
      stage: "send",
      detail: `${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)} ${protoLabel(p)}`,
    });
    const ct = this.track(kernel, p);
    const ctx = this.context(kernel, "", outDev, ct.state);
    for (const table of ["raw", "mangle"] as const) {
      const r = this.run(kernel, table, "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", table);
    }
    const dstBefore = p.dst;
    if (ct.fresh) {
      const r = this.run(kernel, "nat", "OUTPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "OUTPUT", "nat");
      this.applyNat(kernel, r, p, outDev, trace);
    } else if (ct.entry) this.manipDst(ct.entry, ct.reply, p);
    if (p.dst !== dstBefore) {
      // Rerouted after DNAT, as ip_route_me_harder does.
      const nowLocal = kernel.isLocal(p.dst);
      route = nowLocal ? undefined : kernel.main.lookup(p.dst);
      if (!nowLocal && !route) return { kind: "unreachable", host: kernel.name, reason: "network" };
      hop = route && chooseNexthop(route, flowHash(p.src, p.dst, p.proto, p.sport, p.dport));
      outDev = nowLocal ? "lo" : (hop?.dev ?? "");
      ctx.outIface = outDev;
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
      this.applyNat(kernel, n, p, outDev, trace);
      this.confirm(kernel, ct.entry, p);
    } else if (ct.entry) {
      this.manipSrc(ct.entry, ct.reply, p);
      kernel.conntrack.update(ct.entry, p, ct.reply, this.now);
    }
    return undefined;
  }

  private confirm(kernel: Kernel, entry: ConntrackEntry, p: Packet): void {
    // The reply tuple is the packet as it leaves, reversed (an ICMP echo keeps its identifier in sport).
    const out = tupleOf(p);
    entry.reply =
      p.proto === 1
        ? { ...out, src: out.dst, dst: out.src }
        : { src: out.dst, dst: out.src, sport: out.dport, dport: out.sport };
    kernel.conntrack.confirm(entry, p, this.now);
  }

  private routeFailure(kernel: Kernel, type: string | undefined): Delivery {
    if (type === "blackhole") return { kind: "dropped", host: kernel.name, reason: "blackhole route" };
    if (type === "prohibit") return { kind: "rejected", host: kernel.name, with: "icmp-host-prohibited" };
    return { kind: "unreachable", host: kernel.name, reason: "host" };
  }

  private refuse(kernel: Kernel, r: TraversalResult, hook: Hook, table: TableName): Delivery {
    if (r.verdict === "REJECT")
      return { kind: "rejected", host: kernel.name, with: r.rejectWith ?? "icmp-port-unreachable" };
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
    const neighbour = resolveNeighbour(link, nextHop);
    if (!neighbour) {
      trace?.hops.push({
        host: kernel.name,
        stage: "arp",
        detail: `no neighbour answers for ${formatIpv4(nextHop)} on ${dev}`,
      });
      return { kind: "unreachable", host: kernel.name, reason: "host" };
    }
    trace?.hops.push({
      host: kernel.name,
      stage: "transmit",
      detail: `out ${dev} to ${formatIpv4(nextHop)} (${neighbour.kernel.name} ${neighbour.link.name}${neighbour.proxy ? ", proxy ARP" : ""})`,
    });
    return this.receive(neighbour.kernel, neighbour.link.name, p, trace, depth + 1);
  }

  private receive(kernel: Kernel, dev: string, p: Packet, trace: Trace | undefined, depth: number): Delivery {
    const ct = this.track(kernel, p);
    const ctx = this.context(kernel, dev, "", ct.state);
    for (const table of ["raw", "mangle"] as const) {
      const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
    }
    if (ct.fresh) {
      const r = this.run(kernel, "nat", "PREROUTING", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", "nat");
      this.applyNat(kernel, r, p, "", trace);
    } else if (ct.entry) this.manipDst(ct.entry, ct.reply, p);
    if (kernel.isLocal(p.dst)) return this.inputAfterPrerouting(kernel, dev, p, trace, ct, ctx);
    if (!kernel.sysctl.ipForward)
      return { kind: "dropped", host: kernel.name, reason: "not forwarding (ip_forward=0)" };
    const route = kernel.main.lookup(p.dst);
    if (!route) return { kind: "unreachable", host: kernel.name, reason: "network" };
    if (route.type !== "unicast") return this.routeFailure(kernel, route.type);
    const hop = chooseNexthop(route, flowHash(p.src, p.dst, p.proto, p.sport, p.dport))!;
    ctx.outIface = hop.dev;
    trace?.hops.push({
      host: kernel.name,
      stage: "forward",
      detail: `in ${dev}, route ${formatIpv4(route.dst.addr)}/${route.dst.len} → ${hop.via !== undefined ? `via ${formatIpv4(hop.via)} ` : ""}dev ${hop.dev}`,
    });
    for (const table of ["mangle", "filter"] as const) {
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
    // A looped-back packet is already tracked: PREROUTING's nat does not see it again.
    const hit = kernel.conntrack.lookup(p, this.now);
    const ct = hit
      ? {
          entry: hit.entry,
          reply: hit.reply,
          fresh: false,
          state: (hit.reply || hit.entry.seenReply ? "ESTABLISHED" : "NEW") as CtState,
        }
      : this.track(kernel, p);
    const ctx = this.context(kernel, dev, "", ct.state);
    if (loopback)
      for (const table of ["raw", "mangle"] as const) {
        const r = this.run(kernel, table, "PREROUTING", p, ctx, trace);
        if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "PREROUTING", table);
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
    for (const table of ["mangle", "filter"] as const) {
      const r = this.run(kernel, table, "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", table);
    }
    if (ct.fresh && ct.entry) {
      const r = this.run(kernel, "nat", "INPUT", p, ctx, trace);
      if (r.verdict !== "ACCEPT") return this.refuse(kernel, r, "INPUT", "nat");
      this.applyNat(kernel, r, p, dev, trace);
      this.confirm(kernel, ct.entry, p);
    } else if (ct.entry) {
      if (dev !== "lo") this.manipSrc(ct.entry, ct.reply, p);
      kernel.conntrack.update(ct.entry, p, ct.reply, this.now);
    }
    trace?.hops.push({
      host: kernel.name,
      stage: "deliver",
      detail: `in ${dev}: ${endpoint(p.src, p.sport, p.proto)} → ${endpoint(p.dst, p.dport, p.proto)}`,
    });
    return { kind: "delivered", kernel, packet: p };
  }
}

function protoLabel(p: Packet): string {
  return p.proto === TCP ? "tcp" : p.proto === 17 ? "udp" : p.proto === 1 ? "icmp" : `proto ${p.proto}`;
}

/**
 * ARP: who on this link answers for `ip`? On a veth, the peer namespace if it owns the address, or if the
 * peer end has proxy_arp and a route to the address through another device (Calico's 169.254.1.1 trick).
 * On a segment, whichever member owns it.
 */
function resolveNeighbour(
  link: Link,
  ip: number,
): { kernel: Kernel; link: Link; proxy: boolean } | undefined {
  const candidates: { kernel: Kernel; link: Link }[] = [];
  if (link.peer) candidates.push(link.peer);
  if (link.segment) for (const m of segmentMembers(link.segment, link)) candidates.push(m);
  for (const c of candidates) {
    if (!c.link.up) continue;
    if (c.kernel.isLocal(ip)) return { ...c, proxy: false };
    if (c.link.proxyArp) {
      const r = c.kernel.main.lookup(ip);
      if (r?.nexthops.some((n) => n.dev !== c.link.name)) return { ...c, proxy: true };
    }
  }
  return undefined;
}

const segmentOwners = new WeakMap<Link, Kernel>();

export function joinSegment(segment: Segment, kernel: Kernel, link: Link): void {
  link.segment = segment;
  segment.members.push(link);
  segmentOwners.set(link, kernel);
}

function* segmentMembers(segment: Segment, self: Link): Generator<{ kernel: Kernel; link: Link }> {
  for (const m of segment.members) if (m !== self) yield { kernel: segmentOwners.get(m)!, link: m };
}
