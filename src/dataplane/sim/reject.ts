import { ICMP, type Packet, TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "./netfilter/index.ts";
import { icmpErrorLength, payloadLength } from "./wire.ts";

/** ICMP destination-unreachable codes by iptables' `--reject-with` names (and the kernel's own reasons). */
const UNREACH_CODES: Record<string, number> = {
  "icmp-net-unreachable": 0,
  "icmp-host-unreachable": 1,
  "icmp-proto-unreachable": 2,
  "icmp-port-unreachable": 3,
  "icmp-net-prohibited": 9,
  "icmp-host-prohibited": 10,
  "icmp-admin-prohibited": 13,
};

/** ICMP types that report an error about another datagram (Linux never answers those with an error). */
export function isIcmpError(p: Packet): boolean {
  return p.proto === ICMP && (p.icmpType === 3 || p.icmpType === 11 || p.icmpType === 12 || p.icmpType === 5);
}

/**
 * What a kernel sends back for a datagram it refuses (iptables REJECT, or a closed UDP port): an ICMP
 * destination unreachable quoting the datagram as this kernel sees it (icmp_send: TOS 0xc0, TTL 64, no DF;
 * the source is the address the datagram was for when it was local, else chosen by routing), or for
 * `tcp-reset` a RST (nf_send_reset: the addresses and ports swapped, DF, id 0). Nothing for an ICMP error
 * or a RST, as Linux never answers those.
 */
export function rejectReply(p: Packet, how: string, local: boolean, ipId: number): Packet | undefined {
  if (isIcmpError(p)) return undefined;
  if (how === "tcp-reset") {
    if (p.proto !== TCP || p.tcpFlags & TCP_RST) return undefined;
    const t = p.tcp;
    const hasAck = (p.tcpFlags & TCP_ACK) !== 0;
    const seqSpace =
      (p.tcpFlags & TCP_SYN ? 1 : 0) + (p.tcpFlags & TCP_FIN ? 1 : 0) + payloadLength(p.payload ?? "");
    return {
      src: p.dst,
      dst: p.src,
      proto: TCP,
      sport: p.dport,
      dport: p.sport,
      len: 40,
      mark: 0,
      tcpFlags: hasAck ? TCP_RST : TCP_RST | TCP_ACK,
      icmpType: 0,
      icmpCode: 0,
      ttl: 64,
      ipId: 0,
      df: true,
      tcp: {
        seq: hasAck ? (t?.ack ?? 0) : 0,
        ack: hasAck ? 0 : ((t?.seq ?? 0) + seqSpace) >>> 0,
        win: 0,
        options: [],
      },
    };
  }
  const code = UNREACH_CODES[how] ?? 3;
  const inner: Packet = { ...p };
  return {
    src: local ? p.dst : 0,
    dst: p.src,
    proto: ICMP,
    sport: 0,
    dport: 0,
    len: icmpErrorLength(inner),
    mark: 0,
    tcpFlags: 0,
    icmpType: 3,
    icmpCode: code,
    ttl: 64,
    ipId,
    df: false,
    tos: 0xc0,
    inner,
  };
}
