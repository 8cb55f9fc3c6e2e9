/**
 * npm run bench [-- SECTION...]: store, CLI, IPAM, kube-proxy rendering, policy, the sim dataplane, BGP and the
 * scaling rows. Prints a calibration figure first (a fixed CPU-bound loop), then runs every row BENCH_RUNS times
 * (default 3) and prints a Markdown table of median and range, each row beside its anchor measured in the same
 * run; docs/PERFORMANCE.md records a run.
 *
 * `npm run bench` bundles this file with esbuild and runs it with node --expose-gc (bench/launch.mjs), as the
 * product runs; `npm run bench:tsx` runs the sources through tsx. Sections: `npm run bench -- --list`. The heavy
 * ones (the 5,000-node route-reflector run, the 1,000-host scaling row) run only when named or with BENCH_HEAVY=1.
 * BENCH_SCALE=0.1 scales sizes down for a quick look.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findKind } from "../src/api/index.ts";
import { FileBackend, ResourceClient } from "../src/store/index.ts";
import {
  anchorRows,
  calibrationAnchor,
  fsyncAnchor,
  kubectlAnchor,
  kubectlMissing,
  pairWithRow,
} from "./anchors.ts";
import { benchApiServer } from "./api-server.ts";
import { benchBgpConvergence } from "./bgp-convergence.ts";
import { CALIBRATION_ITERATIONS, calibrate } from "./calibrate.ts";
import { benchIpam } from "./ipam.ts";
import { benchKernelProgramming } from "./kernel-programming.ts";
import { benchKubeProxy } from "./kube-proxy.ts";
import { benchLinuxDataplane } from "./linux-dataplane.ts";
import { benchNetfilterLoad } from "./netfilter-load.ts";
import { benchPolicy } from "./policy.ts";
import {
  type Anchor,
  foldRuns,
  formatMs,
  markdownTable,
  median,
  type RecordRow,
  type Sample,
} from "./record.ts";
import { benchScaling, parseScalingCases } from "./scaling.ts";
import { benchServiceDispatch } from "./service-dispatch.ts";
import { benchSimPackets } from "./sim-packets.ts";
import { benchStartup } from "./startup.ts";

// The sections measure tortie without an API server (`up` starts none; commands run in their own process), as
// their recorded figures did; the api-server section sets it per command.
process.env.TORTIE_NO_SERVER = "1";
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "tortie");
const scale = positive("BENCH_SCALE", 1);
const runs = positiveInt("BENCH_RUNS", 3);
const N_APPLY = Math.round(10_000 * scale);
const N_LOAD = Math.round(100_000 * scale);
const dirs: string[] = [];

function positive(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!(n > 0)) fail(`${name} must be a positive number, got "${v}"`);
  return n;
}

function positiveInt(name: string, fallback: number): number {
  const n = positive(name, fallback);
  if (!Number.isInteger(n)) fail(`${name} must be a positive integer, got "${process.env[name]}"`);
  return n;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tortie-bench-"));
  dirs.push(d);
  return d;
}

function configMap(i: number, ns: string) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `cm-${i}`, namespace: ns, labels: { app: `a${i % 10}` } },
    data: { key: `value-${i}`, more: "x".repeat(100) },
  };
}

async function libraryApplyAndGet(record: RecordRow): Promise<void> {
  const dir = tmp();
  const store = new ResourceClient(new FileBackend(join(dir, "store")));
  await store.ensureBuiltIns();
  // The disk's floor for the durable creates below, measured just before them.
  const floor = fsyncAnchor(dir, Math.max(100, Math.round(N_APPLY / 10)));
  let t = performance.now();
  for (let i = 0; i < N_APPLY; i++) await store.create(configMap(i, "default"));
  record("create ConfigMaps (library, file store, fsync each)", N_APPLY, performance.now() - t, "", floor);
  const def = findKind("v1", "ConfigMap")!;
  t = performance.now();
  for (let i = 0; i < N_APPLY; i++) await store.get(def, `cm-${i}`, "default");
  record("get by name (library)", N_APPLY, performance.now() - t);
  t = performance.now();
  const all = await store.list(def, "default");
  record("list all (library)", all.length, performance.now() - t);
}

function tortie(state: string, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [bin, "--state-dir", state, ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`tortie ${args.join(" ")}: ${r.stderr}`);
  return performance.now() - t;
}

function cliApplyAndGet(record: RecordRow): void {
  const dir = tmp();
  const file = join(dir, "many.yaml");
  const docs = [];
  for (let i = 0; i < N_APPLY; i++) docs.push(JSON.stringify(configMap(i, "default")));
  writeFileSync(file, docs.join("\n---\n"));
  const state = join(dir, "state");
  record(
    "tortie kubectl apply -f (10k-document file, one process)",
    N_APPLY,
    tortie(state, ["kubectl", "apply", "-f", file]),
    "includes process start, parse, validate, 3-way merge",
  );
  record(
    "tortie kubectl get configmaps (table)",
    N_APPLY,
    tortie(state, ["kubectl", "get", "configmaps"]),
    "includes process start and store load",
  );
  record(
    "tortie kubectl get cm cm-42 (one object, 10k in store)",
    1,
    tortie(state, ["kubectl", "get", "cm", "cm-42"]),
    "process start + store load",
  );
}

/** The 100k-object store, built once (through the backend, then folded into one snapshot) for every run. */
let largeStore: string | undefined;

async function loadLargeStore(record: RecordRow): Promise<void> {
  if (!largeStore) {
    const dir = join(tmp(), "store");
    const backend = new FileBackend(dir, { compactAfterRecords: N_LOAD });
    const t0 = performance.now();
    // Batches of concurrent creates: the store's group commit makes a batch one fdatasync (this is only the
    // fixture; the row is the load).
    for (let i = 0; i < N_LOAD; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(N_LOAD, i + 1000); j++)
        batch.push(backend.create(`/registry/core/configmaps/default/cm-${j}`, configMap(j, "default")));
      await Promise.all(batch);
    }
    await backend.compact(await backend.revision());
    await backend.close();
    console.error(`built ${N_LOAD} objects in ${(performance.now() - t0).toFixed(0)} ms`);
    largeStore = dir;
  }
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  const loaded = new FileBackend(largeStore);
  const { items } = await loaded.list("/registry/");
  const ms = performance.now() - t;
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  await loaded.close();
  record("load store from disk (snapshot) and list", items.length, ms, `heap +${heapMb.toFixed(0)} MB`);
}

/** A part of the benchmark `npm run bench -- NAME` selects. */
interface Section {
  name: string;
  what: string;
  /** Only when named, or with BENCH_HEAVY=1. */
  heavy?: boolean;
  /** Runs of this section when BENCH_RUNS is not set (long single measurements). */
  runs?: number;
  /** Rows that start a tortie process get the real kubectl's start-up, measured at the start of each run. */
  startupAnchor?: (what: string) => boolean;
  /** Rows that get the calibration loop's CPU time, measured at the start of each run. */
  calibrationAnchor?: boolean;
  /** Pairs rows with anchor rows of the same run (e.g. the naive evaluator), after each run. */
  pair?: (samples: Sample[]) => void;
  /** Records rows; may return Markdown of its own (a table of another shape). */
  run: (record: RecordRow) => Promise<string | undefined> | string | undefined | Promise<void> | void;
}

const startsTortie = (what: string) => /^`?tortie /.test(what);

const SECTIONS: Section[] = [
  {
    name: "store",
    what: "library create/get/list on the file store; loading a 100k-object snapshot",
    run: async (record) => {
      await libraryApplyAndGet(record);
      await loadLargeStore(record);
    },
  },
  {
    name: "startup",
    what: "tortie --help, kubectl get on the lab, up --app yaobank: bundle and tsx sources (anchor: kubectl version --client)",
    run: (record) => benchStartup(record, bin, tmp),
  },
  {
    name: "cli",
    what: "tortie kubectl apply/get of 10k ConfigMaps, each a process (anchor: kubectl version --client)",
    startupAnchor: startsTortie,
    run: (record) => cliApplyAndGet(record),
  },
  {
    name: "api-server",
    what: "tortie serve over HTTPS with 10k ConfigMaps, then 10k pods: creates, lists (pods as JSON and as a Table), gets; kubectl get pods forwarded and local (anchor: the real kubectl through the same server); file store and etcd",
    runs: 1,
    run: (record) => benchApiServer(record, bin, tmp, scale),
  },
  {
    name: "ipam",
    what: "IPAM allocate/release at 150k pods × 5k nodes (anchor: the store's floor), file store",
    pair: (samples) => {
      pairWithRow(
        samples,
        (w) => /store floor/.test(w),
        (w) => /memory store/.test(w),
      );
    },
    run: async (record) => {
      const floor = fsyncAnchor(tmp(), 200);
      await benchIpam(
        (what, count, ms, extra, anchor) =>
          record(what, count, ms, extra, anchor ?? (/file store/.test(what) ? floor : undefined)),
        scale,
        tmp,
      );
    },
  },
  {
    name: "kube-proxy",
    what: "kube-proxy iptables/nftables render at 10k services × 25 endpoints; tortie up",
    startupAnchor: startsTortie,
    run: (record) => benchKubeProxy(record, scale, bin, tmp),
  },
  {
    name: "policy",
    what: "selectors, verdicts, the 5k-pod policy matrix (anchor: the naive evaluator)",
    pair: (samples) =>
      pairWithRow(
        samples,
        (w) => /naive/.test(w),
        (w) => !/per endpoint|recomput/i.test(w),
      ),
    run: (record) => benchPolicy(record, scale),
  },
  {
    name: "service-dispatch",
    what: "first packet to a cluster IP with 10k services, iptables vs nftables mode",
    run: (record) => benchServiceDispatch(record, scale),
  },
  {
    name: "netfilter",
    what: "the sim's iptables-restore of kube-proxy's 78 MB payload, and --noflush (anchor: the kernel's, when root)",
    run: (record) => benchNetfilterLoad(record, scale),
  },
  {
    name: "kernel-programming",
    what: "kube-proxy's 10k-service ruleset into a real netns, full and one service changed (anchor: the kernel's iptables-restore of the same bytes; root only)",
    run: (record) => benchKernelProgramming(record, scale),
  },
  {
    name: "linux-dataplane",
    what: "up --dataplane linux --app yaobank on the lab, and one policy change to the kernel (anchor: the kernel's iptables-restore --noflush of the same deltas; root only)",
    run: (record) => benchLinuxDataplane(record, bin),
  },
  {
    name: "packets",
    what: "established segments and whole curls through the sim (anchor: the calibration loop)",
    calibrationAnchor: true,
    run: (record) => benchSimPackets(record, scale),
  },
  {
    name: "bgp",
    what: "BGP convergence, 1,000-node full mesh (one run unless BENCH_RUNS is set)",
    runs: 1,
    run: (record) => benchBgpConvergence(record, scale, "mesh"),
  },
  {
    name: "bgp-rr",
    what: "BGP convergence, 5,000 nodes with two route reflectors (heavy: ~20 min, ~11 GB)",
    heavy: true,
    runs: 1,
    run: (record) => benchBgpConvergence(record, scale, "rr"),
  },
  {
    name: "scaling",
    what: "up/apply/get/exec at 4, 50 and 200 hosts (node-to-node mesh), one process each",
    runs: 1,
    run: () =>
      benchScaling(
        bin,
        parseScalingCases(process.env.BENCH_SCALING ?? "4:mesh,50:mesh,200:mesh"),
        kubectlAnchor(),
      ),
  },
  {
    name: "scaling-1000",
    what: "up/apply/get/exec at 4 and 1,000 hosts with route reflectors (heavy)",
    heavy: true,
    runs: 1,
    run: () => benchScaling(bin, parseScalingCases("4:reflectors,1000:reflectors"), kubectlAnchor()),
  },
];

function selectSections(args: string[]): Section[] {
  if (args.some((a) => ["--list", "-l", "--help", "-h"].includes(a))) {
    console.log(
      "npm run bench [-- SECTION... | all]   (BENCH_RUNS=3, BENCH_SCALE=1, BENCH_HEAVY=0; npm run bench:tsx runs the sources)\n",
    );
    for (const s of SECTIONS) console.log(`${s.name.padEnd(18)}${s.heavy ? "(heavy) " : ""}${s.what}`);
    process.exit(0);
  }
  const unknown = args.filter((a) => a !== "all" && !SECTIONS.some((s) => s.name === a));
  if (unknown.length > 0)
    fail(`unknown section "${unknown[0]}"; sections: ${SECTIONS.map((s) => s.name).join(", ")}, all`);
  if (args.includes("all")) return SECTIONS;
  if (args.length > 0) return SECTIONS.filter((s) => args.includes(s.name));
  const heavy = process.env.BENCH_HEAVY === "1";
  return SECTIONS.filter((s) => heavy || !s.heavy);
}

const sections = selectSections(process.argv.slice(2));
const started = performance.now();
// bin/tortie rebuilds its bundle when a source is newer: do that (and fill its code cache) before timing.
spawnSync(process.execPath, [bin, "--help"], { stdio: "ignore" });
const load0 = loadavg()[0]!;
calibrate(1_000_000); // warm the loop up (JIT) before it is timed
const calibrations: number[] = [];
for (let i = 0; i < runs; i++) calibrations.push(calibrate().cpuMs);
console.error(`calibration: ${calibrations.map((c) => formatMs(c)).join(", ")}`);

const samples: Sample[] = [];
const extraTables: string[] = [];
for (const section of sections) {
  const n = process.env.BENCH_RUNS ? runs : (section.runs ?? runs);
  for (let run = 0; run < n; run++) {
    console.error(`— ${section.name}, run ${run + 1} of ${n}`);
    const startup: Anchor | undefined = section.startupAnchor ? kubectlAnchor() : undefined;
    const cal: Anchor | undefined = section.calibrationAnchor ? calibrationAnchor() : undefined;
    const these: Sample[] = [];
    const record: RecordRow = (what, count, ms, extra = "", anchor) => {
      these.push({ section: section.name, run, what, count, ms, extra, ...(anchor ? { anchor } : {}) });
      console.error(`${what}: ${count} in ${ms.toFixed(0)} ms`);
    };
    const table = await section.run(record);
    if (typeof table === "string" && table !== "") extraTables.push(table);
    if (section.startupAnchor) anchorRows(these, startup, section.startupAnchor);
    if (cal) anchorRows(these, cal, () => true);
    section.pair?.(these);
    samples.push(...these);
  }
}
const calibrationEnd = calibrate().cpuMs;
for (const d of dirs) rmSync(d, { recursive: true, force: true });

const m = median(calibrations);
const lo = Math.min(...calibrations);
const hi = Math.max(...calibrations);
console.log(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
    `load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end; ` +
    `${((performance.now() - started) / 60_000).toFixed(1)} min\n`,
);
console.log(
  `Calibration (${CALIBRATION_ITERATIONS / 1e6}M iterations of an integer hash, CPU time): ${formatMs(m)} median ` +
    `(${formatMs(lo).replace(/ ms$/, "")}–${formatMs(hi)} over ${runs} runs) at the start, ${formatMs(calibrationEnd)} at the end. ` +
    `Rows: median and range (min–max) of ${runs} runs (BENCH_RUNS; the sections marked "(1 run)" run once unless it is set), ` +
    "± half the range over the median; anchors measured in the same run.\n",
);
if (kubectlMissing) console.log(`No kubectl anchor: ${kubectlMissing}\n`);
const rows = foldRuns(samples);
if (rows.length > 0) console.log(`${markdownTable(rows)}\n`);
for (const t of extraTables) console.log(`${t}\n`);
