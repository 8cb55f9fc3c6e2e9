import { type Conntrack, type ConntrackEntry, replyTupleOf } from "./conntrack.ts";
import { ICMP, type Packet } from "./netfilter/index.ts";

/**
 * Conntrack's RELATED handling for ICMP errors (nf_conntrack_proto_icmp's icmp_error_message and
 * nf_nat_icmp_reply_translation): an error belongs to the connection of the datagram it quotes, runs in the
 * opposite direction, and is translated so that both its outer header and the quoted datagram look as they
 * would to the other end of that connection.
 */

/** The connection an ICMP error is about: the quoted datagram's tuple, inverted, looked up. */
export function relatedEntry(
  conntrack: Conntrack,
  p: Packet,
  now: number,
): { entry: ConntrackEntry; reply: boolean } | undefined {
  const inner = p.inner;
  if (!inner) return undefined;
  const inverted: Packet =
    inner.proto === ICMP
      ? { ...inner, src: inner.dst, dst: inner.src }
      : { ...inner, src: inner.dst, dst: inner.src, sport: inner.dport, dport: inner.sport };
  return conntrack.lookup(inverted, now);
}

/** An entry for a connection whose first packet was refused before conntrack confirmed it (nf_ct_attach). */
export function unconfirmedEntry(entry: ConntrackEntry, refused: Packet): ConntrackEntry {
  return { ...entry, reply: replyTupleOf(refused), finSeen: [false, false] };
}

function natted(entry: ConntrackEntry): { snat: boolean; dnat: boolean } {
  const { orig, reply } = entry;
  const ports = entry.proto !== ICMP;
  return {
    snat: orig.src !== reply.dst || (ports && orig.sport !== reply.dport),
    dnat: orig.dst !== reply.src || (ports && orig.dport !== reply.sport),
  };
}

/**
 * The NAT of a RELATED ICMP error at one half (`dst` at PREROUTING/OUTPUT, `src` at POSTROUTING/INPUT): the
 * outer address takes the value a packet of the error's direction would have, and the quoted datagram the
 * matching address and port, only where this connection was translated.
 */
export function translateRelated(
  entry: ConntrackEntry,
  reply: boolean,
  p: Packet,
  half: "dst" | "src",
): void {
  const { snat, dnat } = natted(entry);
  const t = reply ? entry.orig : entry.reply;
  const inner = p.inner ? { ...p.inner } : undefined;
  if (half === "dst" && (reply ? snat : dnat)) {
    p.dst = t.src;
    if (inner) {
      inner.src = t.src;
      if (inner.proto !== ICMP) inner.sport = t.sport;
    }
  }
  if (half === "src" && (reply ? dnat : snat)) {
    p.src = t.dst;
    if (inner) {
      inner.dst = t.dst;
      if (inner.proto !== ICMP) inner.dport = t.dport;
    }
  }
  if (inner) p.inner = inner;
}
