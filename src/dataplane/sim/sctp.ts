import type { Kernel } from "./kernel.ts";
import { type Packet, SCTP } from "./netfilter/index.ts";
import type { Delivery, Network } from "./network.ts";
import { type ExchangeResult, ephemeralPort, failure, packet } from "./transport.ts";

/** SCTP chunk lengths (IP 20 + common header 12 + chunk), as the kernel's first association packets carry. */
const INIT_LEN = 20 + 12 + 20;
const CONTROL_LEN = 20 + 12 + 4;
const COOKIE_LEN = 20 + 12 + 4 + 100;
const DATA_LEN = 20 + 12 + 16;
/** Linux retransmits an unanswered INIT after rto_initial (3 s), doubling; max_init_retransmits is 8. */
const INIT_SENDS_MS = [0, 3000, 9000, 21000, 45000];

function sctpPacket(src: number, dst: number, sport: number, dport: number, len: number): Packet {
  return packet({ src, dst, proto: SCTP, sport, dport, len });
}

/**
 * One SCTP association carrying one message and its reply: INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK, DATA each
 * way, then SHUTDOWN, SHUTDOWN-ACK, SHUTDOWN-COMPLETE. Every packet crosses netfilter and conntrack on every
 * namespace it passes (conntrack keeps SCTP as a generic protocol: NEW, then ESTABLISHED once answered). Chunks
 * are not modelled beyond their sizes; a closed port answers the INIT with an ABORT.
 */
export function sctpExchange(
  net: Network,
  client: Kernel,
  dst: number,
  dport: number,
  payload: string,
  options: { connectTimeoutMs?: number } = {},
): ExchangeResult {
  const start = net.now;
  const limit = options.connectTimeoutMs ?? 93000;
  const sport = ephemeralPort(client);
  let src = 0;
  let arrived: Extract<Delivery, { kind: "delivered" }> | undefined;
  for (const at of INIT_SENDS_MS) {
    if (at >= limit) break;
    net.now = start + at;
    const init = sctpPacket(src, dst, sport, dport, INIT_LEN);
    const d = net.send(client, init);
    src = init.src;
    if (d.kind === "delivered") {
      arrived = d;
      break;
    }
    const err = failure(d);
    if (err) return { ok: false, error: err, elapsedMs: net.now - start };
  }
  const timeout = (): ExchangeResult => {
    net.now = start + limit;
    return { ok: false, error: "timeout", elapsedMs: limit };
  };
  if (!arrived) return timeout();
  const server = arrived.kernel;
  const seen = arrived.packet;
  const back = (len: number) => net.send(server, sctpPacket(seen.dst, seen.src, seen.dport, seen.sport, len));
  const forth = (len: number) => net.send(client, sctpPacket(src, dst, sport, dport, len));
  const socket = server.sockets.get(`sctp:${seen.dport}`);
  if (!socket) {
    const abort = back(CONTROL_LEN);
    return abort.kind === "delivered"
      ? { ok: false, error: "refused", elapsedMs: net.now - start }
      : timeout();
  }
  if (back(INIT_LEN + 100).kind !== "delivered") return timeout();
  if (forth(COOKIE_LEN).kind !== "delivered") return timeout();
  if (back(CONTROL_LEN).kind !== "delivered") return timeout();
  const request = forth(DATA_LEN + Buffer.byteLength(payload));
  if (request.kind !== "delivered") return timeout();
  const response =
    socket.handle({ src: seen.src, sport: seen.sport, dst: seen.dst, dport: seen.dport, payload }) ?? "";
  back(DATA_LEN + Buffer.byteLength(response));
  forth(CONTROL_LEN);
  back(CONTROL_LEN);
  forth(CONTROL_LEN);
  net.now += 1;
  return { ok: true, response, elapsedMs: net.now - start };
}
