/**
 * `tortie exec TARGET -- COMMAND` on the linux dataplane: the real tool in the host's or pod's network namespace,
 * its output streamed live (tcpdump runs until Ctrl-C) and its exit status passed through. kubectl, calicoctl and
 * calicoq stay tortie's own (shell.ts routes them before this); birdc finds the host's real BIRD socket.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import type { ClusterDataplane, KernelCommandResult } from "../calc/index.ts";
import type { LinuxDataplane } from "../dataplane/linux/index.ts";
import { TortieError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import { openLinux } from "./linux-sync.ts";

export { openLinux };

/** TARGET in the description: a host, or a running pod (`NS/POD`); the sim's errors otherwise. */
export function linuxTarget(description: ClusterDataplane, target: string): { host: string; pod: boolean } {
  for (const h of description.hosts) {
    if (h.host === target) return { host: h.host, pod: false };
    if (h.namespaces.some((n) => n.kind === "pod" && n.name === target)) return { host: h.host, pod: true };
  }
  if (target.includes("/"))
    throw new TortieError(
      "NotFound",
      `pods "${target.split("/")[1]}" not found in namespace ${target.split("/")[0]} (or it is not running)`,
    );
  throw new TortieError("NotFound", `no host named ${target} in this cluster`);
}

const BIRD_CLIENTS = new Set(["birdc", "birdcl"]);

/**
 * COMMAND as it runs on the machine: without `sudo` (tortie already is root), and a BIRD client pointed at the
 * host's own BIRD (its socket lives in the state dir, and external hosts run BIRD 2's client).
 */
export function linuxArgv(
  dataplane: LinuxDataplane,
  host: string,
  pod: boolean,
  command: string[],
): string[] {
  let argv = command;
  while (argv[0] === "sudo") argv = argv.slice(1);
  // `wg` talks to the host's own wireguard-go (each namespace has its own UAPI socket directory).
  if (!pod && argv[0] === "wg") return dataplane.toolArgv(host, argv);
  if (pod || !BIRD_CLIENTS.has(argv[0] ?? "")) return argv;
  const birdc = dataplane.birdc(host);
  // BIRD 1.6's Debian package has no birdcl; BIRD 2's does. Either reads the same protocol.
  const typed = join(dirname(birdc), argv[0]!);
  const binary = existsSync(typed) ? typed : birdc;
  const hasSocket = argv.some((a) => a === "-s" || a.startsWith("-s"));
  return [binary, ...(hasSocket ? [] : ["-s", dataplane.birdSocket(host)]), ...argv.slice(1)];
}

/** Runs argv in a kernel namespace with its output streamed to the context; resolves to its exit status. */
export function streamInNetns(ctx: CliContext, netns: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", netns, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8").on("data", (t: string) => ctx.out(t));
    child.stderr.setEncoding("utf8").on("data", (t: string) => ctx.err(t));
    // Ctrl-C reaches the whole foreground group: the tool (tcpdump prints its summary) ends, tortie waits for it.
    const interrupt = () => child.kill("SIGINT");
    const terminate = () => child.kill("SIGTERM");
    process.on("SIGINT", interrupt);
    process.on("SIGTERM", terminate);
    ctx.signal?.addEventListener("abort", interrupt, { once: true });
    const finish = (code: number) => {
      process.off("SIGINT", interrupt);
      process.off("SIGTERM", terminate);
      ctx.signal?.removeEventListener("abort", interrupt);
      resolve(code);
    };
    child.on("error", (e) => {
      ctx.err(`tortie: ip netns exec: ${e.message}\n`);
      finish(127);
    });
    child.on("close", (code, signal) =>
      finish(code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 9)),
    );
  });
}

/** `tortie exec TARGET -- COMMAND` on linux (tortie's own tools and shells were routed before). */
export async function execOnLinux(ctx: CliContext, target: string, command: string[]): Promise<number> {
  const { dataplane, description } = await openLinux(ctx);
  const { host, pod } = linuxTarget(description, target);
  notProgrammed(ctx, description, host);
  return streamInNetns(ctx, dataplane.netns(target), linuxArgv(dataplane, host, pod, command));
}

/** One command on linux with its output returned (a `tortie shell` line piped into a filter). */
export async function runOnLinux(
  ctx: CliContext,
  target: string,
  command: string[],
): Promise<KernelCommandResult> {
  const { dataplane, description } = await openLinux(ctx);
  const { host, pod } = linuxTarget(description, target);
  notProgrammed(ctx, description, host);
  return dataplane.run(target, linuxArgv(dataplane, host, pod, command));
}

/** What Felix could not program on the host may explain what the command saw, so it is said first (as on the sim). */
function notProgrammed(ctx: CliContext, description: ClusterDataplane, host: string): void {
  const h = description.hosts.find((x) => x.host === host);
  for (const reason of h?.unsupported ?? []) ctx.err(`tortie: not programmed on linux: ${reason}\n`);
}

/**
 * The host's BIRD's `show protocols` as birdcl prints it (calicoctl node status reads it), or undefined when
 * that host's BIRD is not running.
 */
export async function linuxBirdProtocols(
  ctx: CliContext,
  host: string,
): Promise<KernelCommandResult | undefined> {
  const { dataplane, description } = await openLinux(ctx);
  const h = description.hosts.find((x) => x.host === host);
  if (!h?.bird || h.birdFailure || !existsSync(dataplane.birdSocket(host))) return undefined;
  const r = await dataplane.run(host, [
    dataplane.birdc(host),
    "-s",
    dataplane.birdSocket(host),
    "show",
    "protocols",
  ]);
  // The socket is there but nobody answers: BIRD died.
  if (r.code !== 0 && /Unable to connect|Connection refused|No such file/i.test(r.stderr + r.stdout))
    return undefined;
  return r;
}
