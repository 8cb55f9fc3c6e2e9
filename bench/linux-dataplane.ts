/**
 * The linux dataplane on the lab, as a user runs it (root only; elsewhere the section prints why it was skipped):
 * `tortie up --dataplane linux --app yaobank` (wall time of the bin/tortie process, its phases from
 * TORTIE_TIMINGS=1, and the time until YAO Bank's node port page answers from host1), then one policy change to
 * the kernel: `tortie kubectl apply -f policy.yaml` (and its delete) as the user sees it, and the part after the
 * store write (describe + kernel apply) from TORTIE_TIMINGS. The anchor, measured in the same run: the kernel's own
 * floor, `iptables-restore --noflush` of the very delta payloads tortie loaded, into the same namespaces.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterDataplane } from "../src/calc/index.ts";
import { iptablesDelta } from "../src/calc/index.ts";
import { BUILT_IN_TOPOLOGIES } from "../src/control/index.ts";
import { bird2Binaries, hostNetns, linuxUnavailable } from "../src/dataplane/linux/index.ts";
import type { RecordRow } from "./record.ts";
import { median } from "./record.ts";

/** A GlobalNetworkPolicy that denies the customer pod's ingress: every node's Felix rules change. */
const POLICY =
  "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: bench-deny-customer\nspec:\n  selector: app == 'customer'\n  types: [Ingress]\n";
/** Policy changes per run: apply and delete alternate, so each one changes the kernel. */
const CHANGES = 6;
/** How long `up` may take before the row fails (the target is 20 s). */
const UP_TIMEOUT_MS = 180_000;
/** How long after `up` the node port page may take to answer. */
const READY_TIMEOUT_MS = 30_000;

/** Why the section cannot run here, or undefined when it can. */
function linuxMissing(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root";
  const why = linuxUnavailable();
  if (why) return why;
  const b = bird2Binaries();
  const missing = [b.bird1.bird, b.bird2.bird].filter((p) => !existsSync(p));
  if (missing.length) return `needs BIRD (${missing.join(", ")}; TORTIE_BIRD2_DIR names BIRD 2's directory)`;
  if (spawnSync("sh", ["-c", "command -v curl"]).status !== 0) return "needs curl";
  return undefined;
}

interface Run {
  ms: number;
  out: string;
  err: string;
}

/** The phases of the `tortie timings:` line (TORTIE_TIMINGS=1), by name, and the process age it started at. */
interface Timings {
  startedAt: number;
  /** The settle after the command's own write (write commands only). */
  settle?: number;
  phases: Map<string, number>;
  total: number;
}

function parseTimings(stderr: string): Timings | undefined {
  const line = stderr.split("\n").find((l) => l.startsWith("tortie timings: linux dataplane sync:"));
  const m =
    line &&
    /started at process age (\d+) ms(?: \(settle before it ([\d.]+) ms\))?; (.*); total ([\d.]+) ms/.exec(
      line,
    );
  if (!m) return undefined;
  const phases = new Map<string, number>();
  for (const part of m[3]!.split(", ")) {
    const p = /^(.*) ([\d.]+) ms$/.exec(part);
    if (p) phases.set(p[1]!, Number(p[2]));
  }
  return {
    startedAt: Number(m[1]),
    ...(m[2] === undefined ? {} : { settle: Number(m[2]) }),
    phases,
    total: Number(m[4]),
  };
}

const ms = (x: number | undefined) => (x === undefined ? "?" : `${x.toFixed(0)} ms`);

/** One cluster of the lab under a unique name, on its own state dir; `down` removes it. */
class BenchCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "tortie-bench-linux-"));
  readonly name: string;
  readonly topology: string;

  constructor(
    private readonly bin: string,
    suffix: string,
  ) {
    this.name = `b${process.pid}${suffix}`;
    const lab = structuredClone(BUILT_IN_TOPOLOGIES.lab!);
    lab.metadata = { name: this.name };
    this.topology = join(this.dir, "topology.json");
    writeFileSync(this.topology, JSON.stringify(lab));
  }

  tortie(args: string[], timeoutMs = 60_000): Run {
    const t = performance.now();
    const r = spawnSync(process.execPath, [this.bin, ...args, "--state-dir", this.dir], {
      encoding: "utf8",
      timeout: timeoutMs,
      env: { ...process.env, TORTIE_TIMINGS: "1" },
    });
    const elapsed = performance.now() - t;
    if (r.error || r.status !== 0)
      throw new Error(
        `tortie ${args.join(" ")}: ${r.error?.message ?? `exit ${r.status}: ${r.stderr.trim().split("\n").at(-1)}`}`,
      );
    return { ms: elapsed, out: r.stdout, err: r.stderr };
  }

  /** The description the kernel holds (the record's last complete apply). */
  applied(): ClusterDataplane {
    const record = JSON.parse(readFileSync(join(this.dir, "linux", "record.json"), "utf8"));
    if (!record.applied) throw new Error("the linux record has no applied description");
    return record.applied as ClusterDataplane;
  }

  netns(host: string): string {
    return hostNetns(this.name, host);
  }

  /** `tortie down`; then anything left under the cluster's prefix is removed by hand. */
  down(): void {
    spawnSync(process.execPath, [this.bin, "down", "--state-dir", this.dir], { encoding: "utf8" });
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
      .stdout.split("\n")
      .map((l) => l.split(" ")[0]!)
      .filter((n) => n === `tt-${this.name}` || n.startsWith(`tt-${this.name}-`));
    for (const n of left) spawnSync("ip", ["netns", "del", n]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Milliseconds until host1 gets YAO Bank's node port page (HTTP 200), polling. */
function untilPageAnswers(c: BenchCluster): number {
  const t = performance.now();
  while (performance.now() - t < READY_TIMEOUT_MS) {
    const r = spawnSync(
      "nsenter",
      [
        `--net=/run/netns/${c.netns("host1")}`,
        "--",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "1",
        "http://198.19.0.2:30180/",
      ],
      { encoding: "utf8" },
    );
    if (r.stdout === "200") return performance.now() - t;
    spawnSync("sleep", ["0.05"]);
  }
  throw new Error(`YAO Bank's node port page did not answer from host1 within ${READY_TIMEOUT_MS / 1000} s`);
}

/**
 * The kernel floor for one change: the delta payloads tortie loaded (computed from the descriptions before and
 * after, as dataplane/linux computes them), each piped to `iptables-restore --noflush` in its namespace again, as
 * tortie pipes them (nsenter, one process per namespace). Loading a delta twice leaves the same rules.
 */
function kernelFloor(c: BenchCluster, before: ClusterDataplane, after: ClusterDataplane): number {
  const loads: [string, string][] = [];
  for (const h of after.hosts) {
    const previous = before.hosts.find((x) => x.host === h.host);
    const ns = h.namespaces.find((n) => n.kind === "host");
    const was = previous?.namespaces.find((n) => n.kind === "host");
    if (!ns || !was) continue;
    const delta = iptablesDelta(was.iptables, ns.iptables);
    if (delta) loads.push([c.netns(h.host), delta]);
  }
  const t = performance.now();
  for (const [netns, delta] of loads) {
    const r = spawnSync("nsenter", [`--net=/run/netns/${netns}`, "--", "iptables-restore", "--noflush"], {
      input: delta,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`iptables-restore --noflush in ${netns}: ${r.stderr.trim()}`);
  }
  return performance.now() - t;
}

let runIndex = 0;

/** The section's rows (see the file's comment). */
export function benchLinuxDataplane(record: RecordRow, bin: string): string | undefined {
  const missing = linuxMissing();
  if (missing) return `linux-dataplane: skipped: ${missing}`;
  const c = new BenchCluster(bin, `r${runIndex++}`);
  try {
    const up = c.tortie(
      ["up", "--topology", c.topology, "--dataplane", "linux", "--app", "yaobank"],
      UP_TIMEOUT_MS,
    );
    const ready = untilPageAnswers(c);
    const t = parseTimings(up.err);
    const beforeKernel = t?.startedAt;
    record(
      "`tortie up --dataplane linux --app yaobank` (the lab; wall time of the process)",
      1,
      up.ms,
      `before the kernel (start, bootstrap, settle, app): ${ms(beforeKernel)}; describe ${ms(t?.phases.get("describe"))}; kernel apply (namespaces, links, rules, BIRD, apps started) ${ms(t?.phases.get("kernel apply"))}; then ${ms(ready)} until host1 gets the node port page`,
    );
    record("up --dataplane linux until YAO Bank's node port page answers from host1", 1, up.ms + ready);

    const policy = join(c.dir, "policy.yaml");
    writeFileSync(policy, POLICY);
    const walls: number[] = [];
    const syncs: Timings[] = [];
    const floors: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const before = c.applied();
      const r = c.tortie(
        i % 2 === 0 ? ["kubectl", "apply", "-f", policy] : ["kubectl", "delete", "-f", policy],
      );
      if (/warning/.test(r.err)) throw new Error(`the policy change warned: ${r.err.trim()}`);
      const s = parseTimings(r.err);
      if (!s?.phases.has("kernel apply"))
        throw new Error(`the policy change did not reprogram the kernel: ${r.err}`);
      walls.push(r.ms);
      syncs.push(s);
      floors.push(kernelFloor(c, before, c.applied()));
    }
    const floor = {
      what: "kernel floor: iptables-restore --noflush of the same deltas, same namespaces",
      ms: median(floors),
    };
    const phase = (name: string) => median(syncs.map((s) => s.phases.get(name) ?? 0));
    record(
      `\`tortie kubectl apply -f policy.yaml\` / delete: one policy change, wall time (median of ${CHANGES})`,
      1,
      median(walls),
      `range ${ms(Math.min(...walls))}–${ms(Math.max(...walls))}; the sync started at process age ${ms(median(syncs.map((s) => s.startedAt)))} (start, parse, store write, settle)`,
      floor,
    );
    const withSettle = syncs.map((s) => (s.settle ?? Number.NaN) + s.total);
    if (withSettle.every((x) => !Number.isNaN(x)))
      record(
        `one policy change: store write → kernel, settle included (TORTIE_TIMINGS; median of ${CHANGES})`,
        1,
        median(withSettle),
        `range ${ms(Math.min(...withSettle))}–${ms(Math.max(...withSettle))}; the controllers' settle after the write ${ms(median(syncs.map((s) => s.settle!)))}, then the sync (next row)`,
        floor,
      );
    record(
      `one policy change: the sync after the settle (describe + apply, TORTIE_TIMINGS; median of ${CHANGES})`,
      1,
      median(syncs.map((s) => s.total)),
      `range ${ms(Math.min(...syncs.map((s) => s.total)))}–${ms(Math.max(...syncs.map((s) => s.total)))}; read store ${ms(phase("read store"))}, describe ${ms(phase("describe"))}, read record ${ms(phase("read record"))}, drift check ${ms(phase("kernel drift check"))}, kernel apply ${ms(phase("kernel apply"))}; floor range ${ms(Math.min(...floors))}–${ms(Math.max(...floors))}`,
      floor,
    );
    return undefined;
  } finally {
    c.down();
  }
}
