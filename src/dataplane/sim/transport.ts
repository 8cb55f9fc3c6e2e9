import type { Kernel } from "./kernel.ts";
import {
  ICMP,
  type Packet,
  TCP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  UDP,
} from "./netfilter/index.ts";
import type { Delivery, Network, Trace } from "./network.ts";

export type ConnectError = "refused" | "timeout" | "host-unreachable" | "network-unreachable";

export type ExchangeResult =
  | { ok: true; response: string; elapsedMs: number }
  | { ok: false; error: ConnectError; elapsedMs: number };

/** Linux retransmits an unanswered SYN after 1, 3, 7, 15, 31 and 63 s and gives up at 127 s. */
const SYN_SENDS_MS = [0, 1000, 3000, 7000, 15000, 31000, 63000];
const SYN_GIVE_UP_MS = 127000;
const IP_TCP_HEADERS = 52;

function packet(fields: Partial<Packet> & Pick<Packet, "src" | "dst" | "proto">): Packet {
  return { sport: 0, dport: 0, len: 0, mark: 0, tcpFlags: 0, icmpType: 0, icmpCode: 0, ...fields };
}

function ephemeralPort(kernel: Kernel): number {
  const port = kernel.nextEphemeral;
  kernel.nextEphemeral = port >= 60999 ? 32768 : port + 1;
  return port;
}

function failure(d: Exclude<Delivery, { kind: "delivered" }>): ConnectError | undefined {
  if (d.kind === "unreachable") return d.reason === "network" ? "network-unreachable" : "host-unreachable";
  if (d.kind === "rejected")
    return d.with === "icmp-host-unreachable" || d.with === "icmp-net-unreachable"
      ? "host-unreachable"
      : "refused";
  return undefined;
}

/**
 * One TCP connection carrying one request and its response: the handshake, the data, and the FIN exchange,
 * every segment through netfilter and conntrack on every namespace it crosses.
 */
export function tcpExchange(
  net: Network,
  client: Kernel,
  dst: number,
  dport: number,
  payload: string,
  options: { connectTimeoutMs?: number; trace?: Trace } = {},
): ExchangeResult {
  const start = net.now;
  const limit = options.connectTimeoutMs ?? SYN_GIVE_UP_MS;
  const sport = ephemeralPort(client);
  let src = 0;
  let arrived: Extract<Delivery, { kind: "delivered" }> | undefined;
  for (const at of SYN_SENDS_MS) {
    if (at >= limit) break;
    net.now = start + at;
    const syn = packet({ src, dst, proto: TCP, sport, dport, len: 60, tcpFlags: TCP_SYN });
    const d = net.send(client, syn, at === 0 ? options.trace : undefined);
    src = syn.src;
    if (d.kind === "delivered") {
      arrived = d;
      break;
    }
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: net.now - start };
  }
  if (!arrived) {
    net.now = start + limit;
    return { ok: false, error: "timeout", elapsedMs: limit };
  }
  const server = arrived.kernel;
  const seen = arrived.packet;
  const socket = server.sockets.get(`tcp:${seen.dport}`);
  const back = (flags: number, len: number) =>
    net.send(
      server,
      packet({
        src: seen.dst,
        dst: seen.src,
        proto: TCP,
        sport: seen.dport,
        dport: seen.sport,
        len,
        tcpFlags: flags,
      }),
      options.trace,
    );
  const forth = (flags: number, len: number) =>
    net.send(client, packet({ src, dst, proto: TCP, sport, dport, len, tcpFlags: flags }), options.trace);
  if (!socket) {
    const rst = back(TCP_RST | TCP_ACK, 40);
    if (rst.kind === "delivered") return { ok: false, error: "refused", elapsedMs: net.now - start };
    net.now = start + limit;
    return { ok: false, error: "timeout", elapsedMs: limit };
  }
  const synAck = back(TCP_SYN | TCP_ACK, 60);
  if (synAck.kind !== "delivered") {
    net.now = start + limit;
    return { ok: false, error: "timeout", elapsedMs: limit };
  }
  forth(TCP_ACK, IP_TCP_HEADERS);
  const request = forth(TCP_PSH | TCP_ACK, IP_TCP_HEADERS + Buffer.byteLength(payload));
  if (request.kind !== "delivered") return { ok: false, error: "timeout", elapsedMs: net.now - start };
  const response =
    socket.handle({ src: seen.src, sport: seen.sport, dst: seen.dst, dport: seen.dport, payload }) ?? "";
  back(TCP_PSH | TCP_ACK, IP_TCP_HEADERS + Buffer.byteLength(response));
  forth(TCP_ACK, IP_TCP_HEADERS);
  forth(TCP_FIN | TCP_ACK, IP_TCP_HEADERS);
  back(TCP_FIN | TCP_ACK, IP_TCP_HEADERS);
  forth(TCP_ACK, IP_TCP_HEADERS);
  net.now += 1;
  return { ok: true, response, elapsedMs: net.now - start };
}

/** One UDP datagram and, if a socket answers, its reply. */
export function udpExchange(
  net: Network,
  client: Kernel,
  dst: number,
  dport: number,
  payload: string,
  options: { timeoutMs?: number; trace?: Trace } = {},
): ExchangeResult {
  const start = net.now;
  const sport = ephemeralPort(client);
  const len = 28 + Buffer.byteLength(payload);
  const out = packet({ src: 0, dst, proto: UDP, sport, dport, len });
  const d = net.send(client, out, options.trace);
  const timeout = options.timeoutMs ?? 5000;
  if (d.kind !== "delivered") {
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: 0 };
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
  const seen = d.packet;
  const socket = d.kernel.sockets.get(`udp:${seen.dport}`);
  if (!socket) return { ok: false, error: "refused", elapsedMs: 0 };
  const response = socket.handle({
    src: seen.src,
    sport: seen.sport,
    dst: seen.dst,
    dport: seen.dport,
    payload,
  });
  if (response === undefined) {
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
  const reply = net.send(
    d.kernel,
    packet({
      src: seen.dst,
      dst: seen.src,
      proto: UDP,
      sport: seen.dport,
      dport: seen.sport,
      len: 28 + Buffer.byteLength(response),
    }),
  );
  if (reply.kind !== "delivered") {
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
  net.now += 1;
  return { ok: true, response, elapsedMs: net.now - start };
}

/** An ICMP echo request and the kernel's echo reply. */
export function ping(net: Network, client: Kernel, dst: number, id: number, trace?: Trace): ExchangeResult {
  const start = net.now;
  const req = packet({ src: 0, dst, proto: ICMP, sport: id, len: 84, icmpType: 8 });
  const d = net.send(client, req, trace);
  if (d.kind !== "delivered") {
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: 0 };
    return { ok: false, error: "timeout", elapsedMs: 1000 };
  }
  const seen = d.packet;
  const reply = net.send(
    d.kernel,
    packet({ src: seen.dst, dst: seen.src, proto: ICMP, sport: seen.sport, len: 84, icmpType: 0 }),
  );
  if (reply.kind !== "delivered") return { ok: false, error: "timeout", elapsedMs: 1000 };
  net.now += 1;
  return { ok: true, response: "", elapsedMs: net.now - start };
}
