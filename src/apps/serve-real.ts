/**
 * The apps on real sockets: each AppListener behind a node:net TCP server or a node:dgram UDP socket bound to
 * 0.0.0.0 in the namespace the process runs in. The listener's handle() is the one the sim calls; this file only
 * frames requests out of the byte stream, as the sim's transport hands them over whole.
 *
 * - `http`: a request is complete at the end of its headers plus its Content-Length body (or its last chunk).
 *   Lines may end in CRLF or a bare LF (nginx accepts both). The sim's answers to HTTP/1.1 carry no
 *   `Connection` header, and its client closes first; so here the connection stays open for the next request
 *   until the client closes it (or 75 s idle, nginx's keepalive_timeout), unless the request asked to close
 *   (HTTP/1.0 without keep-alive, or `Connection: close`), the answer said `Connection: close`, or the answer is
 *   HTTP/1.0 (Go's TLS server's 400).
 * - `dns-tcp`: RFC 1035 §4.2.2 messages with their two-byte length prefix, which handle() expects included.
 * - `greeting`: the server speaks first (sshd's identification string), then closes when the client sends
 *   anything or closes.
 * UDP: one datagram in, the answer (if any) back to its sender.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import type { AppEnvironment, AppListener } from "./app.ts";
import { requestHeadEnd } from "./http.ts";

export type Framing = "http" | "dns-tcp" | "greeting";

/** A listener and how its TCP byte stream is cut into requests (UDP listeners ignore `framing`). */
export interface RealListener {
  listener: AppListener;
  framing: Framing;
}

/** nginx's keepalive_timeout: an idle kept-alive connection is closed after it. */
const IDLE_TIMEOUT_MS = 75_000;
/** A request that grows past this without completing is not one the apps answer: the connection is closed. */
const MAX_REQUEST_BYTES = 1024 * 1024;

const ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "address not available",
};

export class ListenError extends Error {
  constructor(
    readonly protocol: "tcp" | "udp",
    readonly port: number,
    cause: NodeJS.ErrnoException,
  ) {
    const why = cause.code ? ERRNO_TEXT[cause.code] : undefined;
    super(`cannot listen on ${protocol} port ${port}: ${why ? `${why} (${cause.code})` : cause.message}`);
  }
}

/** The client's address as the app logs it: IPv4 without the ::ffff: of a dual-stack socket. */
export function clientAddress(address: string | undefined): string {
  return (address ?? "").replace(/^::ffff:/, "");
}

/**
 * The byte length of the first complete HTTP request at the start of `buf`, or undefined if it is not whole yet.
 * Its lines may end in CRLF or a bare LF, as nginx accepts them.
 */
export function httpRequestLength(buf: Buffer): number | undefined {
  const text = buf.toString("latin1");
  const end = requestHeadEnd(text);
  if (!end) return undefined;
  const head = text.slice(0, end.head);
  if (/^transfer-encoding:.*chunked/im.test(head)) {
    const last = /\r?\n0\r?\n\r?\n/.exec(text.slice(end.body - 2));
    return last ? end.body - 2 + last.index + last[0].length : undefined;
  }
  const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
  const total = end.body + (length ? Number(length[1]) : 0);
  return buf.length >= total ? total : undefined;
}

/** Whether the connection ends after this exchange (HTTP/1.0 answers, or either side said `Connection: close`). */
function closesAfter(request: string, response: string): boolean {
  const responseHead = response.slice(0, Math.max(0, response.indexOf("\r\n\r\n")));
  if (response.startsWith("HTTP/1.0")) return true;
  if (/^connection:\s*close/im.test(responseHead)) return true;
  const requestHead = request.slice(0, requestHeadEnd(request)?.head ?? 0);
  if (/^connection:\s*close/im.test(requestHead)) return true;
  return /^[A-Z]+ \S+ HTTP\/1\.0\r?\n/.test(request) && !/^connection:\s*keep-alive/im.test(requestHead);
}

/**
 * The answer to a HEAD request carries the headers only (RFC 9110 §9.3.2; nginx keeps Content-Length): the apps
 * answer HEAD as GET, and a body here would be read as the next answer on a kept-alive connection.
 */
export function withoutHeadBody(request: string, response: string): string {
  if (!request.startsWith("HEAD ")) return response;
  const headEnd = response.indexOf("\r\n\r\n");
  return headEnd < 0 ? response : response.slice(0, headEnd + 4);
}

/** What a served listener may report: a handler that threw, a connection error. */
export type ServeWarn = (line: string) => void;

function answer(
  l: AppListener,
  socket: { remoteAddress?: string | undefined; remotePort?: number | undefined },
  payload: string,
  env: AppEnvironment,
  warn: ServeWarn,
): string | undefined {
  try {
    return l.handle(
      { clientIp: clientAddress(socket.remoteAddress), clientPort: socket.remotePort ?? 0, payload },
      env,
    );
  } catch (e) {
    warn(`${l.protocol}/${l.port}: the app failed on a request: ${(e as Error).message}`);
    return undefined;
  }
}

function serveConnection(socket: Socket, real: RealListener, env: AppEnvironment, warn: ServeWarn): void {
  const l = real.listener;
  let buf: Buffer = Buffer.alloc(0);
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  if (real.framing === "greeting") {
    const greeting = answer(l, socket, "", env, warn);
    if (greeting !== undefined) socket.write(greeting, "utf8");
    socket.on("data", () => socket.end());
    socket.on("end", () => socket.end());
    return;
  }
  socket.on("end", () => socket.end());
  socket.on("data", (chunk: Buffer) => {
    // After an answer that ends the connection, what the client still sends is not read.
    if (socket.writableEnded) return;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (!socket.destroyed && !socket.writableEnded && buf.length) {
      if (real.framing === "dns-tcp") {
        if (buf.length < 2) return;
        const total = 2 + buf.readUInt16BE(0);
        if (buf.length < total) return;
        const reply = answer(l, socket, buf.subarray(0, total).toString("latin1"), env, warn);
        buf = buf.subarray(total);
        // CoreDNS closes a TCP connection whose message it cannot parse.
        if (reply === undefined) return void socket.end();
        socket.write(Buffer.from(reply, "latin1"));
        continue;
      }
      const total = httpRequestLength(buf);
      if (total === undefined) {
        if (buf.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      const request = buf.subarray(0, total).toString("utf8");
      buf = buf.subarray(total);
      const reply = answer(l, socket, request, env, warn);
      if (reply === undefined) return void socket.end();
      socket.write(withoutHeadBody(request, reply), "utf8");
      if (closesAfter(request, reply)) return void socket.end();
    }
  });
}

function listenTcp(real: RealListener, env: AppEnvironment, warn: ServeWarn): Promise<Server> {
  const server = createServer((socket) => serveConnection(socket, real, env, warn));
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new ListenError("tcp", real.listener.port, e)));
    server.listen({ host: "0.0.0.0", port: real.listener.port }, () => {
      server.removeAllListeners("error");
      server.on("error", (e) => warn(`tcp/${real.listener.port}: ${e.message}`));
      resolve(server);
    });
  });
}

function listenUdp(l: AppListener, env: AppEnvironment, warn: ServeWarn): Promise<UdpSocket> {
  const socket = createSocket("udp4");
  socket.on("message", (msg, rinfo) => {
    const reply = answer(
      l,
      { remoteAddress: rinfo.address, remotePort: rinfo.port },
      msg.toString("latin1"),
      env,
      warn,
    );
    if (reply !== undefined) socket.send(Buffer.from(reply, "latin1"), rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", (e: NodeJS.ErrnoException) => reject(new ListenError("udp", l.port, e)));
    socket.bind({ address: "0.0.0.0", port: l.port }, () => {
      socket.removeAllListeners("error");
      socket.on("error", (e) => warn(`udp/${l.port}: ${e.message}`));
      resolve(socket);
    });
  });
}

/** Listening sockets that can be closed together. */
export interface RealServers {
  /** `tcp/80`, `udp/53`, … in the order given. */
  readonly bound: string[];
  close(): Promise<void>;
}

/**
 * Binds every listener, or none: on the first bind failure the others are closed and the ListenError (naming
 * the port) is thrown.
 */
export async function serveReal(
  listeners: RealListener[],
  env: AppEnvironment,
  warn: ServeWarn,
): Promise<RealServers> {
  const closers: (() => Promise<void>)[] = [];
  const bound: string[] = [];
  const close = async () => {
    await Promise.all(closers.map((c) => c()));
  };
  try {
    for (const real of listeners) {
      const l = real.listener;
      if (l.protocol === "tcp") {
        const server = await listenTcp(real, env, warn);
        const sockets = new Set<Socket>();
        server.on("connection", (s) => {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
        });
        closers.push(
          () =>
            new Promise((resolve) => {
              server.close(() => resolve());
              for (const s of sockets) s.destroy();
            }),
        );
      } else {
        const socket = await listenUdp(l, env, warn);
        closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
      }
      bound.push(`${l.protocol}/${l.port}`);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { bound, close };
}
