import type { ConntrackEntry } from "./conntrack.ts";
import type { Kernel } from "./kernel.ts";
import { ICMP, type Packet, type TraversalResult } from "./netfilter/index.ts";
import { isIcmpError } from "./reject.ts";
import { translateRelated } from "./related.ts";
import { endpoint, type Trace, traceSeq } from "./trace-record.ts";

/**
 * NAT on the packet path (network.ts calls these): the nat table's bindings for a connection's first packet, and
 * conntrack's translation of every later packet. Plain functions over numbers: trace text is built only when a
 * trace is asked for.
 */

/** Conntrack's NAT of a known connection's packet (`half` dst at PREROUTING/OUTPUT, src at POSTROUTING/INPUT). */
export function manipTracked(
  kernel: Kernel,
  entry: ConntrackEntry,
  reply: boolean,
  p: Packet,
  half: "dst" | "src",
  trace: Trace | undefined,
): void {
  if (trace) {
    manipTraced(kernel, entry, reply, p, half, trace);
    return;
  }
  if (isIcmpError(p)) translateRelated(entry, reply, p, half);
  else if (half === "dst") manipDst(entry, reply, p);
  else manipSrc(entry, reply, p);
}

function manipTraced(
  kernel: Kernel,
  entry: ConntrackEntry,
  reply: boolean,
  p: Packet,
  half: "dst" | "src",
  trace: Trace,
): void {
  const before = half === "dst" ? endpoint(p.dst, p.dport, p.proto) : endpoint(p.src, p.sport, p.proto);
  if (isIcmpError(p)) translateRelated(entry, reply, p, half);
  else if (half === "dst") manipDst(entry, reply, p);
  else manipSrc(entry, reply, p);
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
function manipDst(entry: ConntrackEntry, reply: boolean, p: Packet): void {
  const t = reply ? entry.orig : entry.reply;
  p.dst = t.src;
  if (p.proto !== ICMP) p.dport = t.sport;
}

/** …and the source half at POSTROUTING/INPUT. */
function manipSrc(entry: ConntrackEntry, reply: boolean, p: Packet): void {
  const t = reply ? entry.orig : entry.reply;
  p.src = t.dst;
  if (p.proto !== ICMP) p.sport = t.dport;
}

/** The NAT binding a nat-table traversal ended in (a connection's first packet), applied to the packet. */
export function applyNat(
  kernel: Kernel,
  r: TraversalResult,
  p: Packet,
  outDev: string,
  trace: Trace | undefined,
  entry: ConntrackEntry | undefined,
  random: () => number,
  now: number,
): void {
  const nat = r.nat;
  if (!nat) return;
  // A binding changes one half of the tuple: the destination (DNAT) or the source.
  const dnat = nat.kind === "DNAT";
  const ipBefore = dnat ? p.dst : p.src;
  const portBefore = dnat ? p.dport : p.sport;
  if (dnat) {
    p.dst = nat.ip;
    if (nat.portMin) p.dport = nat.portMin + Math.floor(random() * (nat.portMax - nat.portMin + 1));
  } else {
    const ip = nat.kind === "SNAT" ? nat.ip : kernel.sourceFor(outDev, p.dst);
    if (ip === undefined) return;
    p.src = ip;
    p.sport = natPort(kernel, p, nat.portMin, nat.portMax, nat.randomFully, random, now);
  }
  const ipAfter = dnat ? p.dst : p.src;
  const portAfter = dnat ? p.dport : p.sport;
  // IPS_DST_NAT / IPS_SRC_NAT: set when the binding changed the tuple (`--ctstate DNAT`/`SNAT` see them).
  if (entry && (ipAfter !== ipBefore || portAfter !== portBefore)) {
    if (dnat) entry.dnat = true;
    else entry.snat = true;
  }
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
function natPort(
  kernel: Kernel,
  p: Packet,
  min: number,
  max: number,
  randomFully: boolean,
  random: () => number,
  now: number,
): number {
  const icmp = p.proto === ICMP;
  const lo = icmp ? 0 : min || 1024;
  const hi = icmp ? 65535 : max || 65535;
  if (
    !randomFully &&
    (icmp || min === 0 || (p.sport >= lo && p.sport <= hi)) &&
    portFree(kernel, p, p.sport, icmp, now)
  )
    return p.sport;
  for (let i = 0; i < 64; i++) {
    const port = lo + Math.floor(random() * (hi - lo + 1));
    if (portFree(kernel, p, port, icmp, now)) return port;
  }
  for (let port = lo; port <= hi; port++) if (portFree(kernel, p, port, icmp, now)) return port;
  return p.sport;
}

/** `p.src` is already translated: the port is free when the reply tuple it makes is. */
function portFree(kernel: Kernel, p: Packet, port: number, icmp: boolean, now: number): boolean {
  return icmp
    ? !kernel.conntrack.inUse(p.proto, p.dst, port, p.src, 0, now)
    : !kernel.conntrack.inUse(p.proto, p.dst, p.dport, p.src, port, now);
}
