/**
 * The CLI's side of the linux dataplane: which tortie runs the apps, computing the cluster's description from the
 * store, applying it (in full at `up`, only what changed after a write), and repairing what an earlier process
 * left half done. The kernel work itself is dataplane/linux's.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClusterDataplane, KernelFeatures, ProcessSpec } from "../calc/index.ts";
import { clusterDataplane } from "../calc/index.ts";
import { type ClusterTopology, readTopology } from "../control/index.ts";
import {
  LinuxDataplane,
  linuxUnavailable,
  probeKernelFeatures,
  readRecord,
} from "../dataplane/linux/index.ts";
import { escapeControl, isTortieError, TortieError } from "../lib/index.ts";
import { ProcessLock } from "../store/index.ts";
import { CommandExit } from "./command-exit.ts";
import type { CliContext } from "./context.ts";
import { readSimInputs } from "./exec.ts";

/** Why this process cannot run the linux dataplane, as the one line `up` prints; undefined when it can. */
export function linuxRefusal(): string | undefined {
  if (process.getuid?.() !== 0)
    return "tortie: the linux dataplane needs root (it creates network namespaces, veths and iptables rules): run as root or use --dataplane sim";
  const why = linuxUnavailable();
  return why === undefined ? undefined : why.startsWith("tortie:") ? why : `tortie: ${why}`;
}

/** Prints linuxRefusal's line and ends the command (exit 1) when the linux dataplane cannot run here. */
export function assertLinuxAvailable(ctx: CliContext): void {
  const why = linuxRefusal();
  if (why === undefined) return;
  ctx.err(`${escapeControl(why)}\n`);
  throw new CommandExit(1);
}

export function linuxStateDir(ctx: CliContext): string {
  if (ctx.stateDir === undefined)
    throw new TortieError(
      "Invalid",
      "the linux dataplane needs a state dir (--state-dir or TORTIE_STATE_DIR)",
    );
  return ctx.stateDir;
}

/** This installation's root (the bundle maps import.meta.url to the sources' place, so both ways agree). */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * How an app process starts this same tortie. Not through bin/tortie's staleness check: nine apps starting at once
 * would each rebuild the bundle while sources change. From the bundle when this process runs it (bin/tortie sets
 * TORTIE_BUILD to its header), else from the sources (TORTIE_SOURCES=1).
 */
function tortieCommand(): string[] {
  const bundle = join(ROOT, "dist", "tortie.cjs");
  if (process.env.TORTIE_BUILD?.startsWith("// tortie bundle") && existsSync(bundle))
    return [process.execPath, "-e", "require(process.argv[1]).main()", bundle];
  return ["/usr/bin/env", "TORTIE_SOURCES=1", process.execPath, join(ROOT, "bin", "tortie")];
}

/** The command that runs one app process: `tortie internal serve-app` (src/cli/serve-app.ts) with its files. */
export function serveAppArgv(stateDir: string, p: ProcessSpec): string[] {
  const argv = [...tortieCommand(), "internal", "serve-app", "--image", p.image];
  if (p.logTo) argv.push("--log", join(stateDir, "logs", `${p.logTo.replace("/", "_")}.log`));
  if (p.image.includes("coredns")) argv.push("--zone", join(stateDir, "linux", "dns-zone.json"));
  const role = /^tortie\/host-services:(.+)$/.exec(p.image)?.[1];
  if (role) argv.push("--role", role);
  return argv;
}

/** The linux dataplane of the cluster named `cluster`, on this state dir. */
export function linuxDataplane(ctx: CliContext, cluster: string): LinuxDataplane {
  const stateDir = linuxStateDir(ctx);
  return new LinuxDataplane({
    cluster,
    stateDir,
    processArgv: (p: ProcessSpec) => serveAppArgv(stateDir, p),
  });
}

/**
 * The kernel's features, probed once per cluster (a probe makes a namespace: too slow for every write) and kept
 * in the state dir until `down`.
 */
async function kernelFeatures(stateDir: string): Promise<KernelFeatures> {
  const path = join(stateDir, FEATURES_FILE);
  try {
    const saved = JSON.parse(readFileSync(path, "utf8")) as KernelFeatures;
    if (typeof saved.nfacct === "boolean") return saved;
  } catch {}
  const features = await probeKernelFeatures();
  writeFileSync(path, `${JSON.stringify(features)}\n`, { mode: 0o600 });
  return features;
}

const FEATURES_FILE = "linux-features.json";

/** What the kernel must look like for the store as it is now. */
export async function describeCluster(
  ctx: CliContext,
): Promise<{ topology: ClusterTopology; description: ClusterDataplane }> {
  const { topology, objects } = await readSimInputs(ctx);
  const features = await kernelFeatures(linuxStateDir(ctx));
  return { topology, description: clusterDataplane({ objects, topology, features }) };
}

/** The fields of dataplane/linux's record (<stateDir>/linux/record.json) the CLI reads. */
interface RecordView {
  cluster?: string;
  namespaces?: string[];
  pending?: boolean;
  unreadable?: boolean;
}

function readRecordView(stateDir: string): RecordView | undefined {
  const path = join(stateDir, "linux", "record.json");
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RecordView;
  } catch {
    // Unreadable (cut off mid-write): reconcile rather than trust it.
    return { unreadable: true };
  }
}

/** True when the record says an apply started and never finished (a killed or failed tortie). */
function recordPending(ctx: CliContext): boolean {
  const r = readRecordView(linuxStateDir(ctx));
  return r?.pending === true || r?.unreadable === true;
}

function sameDescription(a: ClusterDataplane | undefined, b: ClusterDataplane): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Makes the kernel match the store: applies only what differs from the last description applied (everything on
 * a first apply). `force` applies even when the record matches (a pending record, `up` on a running cluster).
 */
export async function syncLinux(
  ctx: CliContext,
  options: { force?: boolean } = {},
): Promise<{ dataplane: LinuxDataplane; description: ClusterDataplane; applied: boolean }> {
  // One process programs the kernel at a time, from the store as it is once it has the turn (a write's sync and
  // another command's repair never interleave their iptables-restores).
  const lock = new ProcessLock(join(linuxStateDir(ctx), "store"), "linux-dataplane");
  return lock.withLock(async () => {
    const { topology, description } = await describeCluster(ctx);
    const dataplane = linuxDataplane(ctx, topology.name);
    const previous = dataplane.lastApplied();
    // Drift (a namespace deleted or an app killed by hand) is repaired by a full reconcile, as a pending record is.
    const drift = previous !== undefined && (await kernelDrift(linuxStateDir(ctx)));
    const due = options.force || drift || recordPending(ctx) || !sameDescription(previous, description);
    if (due)
      await dataplane.apply(description, drift ? undefined : previous).catch((e: unknown) => {
        // The dataplane's errors name the namespace, the command and its stderr: one line, not a stack.
        if (isTortieError(e)) throw e;
        throw new TortieError("Internal", `the linux dataplane: ${(e as Error)?.message ?? e}`);
      });
    return { dataplane, description, applied: due };
  }, LOCK_WAIT_MS);
}

/** How long a command waits for another process programming the kernel (a full `up` of the lab takes ~10 s). */
const LOCK_WAIT_MS = 120_000;

/** True when a namespace or process the record says is there is not in the kernel any more. */
async function kernelDrift(stateDir: string): Promise<boolean> {
  const record = readRecord(stateDir);
  if (!record) return false;
  const alive = await kernelNamespaces();
  if (record.namespaces.some((n) => !alive.has(n))) return true;
  return Object.values(record.pids).some((p) => p.pid > 0 && !processAlive(p.pid));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when the stored Topology says the cluster runs on the linux dataplane. */
export async function onLinuxDataplane(ctx: CliContext): Promise<boolean> {
  return (await readTopology(ctx.store()))?.dataplane === "linux";
}

/**
 * After a write command settled: on the linux dataplane, the kernel takes what changed. A failure is one warning
 * line; the kernel keeps its last good rules and the next command that needs the kernel repairs it.
 */
export async function syncAfterWrite(ctx: CliContext): Promise<void> {
  try {
    if (!(await onLinuxDataplane(ctx))) return;
    await syncLinux(ctx);
  } catch (e) {
    const message = ((e as Error)?.message ?? String(e)).replace(/\s*\n\s*/g, " ");
    const why = escapeControl(isTortieError(e) ? message : `internal error: ${message}`);
    ctx.err(
      `warning: the linux dataplane was not reprogrammed (${why}); the kernel keeps its last good rules and the next command retries\n`,
    );
  }
}

/** One line on the linux dataplane: what `up` programmed. */
export function linuxSummary(d: ClusterDataplane): string {
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const namespaces = d.hosts.reduce((n, h) => n + h.namespaces.length, 0);
  const processes = d.hosts.reduce((n, h) => n + h.processes.length, 0);
  const bird = d.hosts.filter((h) => h.bird && !h.birdFailure).length;
  const noBird = d.hosts.filter((h) => h.birdFailure).map((h) => h.host);
  const left = d.hosts.reduce((n, h) => n + h.unsupported.length, 0);
  return `${plural(namespaces, "namespace")}, ${plural(processes, "process", "processes")}, BIRD on ${plural(bird, "host")}${left ? `; ${plural(left, "policy rule")} left out (not supported yet)` : ""}${noBird.length ? `; BIRD not running on ${noBird.join(", ")} (tortie exec says why)` : ""}`;
}

/** The kernel as the last command left it, repaired first if a write's reprogramming did not finish. */
export async function openLinux(
  ctx: CliContext,
): Promise<{ dataplane: LinuxDataplane; description: ClusterDataplane }> {
  try {
    const { dataplane, description } = await syncLinux(ctx);
    return { dataplane, description };
  } catch (e) {
    if (e instanceof CommandExit) throw e;
    // The kernel keeps its last good rules: the command still runs there, and says so.
    const message = escapeControl(((e as Error)?.message ?? String(e)).replace(/\s*\n\s*/g, " "));
    ctx.err(
      `warning: the linux dataplane could not be reprogrammed (${message}); the kernel keeps its last good rules\n`,
    );
    const topology = await readTopology(ctx.store());
    if (!topology) throw new TortieError("NotFound", "no cluster: run 'tortie up' first");
    const dataplane = linuxDataplane(ctx, topology.name);
    const description = dataplane.lastApplied();
    if (!description) throw e;
    return { dataplane, description };
  }
}

/**
 * `down`'s kernel half: destroys the cluster's namespaces, links and processes, then sweeps whatever the record in
 * the state dir names (an earlier tortie killed mid-way, a store that is gone). Returns the text `down` appends.
 */
export async function takeDownLinux(ctx: CliContext, topology: ClusterTopology | undefined): Promise<string> {
  const stateDir = ctx.stateDir;
  if (stateDir === undefined) return "";
  // One cluster per state dir: the record names it even when the store is gone or the apply was killed.
  const record = readRecordView(stateDir);
  const cluster = record?.cluster ?? (topology?.dataplane === "linux" ? topology.name : undefined);
  if (cluster === undefined) {
    rmSync(join(stateDir, FEATURES_FILE), { force: true });
    return "";
  }
  if (process.getuid?.() !== 0) {
    ctx.err(
      "tortie: the linux dataplane needs root to be taken down (it removes network namespaces and processes): run as root\n",
    );
    throw new CommandExit(1);
  }
  const before = await kernelNamespaces();
  // destroy() stops the recorded processes and removes the cluster's namespaces, also those a killed apply made.
  await linuxDataplane(ctx, cluster).destroy();
  rmSync(join(stateDir, FEATURES_FILE), { force: true });
  const after = await kernelNamespaces();
  const removed = [...before].filter((n) => !after.has(n)).length;
  return `; ${removed} linux network namespace${removed === 1 ? "" : "s"} removed`;
}

/** The kernel's named network namespaces (`ip netns list`). */
async function kernelNamespaces(): Promise<Set<string>> {
  const r = await run("ip", ["netns", "list"]);
  return new Set(
    r.stdout
      .split("\n")
      .map((l) => l.split(" ")[0]!)
      .filter(Boolean),
  );
}

function run(cmd: string, args: string[], timeoutMs = 5000): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (e, stdout) =>
      resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout }),
    );
  });
}

/** `status` on linux: what the kernel has (not only what the record says), and each host's BIRD. */
export async function linuxStatus(ctx: CliContext): Promise<{ summary: string; bird: Map<string, string> }> {
  const { dataplane, description } = await openLinux(ctx);
  const alive = await kernelNamespaces();
  let namespaces = 0;
  let total = 0;
  let processes = 0;
  let expected = 0;
  const bird = new Map<string, string>();
  for (const h of description.hosts) {
    for (const ns of h.namespaces) {
      total++;
      const netns = dataplane.netns(ns.name);
      if (!alive.has(netns)) continue;
      namespaces++;
      const pids = await run("ip", ["netns", "pids", netns]);
      processes += pids.stdout.split("\n").filter(Boolean).length;
    }
    expected += h.processes.length + (h.bird ? 1 : 0);
    if (!h.bird) continue;
    if (h.birdFailure) {
      bird.set(h.host, "not running (its configuration was refused: tortie exec says why)");
      continue;
    }
    const r = alive.has(dataplane.netns(h.host))
      ? await dataplane.run(
          h.host,
          [dataplane.birdc(h.host), "-s", dataplane.birdSocket(h.host), "show", "status"],
          {
            timeoutMs: 3000,
          },
        )
      : undefined;
    bird.set(h.host, r?.code === 0 && /Daemon is up/.test(r.stdout) ? "running" : "not running");
  }
  const running = [...bird.values()].filter((b) => b === "running").length;
  return {
    summary: `${namespaces}/${total} namespaces and ${processes} processes alive (${expected} expected), BIRD running on ${running}/${bird.size} hosts`,
    bird,
  };
}
