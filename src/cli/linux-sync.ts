/**
 * The CLI's side of the linux dataplane: which tortie runs the apps, computing the cluster's description from the
 * store, applying it (in full at `up`, only what changed after a write), and repairing what an earlier process
 * left half done. The kernel work itself is dataplane/linux's.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ApiObject } from "../api/index.ts";
import { imageHasApp } from "../apps/index.ts";
import type { ClusterDataplane, KernelFeatures, ProcessSpec } from "../calc/index.ts";
import { DataplaneCalculator } from "../calc/index.ts";
import { type ClusterTopology, readTopology } from "../control/index.ts";
import {
  bird2Binaries,
  clusterOwnedElsewhere,
  ipipRefusal,
  kernelHasIpip,
  LinuxDataplane,
  type LinuxRecord,
  linuxUnavailable,
  modeRefusal,
  probeKernelFeatures,
  readRecord,
  recordPath,
  sameProcess,
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

/**
 * The BIRD binaries TOPOLOGY needs on this machine (BIRD 1.6 on cluster nodes, BIRD 2 on an external host with
 * a `bird` configuration), checked before `up` stores anything: a missing one is `up`'s one-line refusal, not a
 * failure after "cluster … is up".
 */
export function assertBirdAvailable(ctx: CliContext, hosts: unknown): void {
  const list = Array.isArray(hosts) ? (hosts as { role?: unknown; bird?: unknown }[]) : [];
  const b = bird2Binaries();
  const missing: string[] = [];
  if (list.some((h) => h?.role !== "external"))
    missing.push(...[b.bird1.bird, b.bird1.birdc].filter((p) => !existsSync(p)));
  const bird2 = list.some((h) => h?.role === "external" && typeof h.bird === "string");
  const bird2Missing = bird2 ? [b.bird2.bird, b.bird2.birdc].filter((p) => !existsSync(p)) : [];
  if (!missing.length && !bird2Missing.length) return;
  const why = [
    ...(missing.length ? [`BIRD 1.6 not found at ${missing.join(", ")} (install Debian's bird)`] : []),
    ...(bird2Missing.length
      ? [
          `BIRD 2 not found at ${bird2Missing.join(", ")} (extract Debian's bird2 there or set TORTIE_BIRD2_DIR)`,
        ]
      : []),
  ];
  ctx.err(`tortie: the linux dataplane cannot run BIRD here: ${escapeControl(why.join("; "))}\n`);
  throw new CommandExit(1);
}

/**
 * A topology whose default pool is IPIP cannot run on a kernel without the IPIP driver: `up` refuses before anything
 * is stored (an IPIP pool applied later is refused by the sync, which keeps the kernel's last good state).
 */
export async function assertDefaultPoolSupported(spec: unknown): Promise<void> {
  const pool = (spec as { defaultPool?: { name?: unknown; encapsulation?: unknown } } | undefined)
    ?.defaultPool;
  if (typeof pool?.encapsulation !== "string" || !pool.encapsulation.startsWith("IPIP")) return;
  if (!(await kernelHasIpip())) throw new TortieError("Unsupported", ipipRefusal(String(pool.name)));
}

/**
 * A cluster's namespaces are named after it (`tt-<cluster>-…`), so two state dirs cannot run clusters of one name
 * on one machine: `up` refuses before anything is stored rather than after the cluster was saved.
 */
export function assertClusterNameFree(ctx: CliContext, cluster: string): void {
  const owner = clusterOwnedElsewhere(cluster, linuxStateDir(ctx));
  if (owner === undefined) return;
  ctx.err(
    `tortie: a cluster named ${escapeControl(cluster)} already runs on the linux dataplane of this machine from the state dir ${escapeControl(owner)}: take it down there, or give this topology another name\n`,
  );
  throw new CommandExit(1);
}

/**
 * Commands that go into the cluster's namespaces (exec, shell, status, calicoctl node status) need root; without
 * it they say so in one line instead of reading a kernel they cannot see.
 */
export function assertLinuxRoot(): void {
  if (process.getuid?.() !== 0)
    throw new TortieError(
      "Invalid",
      "the cluster runs on the linux dataplane: this command enters its network namespaces and needs root",
    );
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
export function serveAppArgv(stateDir: string, p: ProcessSpec): string[] | undefined {
  if (!imageHasApp(p.image)) return undefined;
  const argv = [...tortieCommand(), "internal", "serve-app", "--image", p.image];
  if (p.logTo) argv.push("--log", join(stateDir, "logs", `${p.logTo.replace("/", "_")}.log`));
  if (p.image.includes("coredns")) argv.push("--zone", join(stateDir, "linux", "dns-zone.json"));
  const role = /^tortie\/host-services:(.+)$/.exec(p.image)?.[1];
  if (role) argv.push("--role", role);
  return argv;
}

/** How many of a host's processes run an app (images without one run nothing). */
function runningApps(processes: ProcessSpec[]): number {
  return processes.filter((p) => imageHasApp(p.image)).length;
}

/** The linux dataplane of the cluster named `cluster`, on this state dir. */
export function linuxDataplane(ctx: CliContext, cluster: string, record?: LinuxRecord): LinuxDataplane {
  const stateDir = linuxStateDir(ctx);
  return new LinuxDataplane({
    cluster,
    stateDir,
    processArgv: (p: ProcessSpec) => serveAppArgv(stateDir, p),
    ...(record ? { record } : {}),
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

/**
 * TORTIE_TIMINGS=1: a diagnostic. A sync of the kernel prints one line on stderr with where its time went
 * (`tortie timings: ...`); nothing else changes.
 */
class SyncTimings {
  private readonly enabled = process.env.TORTIE_TIMINGS === "1";
  private readonly parts: string[] = [];
  /** The process's age when the sync began: the command, its store writes and the settle came before. */
  private readonly start = performance.now();
  private last = this.start;

  /** `settleMs`: how long the controllers' settle after the command's own write took, when the caller knows. */
  constructor(private readonly settleMs?: number) {}

  /** Closes the phase that ran since the previous mark. */
  mark(phase: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    this.parts.push(`${phase} ${(now - this.last).toFixed(1)} ms`);
    this.last = now;
  }

  /** The line, with the process's age when the sync began (which covers the command itself and the settle). */
  print(ctx: CliContext, what: string): void {
    if (!this.enabled) return;
    ctx.err(
      `tortie timings: ${what}: started at process age ${this.start.toFixed(0)} ms${this.settleMs === undefined ? "" : ` (settle before it ${this.settleMs.toFixed(1)} ms)`}; ${this.parts.join(", ")}; total ${(performance.now() - this.start).toFixed(1)} ms\n`,
    );
  }
}

/** What the kernel must look like for the store as it is now. */
export async function describeCluster(
  ctx: CliContext,
  timings?: SyncTimings,
): Promise<{ topology: ClusterTopology; description: ClusterDataplane; ipipPool?: string }> {
  const { topology, objects } = await readSimInputs(ctx);
  const ipipPool = firstIpipPool(objects);
  timings?.mark("read store");
  const stateDir = linuxStateDir(ctx);
  const features = await kernelFeatures(stateDir);
  const build = process.env.TORTIE_BUILD ?? "";
  const earlier = build ? readDescribeCache(stateDir, build) : undefined;
  const calculator = new DataplaneCalculator({
    objects,
    topology,
    features,
    ...(earlier ? { reuse: { digest: sha256Hex, earlier } } : {}),
  });
  const description = calculator.cluster();
  if (earlier) saveDescribeCache(stateDir, build, earlier, calculator.parts());
  timings?.mark("describe");
  return { topology, description, ...(ipipPool ? { ipipPool } : {}) };
}

/** The first enabled IPv4 pool (by name) that asks for IPIP: the name the linux dataplane's refusal gives. */
function firstIpipPool(objects: readonly ApiObject[]): string | undefined {
  return objects
    .filter(
      (o) =>
        o.kind === "IPPool" &&
        !o.spec?.disabled &&
        !String(o.spec?.cidr ?? "").includes(":") &&
        (o.spec?.ipipMode === "Always" || o.spec?.ipipMode === "CrossSubnet"),
    )
    .map((o) => String(o.metadata.name))
    .sort()[0];
}

/**
 * The per-host parts of the last description that a write rarely changes (kube-proxy's rules, BIRD's files),
 * keyed on a digest of their inputs, for the next command of the same build (bin/tortie's TORTIE_BUILD names
 * the code): a policy change then renders only Felix's rules. Without a build name nothing is reused.
 */
const DESCRIBE_CACHE_FILE = "linux-describe-cache.json";

function readDescribeCache(stateDir: string, build: string): Record<string, unknown> {
  try {
    const saved = JSON.parse(readFileSync(join(stateDir, DESCRIBE_CACHE_FILE), "utf8")) as {
      build?: string;
      parts?: Record<string, unknown>;
    };
    if (saved.build === build && saved.parts && typeof saved.parts === "object") return saved.parts;
  } catch {}
  return {};
}

/** Keeps exactly the parts this description used (so the file stays one description's size), when they changed. */
function saveDescribeCache(
  stateDir: string,
  build: string,
  earlier: Record<string, unknown>,
  parts: Record<string, unknown>,
): void {
  const keys = Object.keys(parts);
  if (keys.length === Object.keys(earlier).length && keys.every((k) => k in earlier)) return;
  const path = join(stateDir, DESCRIBE_CACHE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify({ build, parts }), { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // A cache: failing to keep it costs the next command time, nothing else.
    rmSync(tmp, { force: true });
  }
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
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

function sameDescription(a: ClusterDataplane | undefined, b: ClusterDataplane): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Makes the kernel match the store: applies only what differs from the last description applied (everything on
 * a first apply). `force` applies even when the record matches (a pending record, `up` on a running cluster).
 * `checkDrift` first runs the dataplane's cheap drift check (links, addresses, routes, sysctls, ipsets, nft and
 * chains per namespace, at most two processes each) and reconciles the namespaces that drifted: commands that use the kernel (exec, status) ask for it,
 * a write's reprogramming does not (its budget is ~100 ms).
 */
export async function syncLinux(
  ctx: CliContext,
  options: { force?: boolean; checkDrift?: boolean; settleMs?: number } = {},
): Promise<{ dataplane: LinuxDataplane; description: ClusterDataplane; applied: boolean }> {
  // One process programs the kernel at a time, from the store as it is once it has the turn (a write's sync and
  // another command's repair never interleave their iptables-restores).
  const timings = new SyncTimings(options.settleMs);
  return withLinuxLock(ctx, async () => {
    timings.mark("lock");
    const { topology, description, ipipPool } = await describeCluster(ctx, timings);
    // A mode the linux dataplane does not build (eBPF; IPIP without the kernel's driver): one line, nothing applied.
    const refused = await modeRefusal(description, ipipPool);
    if (refused) throw new TortieError("Invalid", refused);
    // Read once per sync (~100 KB of JSON): the dataplane's apply starts from this same record, which no other
    // process writes while the lock is held.
    const record = readRecord(linuxStateDir(ctx));
    const dataplane = linuxDataplane(ctx, topology.name, record);
    const previous = record?.applied;
    timings.mark("read record");
    // Drift (a namespace deleted or an app killed by hand) is repaired by a full reconcile, as a pending record is.
    const drift = previous !== undefined && record !== undefined && (await kernelDrift(record));
    const pending = record?.pending === true;
    timings.mark("kernel drift check");
    // Other drift (a link, address, route, sysctl, ipset member, nft table or chain changed by hand): a full pass
    // of the namespaces where it is only.
    const drifted =
      options.checkDrift && previous !== undefined && !drift && !pending && !options.force
        ? (await dataplane.drift(previous)).map((x) => x.namespace)
        : [];
    const due =
      options.force || drift || pending || drifted.length > 0 || !sameDescription(previous, description);
    timings.mark("compare");
    if (due)
      await dataplane
        .apply(description, drift ? undefined : previous, { reconcile: drifted })
        .catch((e: unknown) => {
          // The dataplane's errors name the namespace, the command and its stderr: one line, not a stack.
          if (isTortieError(e)) throw e;
          throw new TortieError("Internal", `the linux dataplane: ${(e as Error)?.message ?? e}`);
        });
    timings.mark(due ? "kernel apply" : "kernel apply (nothing to do)");
    timings.print(ctx, "linux dataplane sync");
    return { dataplane, description, applied: due };
  });
}

/**
 * Runs `fn` holding the state dir's linux-dataplane lock: one process programs or removes the kernel's cluster at
 * a time. `down` holds it across the kernel's sweep and the store's removal, so a sync waiting for it (an `up`, a
 * write's reprogramming) finds no cluster instead of building the namespaces again under a deleted record.
 * Without a state dir there is no linux dataplane: `fn` runs alone.
 */
export function withLinuxLock<T>(ctx: CliContext, fn: () => Promise<T>): Promise<T> {
  if (ctx.stateDir === undefined) return fn();
  return new ProcessLock(join(ctx.stateDir, "store"), "linux-dataplane").withLock(fn, LOCK_WAIT_MS);
}

/** How long a command waits for another process programming the kernel (a full `up` of the lab takes ~10 s). */
const LOCK_WAIT_MS = 120_000;

/** True when a namespace or process the record says is there is not in the kernel any more. */
async function kernelDrift(record: LinuxRecord): Promise<boolean> {
  const alive = await kernelNamespaces();
  if (record.namespaces.some((n) => !alive.has(n))) return true;
  // Gone, a zombie, or its pid reused by another process (the record keeps each one's start time).
  return Object.values(record.pids).some((p) => p.pid > 0 && !sameProcess(p));
}

/** True when the stored Topology says the cluster runs on the linux dataplane. */
export async function onLinuxDataplane(ctx: CliContext): Promise<boolean> {
  return (await readTopology(ctx.store()))?.dataplane === "linux";
}

/**
 * After a write command settled: on the linux dataplane, the kernel takes what changed. A failure is one warning
 * line; the kernel keeps its last good rules and the next command that needs the kernel repairs it.
 */
export async function syncAfterWrite(ctx: CliContext, settleMs?: number): Promise<void> {
  // No record, no kernel state to keep programmed: a sim cluster (or a store that cannot be read, whose error the
  // command reports itself) costs no store read here.
  if (ctx.stateDir === undefined || !existsSync(recordPath(ctx.stateDir))) return;
  try {
    if (!(await onLinuxDataplane(ctx))) return;
    await syncLinux(ctx, settleMs === undefined ? {} : { settleMs });
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
  const processes = d.hosts.reduce((n, h) => n + runningApps(h.processes), 0);
  const bird = d.hosts.filter((h) => h.bird && !h.birdFailure).length;
  const noBird = d.hosts.filter((h) => h.birdFailure).map((h) => h.host);
  const left = d.hosts.reduce((n, h) => n + h.unsupported.length, 0);
  return `${plural(namespaces, "namespace")}, ${plural(processes, "process", "processes")}, BIRD on ${plural(bird, "host")}${left ? `; ${plural(left, "policy rule")} left out (not supported yet)` : ""}${noBird.length ? `; BIRD not running on ${noBird.join(", ")} (tortie exec says why)` : ""}`;
}

/** The kernel as the last command left it, repaired first if a write's reprogramming did not finish. */
export async function openLinux(
  ctx: CliContext,
): Promise<{ dataplane: LinuxDataplane; description: ClusterDataplane }> {
  assertLinuxRoot();
  try {
    const { dataplane, description } = await syncLinux(ctx, { checkDrift: true });
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
    rmSync(join(stateDir, DESCRIBE_CACHE_FILE), { force: true });
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
  rmSync(join(stateDir, DESCRIBE_CACHE_FILE), { force: true });
  const after = await kernelNamespaces();
  const removed = [...before].filter((n) => !after.has(n)).length;
  return `; ${removed} linux network namespace${removed === 1 ? "" : "s"} removed`;
}

/**
 * The kernel's named network namespaces: the names `ip netns list` prints, read from the directory it reads
 * (iproute2's NETNS_RUN_DIR) without starting a process for it: a write's sync asks this, and a spawn costs it
 * 20–40 ms of its ~100 ms budget.
 */
async function kernelNamespaces(): Promise<Set<string>> {
  try {
    return new Set(await readdir(NETNS_RUN_DIR));
  } catch (e) {
    // No namespace was ever named on this machine: iproute2 creates the directory with the first one.
    if ((e as NodeJS.ErrnoException)?.code === "ENOENT") return new Set();
    throw e;
  }
}

const NETNS_RUN_DIR = "/run/netns";

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
    expected += runningApps(h.processes) + (h.bird ? 1 : 0);
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
