/**
 * `up` starting `tortie serve` in the background and `down` stopping it. Starting a process is the process
 * context's capability (CliContext.startServer, set by makeContext): commands run in-process with a context of
 * their own (the tests) start none.
 */
import { spawn } from "node:child_process";
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { TortieError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import {
  type EndpointRecord,
  kubeconfigPath,
  liveEndpoint,
  readEndpoint,
  recordIsLive,
  removeEndpoint,
  serveLogPath,
  serverDir,
} from "./serve-endpoint.ts";

/** How long `up` waits for a server it started to listen (it generates its CA and key the first time). */
const START_TIMEOUT_MS = 30_000;
/** How long `down` waits for a server to stop after SIGTERM before it sends SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The line `up` prints about the API server. */
function serverLine(stateDir: string, record: EndpointRecord): string {
  return `API server: ${record.url} (export KUBECONFIG=${kubeconfigPath(stateDir)})\n`;
}

/**
 * Starts `tortie serve` for the state dir, detached, with its output in `<stateDir>/server/serve.log`, and waits
 * until it listens. A server already running is kept. TORTIE_NO_SERVER=1 starts none.
 */
export async function startServerInBackground(ctx: CliContext, stateDir: string): Promise<void> {
  if (process.env.TORTIE_NO_SERVER === "1") return;
  const running = liveEndpoint(stateDir);
  if (running) {
    ctx.out(serverLine(stateDir, running));
    return;
  }
  const bin = process.argv[1];
  if (!bin) throw new TortieError("Internal", "cannot start the API server: this process has no script path");
  mkdirSync(serverDir(stateDir), { recursive: true, mode: 0o700 });
  const logFd = openSync(serveLogPath(stateDir), "a", 0o600);
  // open's mode applies only to a log it creates: one left readable by others is narrowed (it logs requests).
  fchmodSync(logFd, 0o600);
  let exited: number | null | undefined;
  try {
    const child = spawn(process.execPath, [...process.execArgv, bin, "--state-dir", stateDir, "serve"], {
      detached: true,
      // Not the caller's directory, which may be removed while the server runs.
      cwd: "/",
      stdio: ["ignore", logFd, logFd],
      env: process.env,
    });
    child.on("exit", (code) => {
      exited = code;
    });
    child.unref();
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const record = readEndpoint(stateDir);
      if (record?.state === "listening" && recordIsLive(record)) {
        ctx.out(serverLine(stateDir, record));
        return;
      }
      if (exited !== undefined) break;
      await sleep(POLL_MS);
    }
  } finally {
    closeSync(logFd);
  }
  ctx.err(
    `warning: the API server did not start${exited !== undefined ? ` (exit ${exited})` : ""}; see ${serveLogPath(stateDir)}\n`,
  );
}

/** Stops the state dir's server, if one runs: SIGTERM, then SIGKILL if it has not exited in time. */
export async function stopServer(stateDir: string): Promise<void> {
  const record = readEndpoint(stateDir);
  if (!record || record.pid === process.pid || !recordIsLive(record)) return;
  try {
    process.kill(record.pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!recordIsLive(record)) return;
    await sleep(POLL_MS);
  }
  try {
    process.kill(record.pid, "SIGKILL");
  } catch {}
  while (recordIsLive(record)) await sleep(POLL_MS);
  // Killed, it could not remove its endpoint.json.
  if (readEndpoint(stateDir)?.pid === record.pid) removeEndpoint(stateDir);
}
