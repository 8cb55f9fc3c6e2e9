/**
 * The API server's entry points that need its libraries, loaded on first use: server.ts brings hono,
 * @hono/node-server and ws, credentials.ts node-forge (together ~100 ms of a process's start, measured).
 * `tortie kubectl` imports this folder for its tables (table.ts) and must not pay for them; they load when a
 * server starts or its credentials are made.
 */
import type { ServerCredentials } from "./credentials.ts";
import type { ApiServerOptions, RunningApiServer } from "./server.ts";

/** Starts the API server (server.ts). */
export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  return (await import("./server.ts")).startApiServer(options);
}

/** The server's CA, serving certificate, key and token in `dir`, created on first use (credentials.ts). */
export async function ensureCredentials(dir: string): Promise<ServerCredentials> {
  return (await import("./credentials.ts")).ensureCredentials(dir);
}
