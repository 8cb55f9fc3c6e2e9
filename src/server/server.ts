import type { IncomingMessage } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { createAdaptorServer } from "@hono/node-server";
import { createApp } from "./app.ts";
import { hasValidToken, unauthorized } from "./auth.ts";
import { ensureCredentials } from "./credentials.ts";
import type { ServerHost } from "./host.ts";
import { hasDotSegment, parseResourcePath, rawPathname } from "./paths.ts";
import { execUpgradeHandler } from "./pod-exec.ts";
import { notFoundPath, type StatusError, statusBody, toStatusError } from "./status.ts";

export interface ApiServerOptions {
  host: ServerHost;
  /** `<stateDir>/server`: the CA, serving certificate, key and token (created once, owner-only). */
  dir: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** Loopback only, always; the option exists to say so at the call site. */
  listenHost?: "127.0.0.1";
  /** BOOKMARK interval of watches that allow them; the API server sends one about every minute. */
  bookmarkIntervalMs?: number;
}

export interface RunningApiServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

const LISTEN_HOST = "127.0.0.1";
const DEFAULT_BOOKMARK_INTERVAL_MS = 60_000;

/** An HTTP answer written straight to an upgrade request's socket (no response object exists there). */
function refuseUpgrade(socket: Duplex, e: StatusError): void {
  const body = JSON.stringify(statusBody(e));
  const reason = e.code === 401 ? "Unauthorized" : e.code === 404 ? "Not Found" : "Bad Request";
  socket.end(
    `HTTP/1.1 ${e.code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Serves the Kubernetes API over HTTPS on 127.0.0.1 (never another address) with the credentials in `dir`.
 * Resolves once it listens; `close()` ends open watches and connections and resolves when the port is free.
 */
export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  const credentials = ensureCredentials(options.dir);
  let port = 0;
  const openWatches = new Set<() => void>();
  const app = createApp({
    openWatches,
    host: options.host,
    token: credentials.token,
    serverAddress: () => `${LISTEN_HOST}:${port}`,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? DEFAULT_BOOKMARK_INTERVAL_MS,
  });
  const server = createAdaptorServer({
    fetch: app.fetch,
    createServer,
    serverOptions: { key: credentials.keyPem, cert: credentials.certPem },
  }) as ReturnType<typeof createServer>;

  const exec = execUpgradeHandler(options.host);
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    if (!hasValidToken(req.headers.authorization, credentials.token))
      return refuseUpgrade(socket, unauthorized());
    // The path as sent: the URL parser would resolve `%2E%2E` into another pod's (or no pod's) exec.
    const sent = rawPathname(req.url ?? "/");
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    let path: ReturnType<typeof parseResourcePath>;
    try {
      path = parseResourcePath(sent);
    } catch (e) {
      return refuseUpgrade(socket, toStatusError(e));
    }
    if (hasDotSegment(sent)) return refuseUpgrade(socket, notFoundPath());
    const isExec = path?.def.kind === "Pod" && path.def.group === "" && path.subresource === "exec";
    if (!path || !isExec || path.name === undefined) return refuseUpgrade(socket, notFoundPath());
    exec(req, socket, head, { namespace: path.namespace!, pod: path.name, query: url.searchParams });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, LISTEN_HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://${LISTEN_HOST}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const closeWatch of [...openWatches]) closeWatch();
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}
