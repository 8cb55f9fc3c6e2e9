/**
 * Running things in the test's own network namespaces: shell scripts, the Python helper (capture, servers,
 * clients), iptables-restore/-save, ipset, conntrack. Every process has a deadline, and every background
 * process is ended by its own pid.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const TOOL = fileURLToPath(new URL("./netns-tool.py", import.meta.url));
/** The system's Python (a version manager's shim on PATH can take seconds to start). */
export const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Why the kernel side cannot run here, or undefined when it can. */
export function kernelUnavailable(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root";
  const missing = ["ip", "iptables-restore", "iptables-save", "conntrack", "ipset", PYTHON].filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
  );
  if (missing.length) return `missing ${missing.join(", ")}`;
  const ns = `tdiff-${process.pid}-probe`;
  const probe = spawnSync("sh", [
    "-c",
    `ip netns add ${ns} && ip netns exec ${ns} iptables -t nat -S >/dev/null; r=$?; ip netns del ${ns}; exit $r`,
  ]);
  if (probe.status !== 0)
    return `cannot create a network namespace with iptables (nf_tables) in it: ${probe.stderr.toString().trim()}`;
  return undefined;
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/** Runs a command to completion (or kills it at the deadline), without blocking the event loop. */
export function run(
  cmd: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    const timer = setTimeout(() => {
      err += `\n(killed after ${options.timeoutMs ?? 10000} ms)`;
      p.kill("SIGKILL");
    }, options.timeoutMs ?? 10000);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
    p.stdin.on("error", () => {}); // a command that exits without reading its input
    p.stdin.end(options.input ?? "");
  });
}

export async function mustRun(
  cmd: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
) {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.err.trim()}`);
  return r.out;
}

export const bash = (script: string, timeoutMs = 15000) => mustRun("bash", ["-c", script], { timeoutMs });

/** A long-running helper in a namespace: its JSON lines, and a way to end it. */
export class Background {
  readonly lines: unknown[] = [];
  private buffer = "";
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private err = "";

  /** In `ns` (`ip netns exec`), or in the test's own namespace when the helper enters namespaces itself. */
  constructor(ns: string | undefined, args: string[]) {
    const argv = [PYTHON, "-u", TOOL, ...args];
    this.proc = spawn(ns ? "ip" : argv[0]!, ns ? ["netns", "exec", ns, ...argv] : argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout!.on("data", (d) => {
      this.buffer += d;
      let nl = this.buffer.indexOf("\n");
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (line.trim()) this.lines.push(JSON.parse(line));
        nl = this.buffer.indexOf("\n");
      }
    });
    this.proc.stderr!.on("data", (d) => {
      this.err += d;
    });
    this.exited = new Promise((resolve) => this.proc.on("close", () => resolve()));
  }

  /** Waits for the helper's `{"ready": true}` line. */
  async ready(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.some((l) => (l as { ready?: boolean }).ready)) {
      if (Date.now() > deadline || this.proc.exitCode !== null)
        throw new Error(`netns-tool ${this.proc.spawnargs.join(" ")} did not start: ${this.err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** SIGTERM (a capture drains its queue and says `end`), then SIGKILL if it lingers. */
  async stop(timeoutMs = 3000): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
