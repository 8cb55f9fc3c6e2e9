/**
 * The client side of forwarding: while `tortie serve` runs for the state dir, a one-shot `tortie …` command is
 * sent to it (`POST /tortie/v1/commands`) and runs there, on the store, controllers and dataplane it keeps
 * loaded; this process only relays the output and the exit code. The protocol is described in
 * src/server/forward.ts. Nothing here opens the store: that is the point.
 *
 * Not forwarded (they run here, as without a server): the lifecycle and the server's own commands, what is
 * interactive or runs until interrupted, help, and everything when TORTIE_NO_SERVER=1.
 *
 * This module is also dist/forward.cjs (scripts/build-bundle.mjs), the small bundle bin/tortie runs first when
 * the state dir has a server: its imports stay node built-ins and leaf modules, never the store or the CLI.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import type { RequestOptions } from "node:https";
import { readFdBounded } from "./bounded-read.ts";
import { type EndpointRecord, liveEndpoint } from "./serve-endpoint.ts";
import { extractStateDir, stateDirPath } from "./state-dir-flag.ts";

/** Top-level commands that never go through the server. */
const LOCAL_COMMANDS = new Set([
  "up",
  "down",
  "serve",
  "kubeconfig",
  "exec",
  "shell",
  "verify",
  "internal",
  "store",
]);
const KUBECTL_VERBS = new Set(["apply", "create", "replace", "get", "delete", "patch", "label", "describe"]);
/** Client environment variables the command does not see (they describe this process). */
const CLIENT_ONLY_ENV = new Set(["TORTIE_STATE_DIR", "TORTIE_BUILD", "TORTIE_NO_SERVER", "TORTIE_SOURCES"]);

/**
 * Whether this command line may run in the server. The server asks too (serve-host.ts) and refuses the rest:
 * what writes files where the client says (`store backup FILE`, `calicoctl ipam check -o FILE`), what runs
 * until interrupted, and the server's own plumbing.
 */
export function forwardable(rest: readonly string[]): boolean {
  const [first, ...args] = rest;
  if (first === undefined || LOCAL_COMMANDS.has(first)) return false;
  if (first === "calicoctl" && writesIpamReport(args)) return false;
  if (
    rest.some((a) => a === "--help" || a === "-h" || a === "-w" || a === "--watch" || a.startsWith("--watch"))
  )
    return false;
  const kubectl = first === "kubectl" ? args : KUBECTL_VERBS.has(first) ? rest : undefined;
  if (kubectl) {
    const verb = kubectl.find((a) => !a.startsWith("-"));
    if (verb === "exec" || verb === "attach" || verb === "port-forward" || verb === "proxy") return false;
    if (verb === "logs" && kubectl.some((a) => a === "--follow" || /^-[a-zA-Z]*f[a-zA-Z]*$/.test(a)))
      return false;
  }
  return true;
}

/** `calicoctl ipam check -o FILE`: the report is a file this process writes, with this process's rights. */
function writesIpamReport(args: readonly string[]): boolean {
  const words = args.filter((a) => !a.startsWith("-"));
  const ipam = words.indexOf("ipam");
  if (ipam < 0 || words[ipam + 1] !== "check") return false;
  return args.some((a) => a === "-o" || a === "--output" || a.startsWith("--output=") || /^-o./.test(a));
}

/** Whether the command line reads standard input (`-f -`, `--filename=-`). */
function readsStdin(rest: readonly string[]): boolean {
  return rest.some(
    (a, i) =>
      ((a === "-f" || a === "--filename") && rest[i + 1] === "-") || a === "--filename=-" || a === "-f=-",
  );
}

/** What the caller does next: the command ran in the server, or it runs here (with the stdin already read). */
export type ForwardOutcome = { ran: true; code: number } | { ran: false; stdin?: () => string };

/**
 * Runs argv in the state dir's server when one is listening. Falls back (ran: false) without a word when there
 * is none or it cannot be reached before the command started.
 */
export async function tryForward(argv: string[]): Promise<ForwardOutcome> {
  if (process.env.TORTIE_NO_SERVER === "1") return { ran: false };
  const { stateDir, rest } = extractStateDir(argv);
  if (!forwardable(rest)) return { ran: false };
  const endpoint = liveEndpoint(stateDirPath(stateDir));
  if (!endpoint?.url || !endpoint.token || !endpoint.caCertPem) return { ran: false };
  let stdin: string | undefined;
  let local: ForwardOutcome = { ran: false };
  if (readsStdin(rest)) {
    // Typed at a terminal, stdin is read as the command goes: that needs this process.
    if (process.stdin.isTTY) return { ran: false };
    try {
      stdin = readFdBounded(0, "STDIN");
    } catch (e) {
      // Too large (or unreadable): the local run reports it, in its own words.
      local = {
        ran: false,
        stdin: () => {
          throw e;
        },
      };
      return local;
    }
    const text = stdin;
    local = { ran: false, stdin: () => text };
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith("TORTIE_") && !CLIENT_ONLY_ENV.has(k) && v !== undefined) env[k] = v;
  const body = JSON.stringify({ argv, cwd: process.cwd(), env, ...(stdin === undefined ? {} : { stdin }) });
  // node:https (and tls with it, ~12 ms) loads only now: a local command imports this module too.
  const { request } = await import("node:https");
  const code = await send(request, endpoint, body);
  // bin/tortie's start trace also says where the command ran (the tests check that it was forwarded).
  if (process.env.TORTIE_TRACE_START === "1")
    process.stderr.write(
      `tortie: ${code === undefined ? "ran locally, the server did not take" : "forwarded"} the command (${endpoint.url})\n`,
    );
  return code === undefined ? local : { ran: true, code };
}

/**
 * Posts the command and relays its frames to this process's stdout and stderr. Resolves to the exit code, or
 * undefined when the server could not be reached or refused the request (nothing ran).
 */
function send(
  request: (
    url: string,
    options: RequestOptions,
    onResponse: (res: IncomingMessage) => void,
  ) => ClientRequest,
  endpoint: EndpointRecord,
  body: string,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    let responded = false;
    const req = request(
      `${endpoint.url}/tortie/v1/commands`,
      {
        method: "POST",
        ca: endpoint.caCertPem,
        headers: {
          authorization: `Bearer ${endpoint.token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        responded = true;
        if (res.statusCode !== 200) {
          res.resume();
          resolve(undefined);
          return;
        }
        let buffered = "";
        let exit: number | undefined;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let nl = buffered.indexOf("\n");
          while (nl >= 0) {
            let frame: { o?: string; e?: string; exit?: number };
            try {
              frame = JSON.parse(buffered.slice(0, nl));
            } catch {
              res.destroy(new Error("not a frame")); // not the protocol: reported as a broken stream
              return;
            }
            buffered = buffered.slice(nl + 1);
            if (frame.o !== undefined) process.stdout.write(frame.o);
            if (frame.e !== undefined) process.stderr.write(frame.e);
            if (frame.exit !== undefined) exit = frame.exit;
            nl = buffered.indexOf("\n");
          }
        });
        const end = () => {
          if (exit === undefined) {
            process.stderr.write("tortie: the API server went away before the command finished\n");
            resolve(1);
          } else resolve(exit);
        };
        res.on("end", end);
        res.on("error", end);
      },
    );
    req.on("error", () => {
      // Before a response, nothing ran: the command runs here. After one, the response's own handlers report.
      if (!responded) resolve(undefined);
    });
    // Ctrl-C while the server runs the command: closing the connection aborts it there.
    const interrupt = () => {
      req.destroy();
      process.exit(130);
    };
    process.once("SIGINT", interrupt);
    req.end(body);
  });
}
