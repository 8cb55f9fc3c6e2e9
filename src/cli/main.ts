import { Command, CommanderError } from "commander";
import { escapeControl, isTortieError } from "../lib/index.ts";
import { CommandExit } from "./command-exit.ts";
import { type CliContext, makeContext } from "./context.ts";
import type { ForwardOutcome } from "./forward.ts";
import { extractStateDir } from "./state-dir-flag.ts";

// Each command's module (and what it needs) is loaded only once the command line has chosen it. (kubectl.ts
// itself imports shell.ts for `kubectl exec`, so `tortie kubectl get` still loads the sim's modules.)
const kubectlModule = () => import("./kubectl.ts");
const calicoctlModule = () => import("./calicoctl.ts");
const clusterModule = () => import("./cluster.ts");
const policyModule = () => import("./policy.ts");
const traceModule = () => import("./trace.ts");
const bgpModule = () => import("./bgp.ts");
const calicoqModule = () => import("./calicoq.ts");
const shellModule = () => import("./shell.ts");
const storeModule = () => import("./store.ts");

const KUBECTL_VERBS = new Set(["apply", "create", "replace", "get", "delete", "patch", "label", "describe"]);
const LIFECYCLE = new Set(["up", "down", "status"]);
/** Verbs that change objects: after them the controllers run until the cluster settles. */
const WRITE_VERBS = new Set([
  "apply",
  "create",
  "replace",
  "delete",
  "patch",
  "label",
  "scale",
  "run",
  "ipam",
]);

export { extractStateDir };

function quiet(program: Command, ctx: CliContext): Command {
  // commander's own errors quote what was typed: keep them one line (help text written to stderr is left alone),
  // its "(Did you mean scale?)" hint included.
  const writeErr = (t: string) =>
    ctx.err(
      t.startsWith("error:")
        ? `${escapeControl(t.replace(/\n$/, "").replace("\n(Did you mean ", " (Did you mean "))}\n`
        : t,
    );
  program.exitOverride().configureOutput({ writeOut: ctx.out, writeErr });
  for (const c of program.commands) quiet(c, ctx);
  return program;
}

/** Runs one tortie command line; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function runCli(argv: string[], ctx?: CliContext): Promise<number> {
  const { stateDir, rest } = extractStateDir(argv);
  let context: CliContext;
  try {
    context = ctx ?? makeContext(stateDir);
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return isTortieError(e) && e.code === "Usage" ? 2 : 1;
  }
  const [first, ...args] = rest;
  let program: Command;
  let formatError: ((e: unknown) => string) | undefined;
  let from = rest;
  if (first === "kubectl") {
    const m = await kubectlModule();
    program = m.kubectlProgram(context);
    formatError = m.kubectlErrorText;
    from = args;
  } else if (first === "calicoctl") {
    const m = await calicoctlModule();
    program = m.calicoctlProgram(context);
    formatError = m.calicoctlErrorText;
    from = args;
  } else if (first && KUBECTL_VERBS.has(first)) {
    const m = await kubectlModule();
    program = m.kubectlProgram(context, "tortie");
    formatError = m.kubectlErrorText;
  } else if (first && LIFECYCLE.has(first)) {
    program = (await clusterModule()).lifecycleProgram(context);
  } else if (first === "policy") {
    program = (await policyModule()).policyProgram(context);
  } else if (first === "trace") {
    program = (await traceModule()).traceProgram(context);
  } else if (first === "bgp") {
    program = (await bgpModule()).bgpProgram(context);
  } else if (first === "calicoq") {
    program = (await calicoqModule()).calicoqProgram(context);
    from = args;
  } else if (first === "store") {
    program = (await storeModule()).storeProgram(context);
  } else if (first === "verify") {
    program = (await import("./verify.ts")).verifyProgram(context);
  } else if (first === "exec") {
    return runExec(context, args);
  } else if (first === "shell") {
    return runShellCommand(context, args);
  } else if (first === "serve") {
    return (await import("./serve.ts")).runServe(context, args);
  } else if (first === "kubeconfig") {
    return (await import("./serve.ts")).runKubeconfig(context, args);
  } else if (first === "internal") {
    // tortie's own plumbing (the linux dataplane's app processes); not listed in help.
    return (await import("./serve-app.ts")).runInternal(context, args, stateDir);
  } else {
    program = await topLevelProgram(context);
    if (!first) {
      context.out(program.helpInformation());
      return 0;
    }
  }
  const readOnlyIpam = from[0] === "ipam" && (from[1] === "show" || from[1] === "check");
  const writes =
    from[0] !== undefined &&
    WRITE_VERBS.has(from[0]) &&
    !readOnlyIpam &&
    !from.includes("--help") &&
    !from.includes("-h");
  try {
    await quiet(program, context).parseAsync(from, { from: "user" });
    if (writes) {
      const settleStart = performance.now();
      await settleAfterOwnWrite(context);
      // On the linux dataplane the kernel takes what changed (a failure is a warning line).
      await (await import("./linux-sync.ts")).syncAfterWrite(context, performance.now() - settleStart);
    }
    return 0;
  } catch (e) {
    // A write that failed part-way (e.g. at the third document of a manifest) leaves the earlier objects
    // stored; the controllers act on them now, and the command's own error is the one reported.
    if (writes && !(e instanceof CommanderError)) {
      const settled = await (await clusterModule()).settleCluster(context).then(
        () => true,
        () => false,
      );
      // A store that cannot be read fails the settle too; the command's own error then says it once.
      if (settled) await (await import("./linux-sync.ts")).syncAfterWrite(context);
    }
    if (e instanceof CommandExit) return e.code;
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0)
        return 0;
      return 2;
    }
    if (isTortieError(e)) {
      // Commands other than calicoctl's report errors in kubectl's words.
      formatError ??= (await kubectlModule()).kubectlErrorText;
      const text = formatError(e);
      context.err(`${e.multiline ? text : escapeControl(text)}\n`);
      return e.code === "Usage" ? 2 : 1;
    }
    context.err(`internal error: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

/**
 * Settles the cluster after the command's own write succeeded. The exit status reports that write: controller
 * trouble (a racing process, a lock held too long, a controller bug) is one warning line, and the next command's
 * settle takes the cluster the rest of the way.
 */
async function settleAfterOwnWrite(context: CliContext): Promise<void> {
  try {
    await (await clusterModule()).settleCluster(context);
  } catch (e) {
    // A tortie error is a race or a limit; anything else is a bug, and says so (its stack is not one line).
    const message = ((e as Error)?.message ?? String(e)).replace(/\s*\n\s*/g, " ");
    const why = escapeControl(isTortieError(e) ? message : `internal error: ${message}`);
    context.err(`warning: the controllers have not settled yet (${why}); the next command retries\n`);
  }
}

/** `tortie` alone, `tortie --help`, and the parser that reports an unknown command: every command, described. */
async function topLevelProgram(context: CliContext): Promise<Command> {
  const [kubectl, calicoctl, cluster, policy, trace, bgp, store] = await Promise.all([
    kubectlModule(),
    calicoctlModule(),
    clusterModule(),
    policyModule(),
    traceModule(),
    bgpModule(),
    storeModule(),
  ]);
  const program = new Command("tortie")
    .description("Calico-compatible Kubernetes networking: the cluster's network, on one machine")
    .option("--state-dir <dir>", "where the cluster's state lives (default $TORTIE_STATE_DIR or ./.tortie)");
  // The verbs are read from the programs themselves, so this list cannot fall behind them.
  const verbs = (p: Command) => p.commands.map((c) => c.name()).join(", ");
  program
    .command("kubectl")
    .description(`kubectl's grammar and output: ${verbs(kubectl.kubectlProgram(context))}`);
  program
    .command("calicoctl")
    .description(`calicoctl's grammar and output: ${verbs(calicoctl.calicoctlProgram(context))}`);
  for (const verb of KUBECTL_VERBS) program.command(verb).description(`same as 'tortie kubectl ${verb}'`);
  for (const c of [
    ...cluster.lifecycleProgram(context).commands,
    ...policy.policyProgram(context).commands,
    ...trace.traceProgram(context).commands,
    ...bgp.bgpProgram(context).commands,
    ...store.storeProgram(context).commands,
  ])
    program.command(c.name()).description(c.description());
  program.command("calicoq").description("calicoq's queries: eval SELECTOR | endpoint NAME | policy NAME");
  program
    .command("exec")
    .description(
      "exec TARGET -- COMMAND: run ip, iptables, curl, ping, birdc, calicoctl node status, ... on a host or in NS/POD",
    );
  program
    .command("verify")
    .description(
      "build the cluster on the linux dataplane and on the sim, probe both, print every divergence (root)",
    );
  program
    .command("shell")
    .description("shell TARGET: an interactive shell on a host or in NS/POD running the same commands");
  program
    .command("serve")
    .description(
      "serve the Kubernetes API for this state dir (HTTPS on 127.0.0.1); tortie's commands then run through it",
    );
  program.command("kubeconfig").description("print the path of the running API server's kubeconfig");
  return program;
}

/**
 * The process entry point used by bin/tortie. `prior`: what bin/tortie's forwarding fast path (dist/forward.cjs)
 * already found when it did not run the command, so it is not tried twice (and stdin it read is not lost).
 */
export async function main(prior?: ForwardOutcome): Promise<void> {
  // The state dir holds the cluster's Secrets: whatever tortie writes there is the owner's alone (0700/0600).
  process.umask(0o077);
  // `tortie ... | head` closes the pipe early; that is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  const argv = process.argv.slice(2);
  // While `tortie serve` runs for the state dir, a one-shot command runs there (src/cli/forward.ts).
  const forwarded = prior ?? (await (await import("./forward.ts")).tryForward(argv));
  if (forwarded.ran) {
    process.exitCode = forwarded.code;
    return;
  }
  process.exitCode = await runCli(
    argv,
    forwarded.stdin ? contextWithStdin(argv, forwarded.stdin) : undefined,
  );
}

/** The process's context, with the standard input a failed forwarding attempt has already read. */
function contextWithStdin(argv: string[], stdin: () => string): CliContext | undefined {
  try {
    return { ...makeContext(extractStateDir(argv).stateDir), stdin };
  } catch {
    return undefined; // runCli makes the context again and reports what is wrong with it
  }
}

const EXEC_HELP = `Usage: tortie exec TARGET -- COMMAND [ARGS...]

Runs COMMAND on a host (a topology host name) or in a running pod (NS/POD). On the sim dataplane tortie
emulates the tools (ip, iptables, iptables-save, nft, conntrack, curl, ping, nc, nslookup, dig, ss, sysctl,
tcpdump, birdc); on the linux dataplane (root) the real tool runs in that network namespace. On a host,
kubectl, calicoctl and calicoq are tortie's own ('sudo calicoctl node status'); 'bash' or 'sh -c LINE' is
tortie's shell.
`;

/** `tortie exec TARGET -- COMMAND [ARGS...]`. */
async function runExec(ctx: CliContext, args: string[]): Promise<number> {
  if (args[0] === "--help" || args[0] === "-h") {
    ctx.out(EXEC_HELP);
    return 0;
  }
  const dash = args.indexOf("--");
  const target = args[0];
  if (!target || target === "--" || dash < 0 || dash === args.length - 1) {
    ctx.err("error: usage: tortie exec TARGET -- COMMAND [ARGS...]\n");
    return 2;
  }
  if (dash !== 1) {
    ctx.err(`error: unexpected argument before --: ${escapeControl(args[1] ?? "")}\n`);
    return 2;
  }
  try {
    // On a host, kubectl, calicoctl and calicoq are tortie's own (`sudo calicoctl node status`, as seed 002
    // types it on node1); in a pod they do not exist, as in a real container.
    return await (await shellModule()).execCommand(ctx, target, args.slice(dash + 1));
  } catch (e) {
    return reportExecError(ctx, e);
  }
}

/** How `exec` and `shell` end on an error: one line for tortie's own, "internal error" (as runCli) for a bug. */
function reportExecError(ctx: CliContext, e: unknown): number {
  if (e instanceof CommandExit) return e.code;
  if (!isTortieError(e)) {
    ctx.err(`internal error: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
  ctx.err(`error: ${escapeControl(e.message)}\n`);
  return e.code === "Usage" ? 2 : 1;
}

/** `tortie shell TARGET`. */
async function runShellCommand(ctx: CliContext, args: string[]): Promise<number> {
  if (args.length !== 1 || args[0]!.startsWith("-")) {
    if (args[0] === "--help" || args[0] === "-h") {
      ctx.out(
        "Usage: tortie shell TARGET\n\nAn interactive shell on a host (a topology host name) or in a pod (NS/POD): the\ncommands of 'tortie exec', pipes into grep/head/tail/wc -l/python -m json.tool, and on a\nhost kubectl, calicoctl, calicoq and ssh HOST. exit or Ctrl-D leaves.\n",
      );
      return 0;
    }
    ctx.err("error: usage: tortie shell TARGET\n");
    return 2;
  }
  try {
    return await (await shellModule()).runShell(ctx, args[0]!);
  } catch (e) {
    return reportExecError(ctx, e);
  }
}
