import type { Packet } from "./netfilter/index.ts";

/**
 * The network's own copy of a packet a process sends: every field of `Packet` present, always in this order, so
 * every packet inside the network has one hidden class. Rules, conntrack and routing then read fields from one
 * shape (monomorphic property loads), and setting an optional field later (a forwarding hop's TTL) needs no new
 * property. An absent optional field stays `undefined`, as it was.
 */
export function copyPacket(p: Packet): Packet {
  const copy: { [K in keyof Required<Packet>]: Packet[K] } = {
    src: p.src,
    dst: p.dst,
    proto: p.proto,
    sport: p.sport,
    dport: p.dport,
    len: p.len,
    mark: p.mark,
    tcpFlags: p.tcpFlags,
    icmpType: p.icmpType,
    icmpCode: p.icmpCode,
    ttl: p.ttl,
    tos: p.tos,
    ipId: p.ipId,
    df: p.df,
    tcp: p.tcp,
    payload: p.payload,
    icmpSeq: p.icmpSeq,
    inner: p.inner,
    encapsulated: p.encapsulated,
  };
  return copy;
}
