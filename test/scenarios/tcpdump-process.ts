/**
 * `tortie exec HOST -- [sudo] tcpdump …` as its own process, as the seeds run it in a second shell: it prints until
 * Ctrl-C (SIGINT), then its summary. Shared by the scenario tests that snoop while another command sends traffic.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";

export interface TcpdumpProcess {
  /** What it printed so far. */
  out(): string;
  err(): string;
  /** Polls every 50 ms until `done()`; fails after 60 s or if tcpdump exits first. */
  until(what: string, done: () => boolean): Promise<void>;
  /** Ctrl-C: SIGINT, then its exit status (tcpdump exits 0 after printing its counts). */
  stop(): Promise<number | null>;
}

/** Starts `tortie --state-dir DIR exec HOST -- ARGV…` and waits for tcpdump's `listening on` line. */
export async function startTcpdump(
  stateDir: string,
  host: string,
  argv: string[],
  children: ChildProcess[],
): Promise<TcpdumpProcess> {
  const bin = new URL("../../bin/tortie", import.meta.url).pathname;
  const dump = spawn(process.execPath, [bin, "--state-dir", stateDir, "exec", host, "--", ...argv], {
    env: { ...process.env, TZ: "UTC" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(dump);
  let out = "";
  let err = "";
  dump.stdout!.on("data", (d) => {
    out += d;
  });
  dump.stderr!.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => dump.on("exit", resolve));
  const until = async (what: string, done: () => boolean) => {
    for (const start = Date.now(); !done(); await new Promise((r) => setTimeout(r, 50)))
      if (dump.exitCode !== null || Date.now() - start > 60_000)
        assert.fail(`tcpdump exited or timed out waiting for ${what}: ${err}\n${out}`);
  };
  await until("the listening line", () => err.includes("listening on"));
  return {
    out: () => out,
    err: () => err,
    until,
    stop: async () => {
      dump.kill("SIGINT");
      return exited;
    },
  };
}
