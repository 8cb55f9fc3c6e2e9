import type { Kernel } from "./kernel.ts";
import { ICMP, type Packet, SCTP, TCP, TCP_ACK, TCP_RST, TCP_SYN, UDP } from "./netfilter/index.ts";
import type { Delivery, Network, Trace } from "./network.ts";
import { packet } from "./transport.ts";

export type ProbeProtocol = "tcp" | "udp" | "icmp" | "sctp";

/** What answered the first packet, and how. */
export type ProbeAnswer =
  | { kind: "reply"; what: string }
  | { kind: "reset"; what: string }
  | { kind: "port-unreachable" };

export interface ProbeResult {
  /** The first packet as the sending process made it (the kernel's source choice filled in). */
  sent: Packet;
  request: Delivery;
  /** Set when the first packet was delivered: the answer the receiving namespace gives. */
  answer?: ProbeAnswer;
  /** The answer's journey back, when one is sent. */
  reply?: Delivery;
}

const FIRST: Record<ProbeProtocol, { label: string; len: number }> = {
  tcp: { label: "TCP SYN", len: 60 },
  udp: { label: "UDP datagram", len: 28 },
  icmp: { label: "ICMP echo request", len: 84 },
  sctp: { label: "SCTP INIT", len: 52 },
};

export function probeLabel(proto: ProbeProtocol): string {
  return FIRST[proto].label;
}

/**
 * The first packet of one connection (TCP SYN, a UDP datagram, an ICMP echo request or an SCTP INIT) from
 * `client` to `dst`, and, if it is delivered, the receiving namespace's answer back along the reply path: SYN-ACK
 * (RST if nothing listens), the UDP reply (for a closed port the answer is reported but its ICMP error, which
 * Network.answerRefused can send, is not traced back),
 * the echo reply, INIT-ACK (ABORT if nothing listens). Apps are not run: a listening socket is enough to answer.
 * The source port is the one the client's next connection would get; it is not consumed.
 */
export function probe(
  net: Network,
  client: Kernel,
  proto: ProbeProtocol,
  dst: number,
  dport: number,
  traces: { out?: Trace; back?: Trace } = {},
  /** The socket's bound source address (BIRD's `source address`); 0 lets the kernel choose. */
  src = 0,
): ProbeResult {
  const number = { tcp: TCP, udp: UDP, icmp: ICMP, sctp: SCTP }[proto];
  const first = packet({
    src,
    dst,
    proto: number,
    sport: proto === "icmp" ? 1 : client.nextEphemeral,
    dport: proto === "icmp" ? 0 : dport,
    len: FIRST[proto].len,
    tcpFlags: proto === "tcp" ? TCP_SYN : 0,
    icmpType: proto === "icmp" ? 8 : 0,
  });
  const request = net.send(client, first, traces.out);
  if (request.kind !== "delivered") return { sent: first, request };
  const server = request.kernel;
  const seen = request.packet;
  const listening = proto !== "icmp" && server.sockets.has(`${proto}:${seen.dport}`);
  let answer: ProbeAnswer;
  let back: Packet;
  const base = { src: seen.dst, dst: seen.src, proto: number, sport: seen.dport, dport: seen.sport };
  if (proto === "icmp") {
    answer = { kind: "reply", what: "ICMP echo reply" };
    back = packet({ ...base, sport: seen.sport, dport: 0, len: 84, icmpType: 0 });
  } else if (proto === "tcp") {
    answer = listening ? { kind: "reply", what: "TCP SYN-ACK" } : { kind: "reset", what: "TCP RST" };
    back = packet({
      ...base,
      len: listening ? 60 : 40,
      tcpFlags: listening ? TCP_SYN | TCP_ACK : TCP_RST | TCP_ACK,
    });
  } else if (proto === "sctp") {
    answer = listening ? { kind: "reply", what: "SCTP INIT-ACK" } : { kind: "reset", what: "SCTP ABORT" };
    back = packet({ ...base, len: listening ? 152 : 36 });
  } else {
    if (!listening) return { sent: first, request, answer: { kind: "port-unreachable" } };
    answer = { kind: "reply", what: "UDP reply" };
    back = packet({ ...base, len: 28 });
  }
  const reply = net.send(server, back, traces.back);
  return { sent: first, request, answer, reply };
}
