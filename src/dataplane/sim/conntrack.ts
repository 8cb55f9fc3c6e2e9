import { fnv1a5 } from "./hash.ts";
import { formatIpv4 } from "./ipv4.ts";
import { ICMP, type Packet, TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, UDP } from "./netfilter/index.ts";

export interface Tuple {
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

export type TcpState =
  | "SYN_SENT"
  | "SYN_RECV"
  | "ESTABLISHED"
  | "FIN_WAIT"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "TIME_WAIT"
  | "CLOSE";

export interface ConntrackEntry {
  proto: number;
  orig: Tuple;
  reply: Tuple;
  tcpState?: TcpState;
  seenReply: boolean;
  assured: boolean;
  /** Virtual-clock millisecond at which the entry expires. */
  expires: number;
  mark: number;
  /** FIN seen from each direction (original, reply). */
  finSeen: [boolean, boolean];
  /** IPS_SRC_NAT / IPS_DST_NAT: a NAT binding changed the source / destination. */
  snat?: boolean;
  dnat?: boolean;
}

/** Seconds, nf_conntrack's defaults. */
const TCP_TIMEOUTS: Record<TcpState, number> = {
  SYN_SENT: 120,
  SYN_RECV: 60,
  ESTABLISHED: 432000,
  FIN_WAIT: 120,
  CLOSE_WAIT: 60,
  LAST_ACK: 30,
  TIME_WAIT: 120,
  CLOSE: 10,
};
const UDP_TIMEOUT = 30;
const UDP_STREAM_TIMEOUT = 120;
const ICMP_TIMEOUT = 30;

export function tupleOf(p: Packet): Tuple {
  if (p.proto === ICMP) {
    // Echo request and reply share the identifier, carried here in sport.
    return { src: p.src, dst: p.dst, sport: p.sport, dport: 0 };
  }
  return { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport };
}

/** The reply direction's tuple of a packet as it leaves (an ICMP echo keeps its identifier in sport). */
export function replyTupleOf(p: Packet): Tuple {
  return p.proto === ICMP
    ? { src: p.dst, dst: p.src, sport: p.sport, dport: 0 }
    : { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport };
}

/**
 * `replyTupleOf(p)` written into a tuple the caller owns (conntrack's confirm step: the reply tuple is the packet
 * as it leaves, reversed), so confirming a connection allocates no second tuple.
 */
export function setReplyTuple(t: Tuple, p: Packet): void {
  t.src = p.dst;
  t.dst = p.src;
  if (p.proto === ICMP) {
    t.sport = p.sport;
    t.dport = 0;
  } else {
    t.sport = p.dport;
    t.dport = p.sport;
  }
}

/**
 * One direction of a connection in the hash: the tuple as it was when the connection was confirmed. Slots whose
 * tuples hash alike are chained through `next` (one object per direction, no bucket arrays: every connection
 * adds two, and the garbage collector copies all of them).
 */
interface Slot {
  entry: ConntrackEntry;
  reply: boolean;
  proto: number;
  src: number;
  sport: number;
  dst: number;
  dport: number;
  next: Slot | undefined;
}

/**
 * The table's key: a number, so a lookup builds no string; 30 bits, so it is a small integer (a Smi) in V8 and a
 * lookup boxes no heap number for it (a 32-bit hash is a heap number half the time).
 */
export function tupleHash(proto: number, src: number, sport: number, dst: number, dport: number): number {
  return fnv1a5(proto, src, sport, dst, dport) & 0x3fffffff;
}

/** The connection tracking table of one network namespace. */
export class Conntrack {
  /** Both directions of every confirmed connection, by tuple hash (a chain of slots holds the rare collisions). */
  private readonly byTuple = new Map<number, Slot>();
  readonly entries = new Set<ConntrackEntry>();

  private find(proto: number, src: number, sport: number, dst: number, dport: number): Slot | undefined {
    let s = this.byTuple.get(tupleHash(proto, src, sport, dst, dport));
    while (s !== undefined) {
      if (s.proto === proto && s.src === src && s.sport === sport && s.dst === dst && s.dport === dport)
        return s;
      s = s.next;
    }
    return undefined;
  }

  /** Maps one direction's tuple to the entry; a tuple another entry held is taken over by this one. */
  private insert(entry: ConntrackEntry, reply: boolean): void {
    const t = reply ? entry.reply : entry.orig;
    const proto = entry.proto;
    const h = tupleHash(proto, t.src, t.sport, t.dst, t.dport);
    const head = this.byTuple.get(h);
    for (let s = head; s !== undefined; s = s.next)
      if (
        s.proto === proto &&
        s.src === t.src &&
        s.sport === t.sport &&
        s.dst === t.dst &&
        s.dport === t.dport
      ) {
        s.entry = entry;
        s.reply = reply;
        return;
      }
    const slot: Slot = {
      entry,
      reply,
      proto,
      src: t.src,
      sport: t.sport,
      dst: t.dst,
      dport: t.dport,
      next: head,
    };
    this.byTuple.set(h, slot);
  }

  /** Unmaps `entry`'s slot for tuple `t` (a slot another entry took over stays). */
  private unlink(entry: ConntrackEntry, t: Tuple): void {
    const h = tupleHash(entry.proto, t.src, t.sport, t.dst, t.dport);
    let prev: Slot | undefined;
    let s = this.byTuple.get(h);
    while (s !== undefined) {
      const next = s.next;
      if (
        s.entry === entry &&
        s.src === t.src &&
        s.sport === t.sport &&
        s.dst === t.dst &&
        s.dport === t.dport
      ) {
        if (prev) prev.next = next;
        else if (next) this.byTuple.set(h, next);
        else this.byTuple.delete(h);
      } else prev = s;
      s = next;
    }
  }

  lookup(p: Packet, now: number): { entry: ConntrackEntry; reply: boolean } | undefined {
    // tupleOf's fields straight from the packet (no tuple object): this runs for every packet.
    const hit = this.find(p.proto, p.src, p.sport, p.dst, p.proto === ICMP ? 0 : p.dport);
    if (hit && hit.entry.expires <= now) {
      this.remove(hit.entry);
      return undefined;
    }
    return hit;
  }

  /** Whether a tuple is taken, in either direction (for NAT port choice). */
  inUse(proto: number, src: number, sport: number, dst: number, dport: number, now: number): boolean {
    const hit = this.find(proto, src, sport, dst, dport);
    return hit !== undefined && hit.entry.expires > now;
  }

  newEntry(p: Packet): ConntrackEntry {
    const orig = tupleOf(p);
    return {
      proto: p.proto,
      orig,
      reply: replyTupleOf(p),
      seenReply: false,
      assured: false,
      expires: 0,
      mark: p.mark,
      finSeen: [false, false],
    };
  }

  /** Adds an entry once its first packet has passed every hook (the kernel's confirm step). */
  confirm(entry: ConntrackEntry, p: Packet, now: number): void {
    this.entries.add(entry);
    this.insert(entry, false);
    this.insert(entry, true);
    this.update(entry, p, false, now);
  }

  remove(entry: ConntrackEntry): void {
    this.entries.delete(entry);
    this.unlink(entry, entry.orig);
    this.unlink(entry, entry.reply);
  }

  /** Moves the entry's state on for a packet that passed (the TCP state machine, UDP/ICMP timeouts). */
  update(entry: ConntrackEntry, p: Packet, reply: boolean, now: number): void {
    // An ICMP error is RELATED to the connection; it moves nothing on.
    if (p.proto === ICMP && p.inner) return;
    if (entry.proto === TCP && p.tcpFlags & TCP_RST && !entry.seenReply) {
      // nf_conntrack_tcp_packet: a connection whose only answer is a RST is deleted at once.
      this.remove(entry);
      return;
    }
    if (reply && !entry.seenReply) entry.seenReply = true;
    else if (!reply && entry.seenReply && entry.proto === UDP) entry.assured = true;
    if (entry.proto === TCP) {
      const f = p.tcpFlags;
      let s = entry.tcpState;
      if (f & TCP_RST) s = "CLOSE";
      else if (s === undefined) s = f & TCP_SYN ? "SYN_SENT" : "ESTABLISHED";
      else if (s === "SYN_SENT" && reply && f & TCP_SYN && f & TCP_ACK) s = "SYN_RECV";
      else if (s === "SYN_RECV" && !reply && f & TCP_ACK) {
        s = "ESTABLISHED";
        entry.assured = true;
      }
      if (f & TCP_FIN) {
        entry.finSeen[reply ? 1 : 0] = true;
        if (s === "ESTABLISHED") s = "FIN_WAIT";
        else if (s === "FIN_WAIT" || s === "CLOSE_WAIT") s = "LAST_ACK";
      } else if (f & TCP_ACK && s === "LAST_ACK" && entry.finSeen[0] && entry.finSeen[1]) s = "TIME_WAIT";
      entry.tcpState = s;
      entry.expires = now + TCP_TIMEOUTS[s] * 1000;
    } else if (entry.proto === UDP) {
      entry.expires = now + (entry.assured ? UDP_STREAM_TIMEOUT : UDP_TIMEOUT) * 1000;
    } else entry.expires = now + ICMP_TIMEOUT * 1000;
  }

  expire(now: number): void {
    for (const e of [...this.entries]) if (e.expires <= now) this.remove(e);
  }

  /** `conntrack -L` lines (conntrack-tools 1.4.7), oldest first. */
  list(now: number): string[] {
    const lines: string[] = [];
    for (const e of this.entries) {
      if (e.expires <= now) continue;
      const name = e.proto === TCP ? "tcp" : e.proto === UDP ? "udp" : e.proto === ICMP ? "icmp" : "unknown";
      const secs = Math.max(0, Math.floor((e.expires - now) / 1000));
      const parts = [`${name.padEnd(8)} ${e.proto} ${secs}`];
      if (e.tcpState) parts.push(e.tcpState);
      parts.push(tupleText(e.proto, e.orig, false));
      if (!e.seenReply) parts.push("[UNREPLIED]");
      parts.push(tupleText(e.proto, e.reply, true));
      if (e.assured) parts.push("[ASSURED]");
      parts.push(`mark=${e.mark}`, "use=1");
      lines.push(parts.join(" "));
    }
    return lines;
  }

  /** What survives a CLI invocation: every live entry. */
  snapshot(now: number): ConntrackEntry[] {
    return [...this.entries].filter((e) => e.expires > now);
  }

  restoreSnapshot(entries: ConntrackEntry[]): void {
    for (const e of entries) {
      this.entries.add(e);
      this.insert(e, false);
      this.insert(e, true);
    }
  }
}

function tupleText(proto: number, t: Tuple, reply: boolean): string {
  const base = `src=${formatIpv4(t.src)} dst=${formatIpv4(t.dst)}`;
  if (proto === ICMP) return `${base} type=${reply ? 0 : 8} code=0 id=${t.sport}`;
  return `${base} sport=${t.sport} dport=${t.dport}`;
}
