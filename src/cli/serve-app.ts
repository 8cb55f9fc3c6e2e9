/**
 * `tortie internal serve-app --image IMAGE [--role ROLE] [--log FILE] [--zone FILE]`: one app as a real process,
 * which the linux dataplane starts inside a pod's (or host's) network namespace with `ip netns exec`. Hidden from
 * help: it is tortie's own plumbing, not a user command.
 *
 * The app is the sim's (the same AppListener code); the sockets are real, its outgoing requests are the real
 * curl in the same namespace, its log lines go to the file `kubectl logs` reads (rotated as the sim rotates it),
 * and its clock is the wall clock. It runs until SIGTERM or SIGINT, then exits 0; a port it cannot bind is one
 * line on stderr and exit 1.
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  type AppEnvironment,
  curlFetch,
  ListenError,
  type RealServers,
  realListenersForImage,
  serveReal,
  WatchedZoneFile,
} from "../apps/index.ts";
import { escapeControl } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import { appendLog } from "./sim-state-files.ts";

const USAGE = "usage: tortie internal serve-app --image IMAGE [--role ROLE] [--log FILE] [--zone FILE]";

interface ServeAppOptions {
  image: string;
  role?: string;
  log?: string;
  zone?: string;
}

/** Parses serve-app's flags (`--flag VALUE` or `--flag=VALUE`); a string is the one-line usage error. */
export function parseServeAppArgs(args: string[]): ServeAppOptions | string {
  const values: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--(image|role|log|zone)(?:=(.*))?$/.exec(a);
    if (!m) return `unknown argument ${JSON.stringify(a)}; ${USAGE}`;
    const value = m[2] ?? args[++i];
    if (value === undefined || value === "") return `--${m[1]} needs a value; ${USAGE}`;
    values[m[1]!] = value;
  }
  if (!values.image) return `--image is required; ${USAGE}`;
  return {
    image: values.image,
    ...(values.role ? { role: values.role } : {}),
    ...(values.log ? { log: values.log } : {}),
    ...(values.zone ? { zone: values.zone } : {}),
  };
}

/** Resolves when the process is told to stop (SIGTERM or SIGINT). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      done(signal);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

/**
 * Runs the app until a stop signal; returns the exit code. `stateDir` (tortie's global --state-dir, when given)
 * is where relative --log and --zone paths are resolved.
 */
export async function serveApp(ctx: CliContext, args: string[], stateDir?: string): Promise<number> {
  const fail = (line: string, code = 1) => {
    ctx.err(`tortie serve-app: ${escapeControl(line)}\n`);
    return code;
  };
  const parsed = parseServeAppArgs(args);
  if (typeof parsed === "string") return fail(parsed, 2);
  const path = (p: string) => resolve(stateDir ?? ".", p);
  const warn = (line: string) => ctx.err(`tortie serve-app (${parsed.image}): ${escapeControl(line)}\n`);

  let zone: WatchedZoneFile | undefined;
  if (parsed.zone !== undefined) {
    try {
      zone = new WatchedZoneFile(path(parsed.zone), warn);
    } catch (e) {
      return fail((e as Error).message);
    }
  }
  const choice = realListenersForImage(parsed.image, {
    ...(parsed.role ? { role: parsed.role } : {}),
    ...(zone ? { zone: () => zone.current() } : {}),
  });
  if (!choice.ok) return fail(choice.error);

  const logFile = parsed.log === undefined ? undefined : path(parsed.log);
  if (logFile) {
    try {
      mkdirSync(dirname(logFile), { recursive: true });
    } catch (e) {
      return fail(`cannot create the log directory of ${logFile}: ${(e as Error).message}`);
    }
  }
  const env: AppEnvironment = {
    fetch: (url) => curlFetch(url),
    log: (line) => {
      if (!logFile) return void ctx.out(`${line}\n`);
      try {
        appendLog(logFile, [line]);
      } catch (e) {
        warn(`cannot write the log ${logFile}: ${(e as Error).message}`);
      }
    },
    now: () => new Date(),
  };

  // Listen for the stop signal before binding: a SIGTERM right after start must still end the process cleanly.
  const stopped = stopSignal();
  let servers: RealServers;
  try {
    servers = await serveReal(choice.listeners, env, warn);
  } catch (e) {
    if (e instanceof ListenError) return fail(e.message);
    throw e;
  }
  await stopped;
  await servers.close();
  return 0;
}

/** `tortie internal …`: the commands tortie runs itself (only serve-app so far). */
export async function runInternal(ctx: CliContext, args: string[], stateDir?: string): Promise<number> {
  const [command, ...rest] = args;
  if (command === "serve-app") return serveApp(ctx, rest, stateDir);
  ctx.err(`error: unknown internal command ${JSON.stringify(command ?? "")}: expected serve-app\n`);
  return 2;
}
