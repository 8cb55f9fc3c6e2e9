/**
 * Running the host's tools: every command has a deadline, and a failure is one line naming the namespace, the
 * command and the first line of what it printed on stderr.
 */
import { spawn } from "node:child_process";
import type { KernelCommandResult } from "../../calc/index.ts";

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

/** Runs a command to completion, killing it at the deadline; never throws for a non-zero exit. */
export function runCommand(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<KernelCommandResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], cwd: options.cwd });
    p.stdout.on("data", (d) => {
      stdout += d;
    });
    p.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      stderr = `killed after ${timeoutMs} ms\n${stderr}`;
      p.kill("SIGKILL");
    }, timeoutMs);
    p.on("error", (e) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${cmd}: ${e.message}`, code: 127 });
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? (signal ? 128 + 9 : -1) });
    });
    p.stdin.on("error", () => {}); // a command that exits without reading its input
    p.stdin.end(options.input ?? "");
  });
}

/** The first line that says something (a tool's "name vX:" banner is joined to the line after it). */
export function firstLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const [first = "", second] = lines;
  return first.endsWith(":") && second ? `${first} ${second}` : first;
}

/** The one-line error for a failed command in a namespace (or on the machine when `where` is ""). */
export function commandError(where: string, cmd: string, args: string[], r: KernelCommandResult): Error {
  const shown = [cmd, ...args].join(" ");
  const text = shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
  return new Error(
    `${where ? `${where}: ` : ""}${text} exited ${r.code}: ${firstLine(r.stderr) || firstLine(r.stdout) || "no output"}`,
  );
}

/** Runs a command and throws the one-line error when it fails; returns its stdout. */
export async function mustRun(
  where: string,
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const r = await runCommand(cmd, args, options);
  if (r.code !== 0) throw commandError(where, cmd, args, r);
  return r.stdout;
}

/** Runs `argv` inside a named network namespace (`ip netns exec`). */
export function inNetns(
  netns: string,
  argv: string[],
  options: RunOptions = {},
): Promise<KernelCommandResult> {
  return runCommand("ip", ["netns", "exec", netns, ...argv], options);
}

/**
 * Runs one of tortie's own programming commands (iptables-restore, ipset, sysctl, nft) in a namespace with
 * `nsenter --net`: only the network namespace is entered, which skips `ip netns exec`'s mount namespace and
 * /etc bind mounts (a third of the time of a one-chain policy change).
 */
export async function mustRunIn(netns: string, argv: string[], options: RunOptions = {}): Promise<string> {
  const r = await runCommand("nsenter", [`--net=/run/netns/${netns}`, "--", ...argv], options);
  if (r.code !== 0) throw commandError(netns, argv[0]!, argv.slice(1), r);
  return r.stdout;
}
