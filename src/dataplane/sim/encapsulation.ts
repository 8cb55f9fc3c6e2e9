/**
 * Tunnel encapsulation as the kernel's devices build it: VXLAN (RFC 7348: outer UDP, 8-byte header, inner
 * Ethernet frame: outer length = inner + 50), IPIP (protocol 4: inner + 20) and WireGuard's messages (UDP carrying
 * a handshake initiation of 148 bytes, a response of 92, or data: a 16-byte header, the inner datagram padded to
 * 16 bytes and encrypted, and a 16-byte tag). The outer packet keeps the inner one's mark, as iptunnel_xmit does.
 */
import { fnv1a5, mix32 } from "./hash.ts";
import { ICMP, type Packet, UDP } from "./netfilter/index.ts";
import { copyPacket } from "./packet-copy.ts";

export const IPIP = 4;
export const VXLAN_PORT = 4789;
/** IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
export const IPIP_OVERHEAD = 20;
export const WIREGUARD_INITIATION = 148;
export const WIREGUARD_RESPONSE = 92;
const WIREGUARD_DATA_HEADER = 16;
const WIREGUARD_TAG = 16;
const IP_UDP = 28;

/**
 * The outer UDP source port of a flow: udp_flow_src_port scales the inner flow's hash into the local port range
 * (32768–60999), so every packet of a flow takes one port and flows spread over the underlay's ECMP paths. The
 * kernel's flow hash is symmetric (the flow dissector orders the addresses and ports), so both directions of a
 * connection use the same port.
 */
export function vxlanSourcePort(inner: Packet): number {
  const forward = inner.src < inner.dst || (inner.src === inner.dst && inner.sport <= inner.dport);
  const [a, b] = forward ? [inner.src, inner.dst] : [inner.dst, inner.src];
  // An ICMP echo's "ports" are its identifier both ways: they do not swap with the addresses.
  const [portA, portB] =
    forward || inner.proto === ICMP ? [inner.sport, inner.dport] : [inner.dport, inner.sport];
  const hash = fnv1a5(a, b, inner.proto, portA, portB);
  return Math.floor((hash * (61000 - 32768)) / 2 ** 32) + 32768;
}

function outerPacket(
  inner: Packet | undefined,
  src: number,
  dst: number,
  proto: number,
  len: number,
): Packet {
  // The outer header's id: ip_select_ident's per-destination counter, here a hash of the inner datagram.
  const ipId = mix32(src, dst, inner?.ipId ?? 0, inner?.len ?? len) & 0xffff;
  return copyPacket({
    ipId,
    src,
    dst,
    proto,
    sport: 0,
    dport: 0,
    len,
    mark: inner?.mark ?? 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
    tos: inner?.tos,
  });
}

/** The VXLAN packet carrying `inner` from VTEP `src` to VTEP `dst`. */
export function encapsulateVxlan(
  inner: Packet,
  outer: { src: number; dst: number; vni: number; port?: number; frame?: { src: string; dst: string } },
): Packet {
  const p = outerPacket(inner, outer.src, outer.dst, UDP, inner.len + VXLAN_OVERHEAD);
  // vxlan's defaults: ttl auto (the route's hop limit, 64), df unset.
  p.ttl = 64;
  p.df = false;
  p.sport = vxlanSourcePort(inner);
  p.dport = outer.port ?? VXLAN_PORT;
  p.encapsulated = {
    kind: "vxlan",
    vni: outer.vni,
    packet: inner,
    ...(outer.frame ? { frame: outer.frame } : {}),
  };
  return p;
}

/** The IPIP packet carrying `inner` from `src` to `dst`. */
export function encapsulateIpip(inner: Packet, outer: { src: number; dst: number }): Packet {
  const p = outerPacket(inner, outer.src, outer.dst, IPIP, inner.len + IPIP_OVERHEAD);
  // tunl0's defaults: ttl inherit (the inner's), pmtudisc (DF set).
  p.ttl = inner.ttl ?? 64;
  p.df = true;
  p.encapsulated = { kind: "ipip", packet: inner };
  return p;
}

/** The length of the WireGuard data message that carries an inner datagram of `len` bytes. */
export function wireguardDataLength(len: number): number {
  return WIREGUARD_DATA_HEADER + Math.ceil(len / 16) * 16 + WIREGUARD_TAG;
}

/** A WireGuard message as a UDP packet (`inner` only for data, type 4). */
export function wireguardMessage(
  message: { type: 1 | 2 | 4; sender: string; receiver: string; inner?: Packet },
  outer: { src: number; sport: number; dst: number; dport: number; mark: number },
): Packet {
  const length =
    message.type === 1
      ? WIREGUARD_INITIATION
      : message.type === 2
        ? WIREGUARD_RESPONSE
        : wireguardDataLength(message.inner?.len ?? 0);
  const p = outerPacket(undefined, outer.src, outer.dst, UDP, IP_UDP + length);
  p.ttl = 64;
  p.df = false;
  p.sport = outer.sport;
  p.dport = outer.dport;
  p.mark = outer.mark;
  p.encapsulated = {
    kind: "wireguard",
    messageType: message.type,
    sender: message.sender,
    receiver: message.receiver,
    ...(message.inner ? { packet: message.inner } : {}),
  };
  return p;
}

/** The packet a tunnel packet carries, as the receiving device gets it (a copy), or undefined for none. */
export function decapsulate(outer: Packet): Packet | undefined {
  const inner = outer.encapsulated?.packet;
  if (!inner) return undefined;
  const p = copyPacket(inner);
  p.mark = 0;
  return p;
}
