/**
 * What the linux dataplane's tests share: whether they can run here (root, the tools, both BIRDs), bin/tortie run
 * as a user runs it on a state dir of the test's own, the lab renamed to a cluster name unique to this process,
 * and taking a cluster down so the machine is clean even when a test failed.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_IN_TOPOLOGIES } from "../../src/control/index.ts";
import { bird2Binaries, linuxUnavailable, underlayNetns } from "../../src/dataplane/linux/index.ts";

export const BIN = fileURLToPath(new URL("../../bin/tortie", import.meta.url));

/** Where BIRD 2 was extracted: TORTIE_BIRD2_DIR when set, else CI's place or this machine's, whichever exists. */
const BIRD2_DIRS = ["/opt/tortie/bird2/usr/sbin", "/tmp/b2/usr/sbin"];
if (!process.env.TORTIE_BIRD2_DIR) {
  const found = BIRD2_DIRS.find((d) => existsSync(join(d, "bird")));
  if (found) process.env.TORTIE_BIRD2_DIR = found;
}

/** Why the linux dataplane cannot run here (not root, a tool or a BIRD missing), or undefined when it can. */
export function linuxSkipReason(): string | undefined {
  const why = linuxUnavailable();
  if (why) return why;
  const b = bird2Binaries();
  const missing = [b.bird1.bird, b.bird1.birdc, b.bird2.bird, b.bird2.birdc].filter((p) => !existsSync(p));
  return missing.length ? `missing ${missing.join(", ")}` : undefined;
}

export interface Run {
  code: number;
  out: string;
  err: string;
}

/** `tortie ARGS --state-dir DIR` through bin/tortie, `input` on its stdin. */
export function tortie(stateDir: string, args: string[], input = "", timeoutMs = 120_000): Run {
  const r = spawnSync(process.execPath, [BIN, ...args, "--state-dir", stateDir], {
    encoding: "utf8",
    input,
    timeout: timeoutMs,
  });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: r.stderr ?? String(r.error ?? "") };
}

export interface Scratch {
  dir: string;
  name: string;
  topology: string;
}

/** A state dir and a topology file: the lab, renamed so that its namespaces are this test's alone. */
export function scratch(suffix: string): Scratch {
  const dir = mkdtempSync(join(tmpdir(), "tortie-linux-"));
  const name = `t${process.pid}${suffix}`;
  const lab = structuredClone(BUILT_IN_TOPOLOGIES.lab!);
  lab.metadata = { name };
  const topology = join(dir, "topology.json");
  writeFileSync(topology, JSON.stringify(lab));
  return { dir, name, topology };
}

/** The kernel's network namespaces of cluster `name` (tt-<name> and tt-<name>-*). */
export function clusterNetns(name: string): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n === `tt-${name}` || n.startsWith(`tt-${name}-`));
}

/** The pids running in the kernel namespaces `names`. */
export function netnsPids(names: string[]): number[] {
  return names.flatMap((n) =>
    spawnSync("ip", ["netns", "pids", n], { encoding: "utf8" })
      .stdout.split("\n")
      .filter(Boolean)
      .map(Number),
  );
}

/** Whether the process runs (a zombie does not: this machine's init may reap ended processes late). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** `down`, and whatever it left behind removed by hand so the machine is clean even when the test failed. */
export function takeDown(s: { dir: string; name: string }): Run {
  const pids = netnsPids(clusterNetns(s.name));
  const r = tortie(s.dir, ["down"]);
  for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  for (const n of clusterNetns(s.name)) spawnSync("ip", ["netns", "del", n]);
  rmSync(s.dir, { recursive: true, force: true });
  return r;
}

/** Runs `attempt` until it returns a value (not undefined) or `seconds` pass; then the last failure is thrown. */
export async function poll<T>(seconds: number, what: string, attempt: () => T | undefined): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = attempt();
      if (v !== undefined) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not so after ${seconds} s${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * One packet of `filter` captured on the underlay's bridge while `traffic` runs: tcpdump is started first and
 * the traffic sent once it says it listens.
 */
export async function captureWhile(
  cluster: string,
  filter: string,
  traffic: () => Promise<unknown>,
): Promise<string> {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      underlayNetns(cluster),
      "timeout",
      "20",
      "tcpdump",
      "-i",
      "br0",
      "-n",
      "-l",
      "--immediate-mode",
      "-c",
      "1",
      ...filter.split(" "),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  await new Promise<void>((resolve) => {
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      err += s;
      if (err.includes("listening on")) resolve();
    });
    child.on("close", () => resolve());
  });
  await traffic();
  await closed;
  return out;
}
