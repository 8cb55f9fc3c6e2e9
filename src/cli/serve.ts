/**
 * `tortie serve [--port N]`: the Kubernetes API for one state dir, in the foreground, until SIGTERM or SIGINT.
 * It also ends by itself when its state dir or its endpoint.json goes away (or names another process): a test
 * that removes its temporary state dir never leaves a server behind.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { readTopology } from "../control/index.ts";
import { escapeControl } from "../lib/index.ts";
import { ensureCredentials, kubeconfigText, type RunningApiServer, startApiServer } from "../server/index.ts";
import type { CliContext } from "./context.ts";
import {
  type EndpointRecord,
  endpointPath,
  kubeconfigPath,
  lastPortPath,
  liveEndpoint,
  processStartTime,
  readEndpoint,
  recordIsLive,
  removeEndpoint,
  serverDir,
  writeEndpoint,
  writeOwnerOnly,
} from "./serve-endpoint.ts";
import { createServeHost } from "./serve-host.ts";

/** How often the server checks that its state dir and its endpoint.json are still there and still its own. */
const WATCH_INTERVAL_MS = 1000;
/** After shutdown, how long anything left (a timer, a child) may keep the process alive. */
const EXIT_GRACE_MS = 2000;
/** How long a stopping server waits for the command it runs; below `down`'s wait before SIGKILL. */
const STOP_GRACE_MS = 4000;

/** `tortie kubeconfig`: the kubeconfig's path while a server runs for this state dir. */
export function runKubeconfig(ctx: CliContext, args: string[]): number {
  if (args.length > 0 && (args[0] === "--help" || args[0] === "-h")) {
    ctx.out(
      "Usage: tortie kubeconfig\n\nPrints the path of the kubeconfig for this state dir's API server:\n  export KUBECONFIG=$(tortie kubeconfig)\n",
    );
    return 0;
  }
  if (args.length > 0) {
    ctx.err(`error: unknown argument '${escapeControl(args[0]!)}' (usage: tortie kubeconfig)\n`);
    return 2;
  }
  const stateDir = ctx.stateDir!;
  if (!liveEndpoint(stateDir) || !existsSync(kubeconfigPath(stateDir))) {
    ctx.err(
      "error: no API server is running for this state dir; start one with 'tortie serve' or 'tortie up'\n",
    );
    return 1;
  }
  ctx.out(`${kubeconfigPath(stateDir)}\n`);
  return 0;
}

export async function runServe(ctx: CliContext, args: string[]): Promise<number> {
  let port: number | undefined;
  const program = new Command("tortie serve")
    .description(
      "serve the Kubernetes API for this state dir on 127.0.0.1 (HTTPS, bearer token) until stopped",
    )
    .option(
      "--port <n>",
      "the port to listen on (default: the last server's, when free; otherwise any free one)",
    )
    .action((o: { port?: string }) => {
      if (o.port === undefined) return;
      if (!/^\d+$/.test(o.port) || Number(o.port) < 1 || Number(o.port) > 65535)
        throw new CommanderError(2, "serve.port", `error: --port: not a port number: ${o.port}`);
      port = Number(o.port);
    })
    .exitOverride()
    .configureOutput({ writeOut: ctx.out, writeErr: (t) => ctx.err(t) });
  try {
    program.parse(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed") return 0;
      if (e.code === "serve.port") ctx.err(`${escapeControl(e.message)}\n`);
      return 2;
    }
    throw e;
  }
  return serve(ctx, port);
}

async function serve(ctx: CliContext, explicitPort: number | undefined): Promise<number> {
  const stateDir = ctx.stateDir!;
  const dir = serverDir(stateDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The mode applies only to a directory mkdir creates: one made by hand (or by an older tortie) is narrowed.
  chmodSync(dir, 0o700);
  const me: EndpointRecord = { pid: process.pid, start: processStartTime(process.pid), state: "starting" };
  const owner = claimEndpoint(stateDir, me);
  if (owner) {
    ctx.err(
      `error: an API server (pid ${owner.pid}) already serves this state dir${owner.url ? ` at ${owner.url}` : ""}\n`,
    );
    return 1;
  }
  const log = (t: string) => ctx.err(t);
  const host = createServeHost(stateDir, log);
  let server: RunningApiServer;
  try {
    const credentials = await ensureCredentials(dir);
    server = await listen(host, dir, explicitPort ?? rememberedPort(stateDir), explicitPort !== undefined);
    const topology = await readTopology(host.store).catch(() => undefined);
    writeOwnerOnly(
      kubeconfigPath(stateDir),
      kubeconfigText({
        url: server.url,
        caCertPem: credentials.caCertPem,
        token: credentials.token,
        clusterName: topology?.name ?? "tortie",
      }),
    );
    writeOwnerOnly(lastPortPath(stateDir), `${server.port}\n`);
    writeEndpoint(stateDir, {
      ...me,
      state: "listening",
      port: server.port,
      url: server.url,
      caCertPem: credentials.caCertPem,
      token: credentials.token,
    });
  } catch (e) {
    if (readEndpoint(stateDir)?.pid === process.pid) removeEndpoint(stateDir);
    ctx.err(`error: the API server did not start: ${escapeControl(oneLine(e))}\n`);
    return 1;
  }
  ctx.out(
    `tortie: serving the Kubernetes API at ${server.url} (export KUBECONFIG=${kubeconfigPath(stateDir)})\n`,
  );

  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string | undefined) => {
      if (stopping) return;
      stopping = true;
      clearInterval(watch);
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      if (why) ctx.err(`tortie: the API server stops: ${why}\n`);
      if (readEndpoint(stateDir)?.pid === process.pid) removeEndpoint(stateDir);
      // A command or settle that does not end in time does not keep the server from stopping (down's SIGKILL
      // would come next).
      setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
      // The queued commands and settles finish first (their clients get their output and exit codes); then the
      // port is closed with every open connection (watches included).
      host
        .idle()
        .then(() => server.close())
        .catch((e: unknown) => ctx.err(`tortie: closing the API server: ${escapeControl(oneLine(e))}\n`))
        .finally(() => resolve(0));
    };
    const onSignal = () => stop(undefined);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    const watch = setInterval(() => {
      if (!existsSync(stateDir)) stop("its state dir is gone");
      else if (readEndpoint(stateDir)?.pid !== process.pid)
        stop(`${endpointPath(stateDir)} no longer names this process`);
    }, WATCH_INTERVAL_MS);
  });
  // Keep-alive connections or a watch a client left open must not keep a stopped server's process alive.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

/**
 * Takes endpoint.json for this process (created exclusively, so two servers starting at once cannot both win).
 * Returns the live record of another server that owns it, or undefined once this process owns it.
 */
function claimEndpoint(stateDir: string, me: EndpointRecord): EndpointRecord | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(endpointPath(stateDir), `${JSON.stringify(me)}\n`, { mode: 0o600, flag: "wx" });
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const other = readEndpoint(stateDir);
    if (other && other.pid !== process.pid && recordIsLive(other)) return other;
    // A server that died without cleaning up (SIGKILL, a crash) left it: it is nobody's.
    removeEndpoint(stateDir);
  }
  throw new Error(`cannot claim ${endpointPath(stateDir)}: other processes keep replacing it`);
}

function rememberedPort(stateDir: string): number | undefined {
  try {
    const port = Number(readFileSync(lastPortPath(stateDir), "utf8").trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

/** Listens on `port`; a remembered port another process took since is given up for any free one. */
async function listen(
  host: Parameters<typeof startApiServer>[0]["host"],
  dir: string,
  port: number | undefined,
  explicit: boolean,
): Promise<RunningApiServer> {
  try {
    return await startApiServer({ host, dir, ...(port === undefined ? {} : { port }) });
  } catch (e) {
    if (explicit || port === undefined || (e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
    return startApiServer({ host, dir, port: 0 });
  }
}

function oneLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).replace(/\s*\n\s*/g, " ");
}
