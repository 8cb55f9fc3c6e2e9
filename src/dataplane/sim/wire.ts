import { ICMP, type Packet, TCP, type TcpOption, UDP } from "./netfilter/index.ts";

/**
 * A sim packet as the bytes a packet socket would see: an IPv4 header and the TCP, UDP or ICMP datagram, with
 * real internet checksums (RFC 1071) over the pseudo-header, the header and the payload. Captures are printed
 * from these bytes, so what tcpdump calls `(correct)` is checked, not assumed.
 */

const IP_HEADER = 20;
/** An ICMP error quotes the offending datagram so that the error fits in 576 bytes, as Linux does. */
const ICMP_ERROR_MAX = 576;

/** The one's-complement sum of 16-bit words, folded (not yet inverted). */
function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  const n = bytes.length;
  for (let i = 0; i + 1 < n; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (n % 2) sum += bytes[n - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The internet checksum of `bytes` (0 when a buffer that contains its own checksum is intact). */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesComplementSum(bytes, initial) & 0xffff;
}

/** The TCP/UDP pseudo-header's sum: source, destination, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

function optionBytes(options: TcpOption[]): number[] {
  const out: number[] = [];
  for (const o of options) {
    if (o.kind === "mss") out.push(2, 4, o.value >>> 8, o.value & 255);
    else if (o.kind === "sackOK") out.push(4, 2);
    else if (o.kind === "nop") out.push(1);
    else if (o.kind === "wscale") out.push(3, 3, o.value);
    else out.push(8, 10, ...u32(o.val), ...u32(o.ecr));
  }
  while (out.length % 4) out.push(0);
  return out;
}

function u32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

/**
 * A payload string's bytes. The sim's binary protocols (DNS) carry one byte per character (latin1); text
 * with characters beyond U+00FF is UTF-8.
 */
export function payloadBuffer(text: string): Buffer {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return Buffer.from(text, "utf8");
  return Buffer.from(text, "latin1");
}

/** `payloadBuffer(text).length`, without making the buffer. */
export function payloadLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return Buffer.byteLength(text, "utf8");
  return text.length;
}

/** The payload: the packet's text, cut or zero-padded to the length `len` leaves for it. */
function payloadBytes(p: Packet, length: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, length));
  if (p.payload) out.set(payloadBuffer(p.payload).subarray(0, out.length));
  return out;
}

function transportBytes(p: Packet, l4Length: number): Uint8Array {
  if (p.proto === TCP) {
    const t = p.tcp ?? { seq: 0, ack: 0, win: 0, options: [] };
    const opts = optionBytes(t.options);
    const hlen = 20 + opts.length;
    const body = payloadBytes(p, l4Length - hlen);
    const b = new Uint8Array(hlen + body.length);
    const v = new DataView(b.buffer);
    v.setUint16(0, p.sport);
    v.setUint16(2, p.dport);
    v.setUint32(4, t.seq >>> 0);
    v.setUint32(8, t.ack >>> 0);
    b[12] = (hlen / 4) << 4;
    b[13] = p.tcpFlags & 0xff;
    v.setUint16(14, t.win);
    b.set(opts, 20);
    b.set(body, hlen);
    const sum = internetChecksum(b, pseudoHeaderSum(p.src, p.dst, TCP, b.length));
    v.setUint16(16, sum);
    return b;
  }
  if (p.proto === UDP) {
    const body = p.encapsulated ? tunnelPayload(p, l4Length - 8) : payloadBytes(p, l4Length - 8);
    const b = new Uint8Array(8 + body.length);
    const v = new DataView(b.buffer);
    v.setUint16(0, p.sport);
    v.setUint16(2, p.dport);
    v.setUint16(4, b.length);
    b.set(body, 8);
    // A computed 0 is sent as 0xffff (RFC 768): 0 means "no checksum".
    v.setUint16(6, internetChecksum(b, pseudoHeaderSum(p.src, p.dst, UDP, b.length)) || 0xffff);
    return b;
  }
  if (p.proto === ICMP) {
    let body: Uint8Array;
    if (p.inner) {
      const quoted = encodeIpv4(p.inner);
      body = quoted.subarray(0, Math.min(quoted.length, ICMP_ERROR_MAX - IP_HEADER - 8));
    } else body = payloadBytes(p, l4Length - 8);
    const b = new Uint8Array(8 + body.length);
    const v = new DataView(b.buffer);
    b[0] = p.icmpType;
    b[1] = p.icmpCode;
    if (p.icmpType === 0 || p.icmpType === 8) {
      v.setUint16(4, p.sport);
      v.setUint16(6, p.icmpSeq ?? 0);
    }
    b.set(body, 8);
    v.setUint16(2, internetChecksum(b));
    return b;
  }
  if (p.encapsulated) return tunnelPayload(p, l4Length);
  return payloadBytes(p, l4Length);
}

function macBytes(mac: string): number[] {
  return mac === "" ? [0, 0, 0, 0, 0, 0] : mac.split(":").map((h) => Number.parseInt(h, 16));
}

/**
 * What a tunnel packet carries after its outer headers: IPIP the inner datagram; VXLAN its 8-byte header (flags
 * 0x08: VNI valid) and the inner Ethernet frame; WireGuard a message whose first byte is its type (the rest,
 * encrypted, is zeros here), `length` bytes in all.
 */
function tunnelPayload(p: Packet, length: number): Uint8Array {
  const e = p.encapsulated!;
  if (e.kind === "wireguard") {
    const b = new Uint8Array(Math.max(0, length));
    if (b.length) b[0] = e.messageType;
    return b;
  }
  const inner = encodeIpv4(e.packet);
  if (e.kind === "ipip") return inner;
  const b = new Uint8Array(8 + 14 + inner.length);
  b[0] = 0x08;
  b[4] = (e.vni >>> 16) & 255;
  b[5] = (e.vni >>> 8) & 255;
  b[6] = e.vni & 255;
  b.set(macBytes(e.frame?.dst ?? ""), 8);
  b.set(macBytes(e.frame?.src ?? ""), 14);
  b[20] = 0x08;
  b[21] = 0x00;
  b.set(inner, 22);
  return b;
}

/** The IPv4 datagram: header (no options) and transport bytes. */
export function encodeIpv4(p: Packet): Uint8Array {
  const l4 = transportBytes(p, p.inner ? 0 : p.len - IP_HEADER);
  const b = new Uint8Array(IP_HEADER + l4.length);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  b[1] = p.tos ?? 0;
  v.setUint16(2, b.length);
  v.setUint16(4, (p.ipId ?? 0) & 0xffff);
  v.setUint16(6, p.df ? 0x4000 : 0);
  b[8] = p.ttl ?? 64;
  b[9] = p.proto;
  v.setUint32(12, p.src >>> 0);
  v.setUint32(16, p.dst >>> 0);
  v.setUint16(10, internetChecksum(b.subarray(0, IP_HEADER)));
  b.set(l4, IP_HEADER);
  return b;
}

/** The length an ICMP error carrying `inner` has on the wire (what `len` should say). */
export function icmpErrorLength(inner: Packet): number {
  return Math.min(ICMP_ERROR_MAX, IP_HEADER + 8 + encodeIpv4(inner).length);
}
