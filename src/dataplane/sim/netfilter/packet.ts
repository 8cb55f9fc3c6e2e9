import { netbaseProtocolName, parseProtocol } from "../../../net/index.ts";

/** What netfilter sees of a packet. Addresses are IPv4 numbers; ports are 0 for protocols without them. */
export interface Packet {
  src: number;
  dst: number;
  /** IANA protocol number. */
  proto: number;
  sport: number;
  dport: number;
  /** Length of the IP datagram, which iptables' byte counters add up. */
  len: number;
  mark: number;
  /** TCP flags (FIN 1, SYN 2, RST 4, PSH 8, ACK 16). */
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  /** Header fields a capture shows (wire.ts encodes them; absent ones take the kernel's defaults). */
  ttl?: number;
  tos?: number;
  ipId?: number;
  df?: boolean;
  tcp?: TcpHeader;
  /** Application bytes (`len` minus the headers; shorter text is padded with zeros). */
  payload?: string;
  /** An ICMP echo's sequence number (the identifier is `sport`). */
  icmpSeq?: number;
  /** An ICMP error's quoted datagram, as the kernel that sent the error saw it. */
  inner?: Packet;
  /** The packet this one carries: a VXLAN (UDP) or IPIP (protocol 4) outer packet's inner one, or WireGuard's. */
  encapsulated?: Encapsulated;
}

/**
 * What a tunnel packet carries. `vxlan`: UDP to the VXLAN port, an 8-byte VXLAN header and the inner Ethernet
 * frame (`vni`, `frame`'s MACs; Calico's eBPF NodePort tunnel uses VNI 0xca11c0); `ipip`: protocol 4, the inner IP datagram;
 * `wireguard`: UDP to the listening port, a WireGuard message (type 1 handshake initiation, 2 response, 4 data:
 * the inner datagram encrypted, so only its length shows on the wire).
 */
export type Encapsulated =
  | { kind: "vxlan"; vni: number; packet: Packet; frame?: { src: string; dst: string } }
  | { kind: "ipip"; packet: Packet }
  | {
      kind: "wireguard";
      messageType: 1 | 2 | 4;
      packet?: Packet;
      /**
       * The sender's and the intended receiver's public keys: what the real messages prove with their static keys
       * and receiver indexes (the sim checks them instead of doing the Noise handshake).
       */
      sender?: string;
      receiver?: string;
    };

/** TCP header fields beyond the ports and flags. */
export interface TcpHeader {
  seq: number;
  ack: number;
  win: number;
  options: TcpOption[];
}

export type TcpOption =
  | { kind: "mss"; value: number }
  | { kind: "sackOK" }
  | { kind: "nop" }
  | { kind: "wscale"; value: number }
  | { kind: "TS"; val: number; ecr: number };

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const SCTP = 132;

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_PSH = 8;
export const TCP_ACK = 16;

export type CtState = "NEW" | "ESTABLISHED" | "RELATED" | "INVALID" | "UNTRACKED";

/** Everything a rule may ask besides the packet itself. */
export interface MatchContext {
  inIface: string;
  outIface: string;
  ctState: CtState;
  /** The connection's NAT status bits, for `--ctstate SNAT`/`DNAT` (absent: untracked or not NATed). */
  ctNat?: { snat?: boolean; dnat?: boolean };
  isLocal(ip: number): boolean;
  isAddressType(ip: number, type: string): boolean;
  ipsetHas(name: string, packet: Packet, dirs: readonly ("src" | "dst")[]): boolean;
  /** A number in [0, 1) from the kernel's seeded source, for `statistic --mode random`. */
  random(): number;
}

/** A protocol name or number as iptables and nft parse it (`ipencap` is 4, `ipip` 94). */
export function protocolByName(name: string): number | undefined {
  return parseProtocol(name);
}

/** The name nft and iptables-save print for a protocol number (`all` for 0). */
export function protocolName(num: number): string | undefined {
  return num === 0 ? "all" : netbaseProtocolName(num);
}
