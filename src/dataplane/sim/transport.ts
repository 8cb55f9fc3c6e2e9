import { mix32 } from "./hash.ts";
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
import { advertisedMss, TcpConversation } from "./tcp-segments.ts";
import { payloadLength } from "./wire.ts";

export type ConnectError = "refused" | "timeout" | "host-unreachable" | "network-unreachable";

export type ExchangeResult =
  | {
      ok: true;
      response: string;
      elapsedMs: number;
      /** The reply's TTL as it arrived (ping). */
      ttl?: number;
    }
  | {
      ok: false;
      error: ConnectError;
      elapsedMs: number;
      /** For a refusal that came back: who sent it and how (`--reject-with` names, `tcp-reset`). */
      from?: number;
      refusedWith?: string;
    };

/** Linux retransmits an unanswered SYN after 1, 3, 7, 15, 31 and 63 s and gives up at 127 s. */
const SYN_SENDS_MS = [0, 1000, 3000, 7000, 15000, 31000, 63000];
const SYN_GIVE_UP_MS = 127000;
const IP_TCP_HEADERS = 52;

/** A packet with every field not given zero (sim/probe.ts and sctp.ts build theirs with it too). */
export function packet(fields: Partial<Packet> & Pick<Packet, "src" | "dst" | "proto">): Packet {
  return { sport: 0, dport: 0, len: 0, mark: 0, tcpFlags: 0, icmpType: 0, icmpCode: 0, ...fields };
}

/** The next local port of net.ipv4.ip_local_port_range (32768–60999), taken. */
export function ephemeralPort(kernel: Kernel): number {
  const port = kernel.nextEphemeral;
  kernel.nextEphemeral = port >= 60999 ? 32768 : port + 1;
  return port;
}

function refusal(d: Delivery): { from?: number; refusedWith?: string } {
  return d.kind === "rejected" && d.from !== undefined ? { from: d.from, refusedWith: d.with } : {};
}

/** The connect error a process sees for a packet that was not delivered (undefined: it was lost). */
export function failure(d: Exclude<Delivery, { kind: "delivered" }>): ConnectError | undefined {
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
  options: { connectTimeoutMs?: number; trace?: Trace; connectOnly?: boolean } = {},
): ExchangeResult {
  const start = net.now;
  const limit = options.connectTimeoutMs ?? SYN_GIVE_UP_MS;
  const sport = ephemeralPort(client);
  let src = 0;
  let arrived: Extract<Delivery, { kind: "delivered" }> | undefined;
  const conv = new TcpConversation(net, { src: client.sourceFor("", dst) ?? 0, dst, sport, dport });
  const clientMss = advertisedMss(client, dst);
  for (const at of SYN_SENDS_MS) {
    if (at >= limit) break;
    net.now = start + at;
    const syn = packet({
      src,
      dst,
      proto: TCP,
      sport,
      dport,
      len: 60,
      tcpFlags: TCP_SYN,
      ...conv.fields("client", TCP_SYN, 60, clientMss),
    });
    const d = net.send(client, syn, at === 0 ? options.trace : undefined);
    src = syn.src;
    if (d.kind === "delivered") {
      arrived = d;
      break;
    }
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: net.now - start, ...refusal(d) };
  }
  if (!arrived) {
    net.now = start + limit;
    return { ok: false, error: "timeout", elapsedMs: limit };
  }
  const server = arrived.kernel;
  const seen = arrived.packet;
  const socket = server.sockets.get(`tcp:${seen.dport}`);
  const serverMss = advertisedMss(server, seen.src);
  const back = (flags: number, len: number, text?: string) =>
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
        ...conv.fields("server", flags, len, serverMss, text),
      }),
      options.trace,
    );
  const forth = (flags: number, len: number, text?: string) =>
    net.send(
      client,
      packet({
        src,
        dst,
        proto: TCP,
        sport,
        dport,
        len,
        tcpFlags: flags,
        ...conv.fields("client", flags, len, clientMss, text),
      }),
      options.trace,
    );
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
  if (options.connectOnly) {
    // `nc -z`: connect, then close without sending anything.
    forth(TCP_FIN | TCP_ACK, IP_TCP_HEADERS);
    back(TCP_FIN | TCP_ACK, IP_TCP_HEADERS);
    forth(TCP_ACK, IP_TCP_HEADERS);
    net.now += 1;
    return { ok: true, response: "", elapsedMs: net.now - start };
  }
  const request = forth(TCP_PSH | TCP_ACK, IP_TCP_HEADERS + payloadLength(payload), payload);
  if (request.kind !== "delivered") return { ok: false, error: "timeout", elapsedMs: net.now - start };
  const response =
    socket.handle({ src: seen.src, sport: seen.sport, dst: seen.dst, dport: seen.dport, payload }) ?? "";
  back(TCP_PSH | TCP_ACK, IP_TCP_HEADERS + payloadLength(response), response);
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
  const len = 28 + payloadLength(payload);
  const ip = (salt: number) => ({ ttl: 64, df: true, ipId: mix32(salt, net.now, sport, dst) & 0xffff });
  const out = packet({ src: 0, dst, proto: UDP, sport, dport, len, payload, ...ip(1) });
  const d = net.send(client, out, options.trace);
  const timeout = options.timeoutMs ?? 5000;
  if (d.kind !== "delivered") {
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: 0, ...refusal(d) };
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
  const seen = d.packet;
  const socket = d.kernel.sockets.get(`udp:${seen.dport}`);
  if (!socket) {
    // No socket: the kernel answers with an ICMP port unreachable, which must find its way back.
    const answer = net.answerRefused(d.kernel, seen, "icmp-port-unreachable", client);
    if (answer.kind === "rejected") return { ok: false, error: "refused", elapsedMs: 0, ...refusal(answer) };
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
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
      len: 28 + payloadLength(response),
      payload: response,
      ...ip(2),
    }),
  );
  if (reply.kind !== "delivered") {
    net.now = start + timeout;
    return { ok: false, error: "timeout", elapsedMs: timeout };
  }
  net.now += 1;
  return { ok: true, response, elapsedMs: net.now - start };
}

/** An ICMP echo request and the kernel's echo reply (`seq` is the echo's sequence number). */
export function ping(
  net: Network,
  client: Kernel,
  dst: number,
  id: number,
  trace?: Trace,
  seq?: number,
): ExchangeResult {
  const start = net.now;
  const ip = (salt: number) => ({ ttl: 64, ipId: mix32(salt, net.now, id, dst) & 0xffff });
  const req = packet({
    src: 0,
    dst,
    proto: ICMP,
    sport: id,
    len: 84,
    icmpType: 8,
    icmpSeq: seq,
    df: true,
    ...ip(1),
  });
  const d = net.send(client, req, trace);
  if (d.kind !== "delivered") {
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: 0, ...refusal(d) };
    return { ok: false, error: "timeout", elapsedMs: 1000 };
  }
  const seen = d.packet;
  const reply = net.send(
    d.kernel,
    packet({
      src: seen.dst,
      dst: seen.src,
      proto: ICMP,
      sport: seen.sport,
      len: 84,
      icmpType: 0,
      icmpSeq: seen.icmpSeq,
      ...ip(2),
    }),
  );
  if (reply.kind !== "delivered") return { ok: false, error: "timeout", elapsedMs: 1000 };
  net.now += 1;
  return { ok: true, response: "", elapsedMs: net.now - start, ttl: reply.packet.ttl };
}
