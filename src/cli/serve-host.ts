/**
 * The ServerHost `tortie serve` gives the API server: the state dir's store opened once, and everything with
 * cluster semantics done by the CLI's own code — settling the controllers and programming the dataplane after a
 * write, a pod's logs, exec in a pod, and whole `tortie …` command lines forwarded by other processes.
 *
 * Everything that changes the cluster or the dataplane's saved state runs on one queue, one job at a time, as
 * separate tortie processes take the controllers' lock in turn: a forwarded command, the settle after API writes,
 * an exec. A burst of API writes costs one settle: a settle not yet started takes every write made before it.
 *
 * The settle after API writes is paced: it is queued as long after the write as the previous settle took
 * (SETTLE_GAP_MS at least, SETTLE_GAP_MAX_MS at most). A settle holds the event loop for most of its run (its
 * reads from the file store never wait for I/O), so requests are served in the gaps between settles; without
 * them, at 10k pods, each ~2.7 s settle let about one create through. A forwarded command, an exec or idle()
 * queues a waiting settle at once, so they still run on a settled cluster.
 */
import { escapeControl, TortieError } from "../lib/index.ts";
import type {
  CommandIO,
  ForwardedCommand,
  PodExecRequest,
  PodLogRequest,
  ServerHost,
} from "../server/index.ts";
import { type CliContext, cliClock, openClusterStore } from "./context.ts";
import { forwardable } from "./forward.ts";
import { readSimLogs } from "./sim-state-files.ts";
import { extractStateDir } from "./state-dir-flag.ts";

/** The least and the most time between an API write and the settle it waits for (see the header). */
const SETTLE_GAP_MS = 10;
const SETTLE_GAP_MAX_MS = 1000;

/** Environment variables of the client that describe the client process itself, not the command: never applied. */
const CLIENT_ONLY_ENV = new Set(["TORTIE_STATE_DIR", "TORTIE_BUILD", "TORTIE_NO_SERVER", "TORTIE_SOURCES"]);

export interface ServeHost extends ServerHost {
  /** Resolves once every queued job (forwarded commands, settles) has finished: shutdown waits for it. */
  idle(): Promise<void>;
}

export function createServeHost(stateDir: string, log: (line: string) => void): ServeHost {
  const now = cliClock();
  const store = openClusterStore(stateDir, now);
  let tail: Promise<unknown> = Promise.resolve();
  /** Runs `job` after every job queued before it; a failed job does not stop the queue. */
  const enqueue = <T>(job: () => Promise<T>): Promise<T> => {
    const run = tail.then(job, job);
    tail = run.catch(() => {});
    return run;
  };
  /** The settle queued but not yet started, which a further write joins instead of queueing another. */
  let pendingSettle: Promise<void> | undefined;
  /** The paced settle's timer while it waits to be queued, and how to queue it now. */
  let settleTimer: NodeJS.Timeout | undefined;
  let queueSettleNow: (() => void) | undefined;
  let lastSettleMs = 0;
  /** Queues a settle waiting for its pace at once: work queued after it then sees the cluster settled. */
  const flushSettle = () => queueSettleNow?.();

  /** A context for the host's own work (settles, logs): output goes to the server's log. */
  const hostContext = (): CliContext => ({
    out: (t) => log(t),
    err: (t) => log(t),
    now,
    stdin: () => "",
    store: () => store,
    stateDir,
  });

  const settle = async () => {
    pendingSettle = undefined;
    const cluster = await import("./cluster.ts");
    const linux = await import("./linux-sync.ts");
    const ctx = hostContext();
    const start = performance.now();
    try {
      await cluster.settleCluster(ctx);
    } catch (e) {
      log(`warning: the controllers have not settled yet (${oneLine(e)}); the next write retries\n`);
      return;
    } finally {
      lastSettleMs = performance.now() - start;
    }
    await linux.syncAfterWrite(ctx, performance.now() - start);
  };

  return {
    store,
    now,
    afterWrite() {
      pendingSettle ??= new Promise<void>((resolve, reject) => {
        queueSettleNow = () => {
          clearTimeout(settleTimer);
          settleTimer = undefined;
          queueSettleNow = undefined;
          enqueue(settle).then(resolve, reject);
        };
        const gap = Math.min(SETTLE_GAP_MAX_MS, Math.max(SETTLE_GAP_MS, lastSettleMs));
        settleTimer = setTimeout(queueSettleNow, gap);
      });
      return pendingSettle;
    },
    podLogs: (request) => podLogs(stateDir, hostContext(), request),
    // Stdin is gathered before the exec takes its turn: a client slow to send it (`sleep 25 | kubectl exec -i`)
    // must not hold the queue that every settle and forwarded command waits on. Gone meanwhile: 130, as Ctrl-C.
    execInPod: async (request, io) => {
      const stdin = request.stdin ? await io.stdin() : "";
      if (io.signal.aborted) return 130;
      flushSettle();
      return enqueue(() => execInPod(stateDir, store, request, io, stdin));
    },
    commandRefusal,
    runCommand: (request, io) => {
      flushSettle();
      return enqueue(() => runForwarded(stateDir, store, request, io));
    },
    idle: () => {
      flushSettle();
      return enqueue(async () => {});
    },
  };
}

/**
 * The server runs what a client forwards and nothing else: the same rule (forwardable) on both sides, so a
 * request made by hand cannot run `store backup FILE` or `internal serve-app` inside the server.
 */
function commandRefusal(argv: string[]): string | undefined {
  const { rest } = extractStateDir(argv);
  if (forwardable(rest)) return undefined;
  const shown = ["tortie", ...rest.slice(0, 2)].join(" ");
  return `the API server does not run "${escapeControl(shown)}${rest.length > 2 ? " …" : ""}": a tortie client runs it itself`;
}

function oneLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).replace(/\s*\n\s*/g, " ");
}

/**
 * `pods/log`: the lines `kubectl logs` prints, from the files the sim and the linux apps write. The pod and its
 * container were checked by the caller (server/pod-log.ts).
 */
async function podLogs(stateDir: string, ctx: CliContext, request: PodLogRequest): Promise<string> {
  // A log line carries no time of its own, and a container is never restarted with its log kept.
  if (request.timestamps) throw new TortieError("Usage", "not supported yet: timestamps");
  if (request.sinceSeconds !== undefined) throw new TortieError("Usage", "not supported yet: sinceSeconds");
  if (request.previous)
    throw new TortieError(
      "Usage",
      `previous terminated container "${request.container ?? ""}" in pod "${request.pod}" not found`,
    );
  const lines = readSimLogs(stateDir, ctx)[`${request.namespace}/${request.pod}`] ?? [];
  const shown =
    request.tailLines === undefined ? lines : request.tailLines === 0 ? [] : lines.slice(-request.tailLines);
  return shown.map((l) => `${l}\n`).join("");
}

/** A CliContext whose output is the transport's, for a command run on behalf of a client. */
function commandContext(
  stateDir: string,
  store: ReturnType<typeof openClusterStore>,
  io: CommandIO,
  stdin: string,
  now: () => Date,
): CliContext {
  return {
    out: (t) => io.stdout(t),
    err: (t) => io.stderr(t),
    now,
    stdin: () => stdin,
    store: () => store,
    signal: io.signal,
    stateDir,
  };
}

/** `pods/exec`: what `tortie exec NS/POD -- COMMAND` runs, on the sim or the linux dataplane, with its stdin read. */
async function execInPod(
  stateDir: string,
  store: ReturnType<typeof openClusterStore>,
  request: PodExecRequest,
  io: CommandIO,
  stdin: string,
): Promise<number> {
  const { execCommand } = await import("./shell.ts");
  const { CommandExit } = await import("./command-exit.ts");
  const ctx = commandContext(stateDir, store, io, stdin, cliClock());
  try {
    return await execCommand(ctx, `${request.namespace}/${request.pod}`, request.command);
  } catch (e) {
    if (e instanceof CommandExit) return e.code;
    throw e;
  }
}

/**
 * A forwarded command line, run as the client would have run it: its working directory (relative `-f` paths),
 * its TORTIE_* variables (TORTIE_NOW pins the clock), its standard input. The working directory and the
 * environment are the process's own, so they are set around the command and put back after it; the queue runs
 * one job at a time, so no other command sees them.
 */
async function runForwarded(
  stateDir: string,
  store: ReturnType<typeof openClusterStore>,
  request: ForwardedCommand,
  io: CommandIO,
): Promise<number> {
  const { runCli } = await import("./main.ts");
  const stdin = await io.stdin();
  const savedCwd = process.cwd();
  const savedEnv = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(request.env)) {
    if (CLIENT_ONLY_ENV.has(k) || !k.startsWith("TORTIE_")) continue;
    savedEnv.set(k, process.env[k]);
    process.env[k] = v;
  }
  const unset = Object.keys(process.env).filter(
    (k) => k.startsWith("TORTIE_") && !CLIENT_ONLY_ENV.has(k) && !(k in request.env),
  );
  for (const k of unset) {
    savedEnv.set(k, process.env[k]);
    delete process.env[k];
  }
  try {
    process.chdir(request.cwd);
  } catch (e) {
    io.stderr(`error: cannot run in ${request.cwd}: ${(e as Error).message}\n`);
    restoreEnv(savedEnv);
    return 1;
  }
  try {
    let now: () => Date;
    try {
      now = cliClock();
    } catch (e) {
      io.stderr(`error: ${(e as Error).message}\n`);
      return 2;
    }
    return await runCli(request.argv, commandContext(stateDir, store, io, stdin, now));
  } finally {
    restoreCwd(savedCwd);
    restoreEnv(savedEnv);
  }
}

/** Back to the server's own working directory, or to / when it was removed meanwhile. */
function restoreCwd(dir: string): void {
  try {
    process.chdir(dir);
  } catch {
    process.chdir("/");
  }
}

function restoreEnv(saved: Map<string, string | undefined>): void {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}
