import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import {
  ensureCredentials,
  type RunningApiServer,
  type ServerHost,
  startApiServer,
} from "../../src/server/index.ts";
import { MemoryBackend, ResourceClient } from "../../src/store/index.ts";

/** A host over a memory store whose afterWrite resolves at once (it counts the calls). */
export function memoryHost(): ServerHost & { writes: number } {
  const store = new ResourceClient(new MemoryBackend(), { now: () => new Date("2026-01-01T12:00:00Z") });
  const host = {
    store,
    writes: 0,
    now: () => new Date("2026-01-01T12:00:00Z"),
    afterWrite: async () => {
      host.writes++;
    },
    podLogs: async () => "",
    execInPod: async () => 0,
    commandRefusal: () => undefined,
    runCommand: async () => 0,
  };
  return host;
}

export interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are arbitrary JSON
  json: () => any;
}

export interface WatchStream {
  // biome-ignore lint/suspicious/noExplicitAny: events are arbitrary JSON
  lines: any[];
  close(): void;
  ended: Promise<void>;
}

export interface TestServer {
  host: ServerHost & { writes: number };
  server: RunningApiServer;
  dir: string;
  token: string;
  caCertPem: string;
  call(
    method: string,
    path: string,
    o?: { body?: unknown; headers?: Record<string, string>; token?: string | null },
  ): Promise<Reply>;
  /** Opens a streaming request; `lines` fills as newline-delimited JSON arrives. */
  stream(path: string, headers?: Record<string, string>): Promise<WatchStream>;
}

/** Starts the server on a memory host with credentials in a temp dir; everything is undone after the test. */
export async function startTestServer(
  t: TestContext,
  o: { bookmarkIntervalMs?: number } = {},
): Promise<TestServer> {
  const root = mkdtempSync(join(tmpdir(), "tortie-server-"));
  const dir = join(root, "server");
  const host = memoryHost();
  await host.store.ensureBuiltIns();
  const server = await startApiServer({ host, dir, bookmarkIntervalMs: o.bookmarkIntervalMs });
  t.after(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });
  const { token, caCertPem } = await ensureCredentials(dir);
  const options = (method: string, path: string, headers: Record<string, string>, auth: string | null) => ({
    method,
    host: "127.0.0.1",
    port: server.port,
    path,
    ca: caCertPem,
    headers: { ...(auth === null ? {} : { authorization: `Bearer ${auth}` }), ...headers },
  });
  return {
    host,
    server,
    dir,
    token,
    caCertPem,
    call(method, path, c = {}) {
      const body =
        c.body === undefined ? undefined : typeof c.body === "string" ? c.body : JSON.stringify(c.body);
      const headers = { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...c.headers };
      return new Promise<Reply>((resolve, reject) => {
        const req = httpsRequest(
          options(method, path, headers, c.token === undefined ? token : c.token),
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (d: Buffer) => chunks.push(d));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text,
                json: () => JSON.parse(text),
              });
            });
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    },
    stream(path, headers = {}) {
      return new Promise((resolve, reject) => {
        // biome-ignore lint/suspicious/noExplicitAny: events are arbitrary JSON
        const lines: any[] = [];
        let endedResolve!: () => void;
        const ended = new Promise<void>((r) => {
          endedResolve = r;
        });
        const req = httpsRequest(options("GET", path, headers, token), (res) => {
          let buffered = "";
          res.on("data", (d: Buffer) => {
            buffered += d.toString("utf8");
            let nl = buffered.indexOf("\n");
            while (nl !== -1) {
              lines.push(JSON.parse(buffered.slice(0, nl)));
              buffered = buffered.slice(nl + 1);
              nl = buffered.indexOf("\n");
            }
          });
          res.on("end", endedResolve);
          res.on("close", endedResolve);
          resolve({ lines, close: () => req.destroy(), ended });
        });
        req.on("error", (e) => {
          endedResolve();
          reject(e);
        });
        req.end();
      });
    },
  };
}

/** Polls until `check` holds (watch delivery is asynchronous); fails after many tries, never on timing alone. */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}
