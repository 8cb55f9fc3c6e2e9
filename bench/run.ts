/**
 * npm run bench: store, CLI, IPAM, kube-proxy rendering, policy and sim dataplane throughput. Writes a Markdown table to stdout; docs/PERFORMANCE.md records a run.
 * Sizes can be scaled down with BENCH_SCALE=0.1 for a quick look.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { findKind } from "../src/api/index.ts";
import { FileBackend, ResourceClient } from "../src/store/index.ts";
import { benchBgpConvergence } from "./bgp-convergence.ts";
import { benchIpam } from "./ipam.ts";
import { benchKubeProxy } from "./kube-proxy.ts";
import { benchPolicy } from "./policy.ts";
import { benchServiceDispatch } from "./service-dispatch.ts";
import { benchSimPackets } from "./sim-packets.ts";

const scale = Number(process.env.BENCH_SCALE ?? "1");
const N_APPLY = Math.round(10_000 * scale);
const N_LOAD = Math.round(100_000 * scale);
const bin = new URL("../bin/tortie", import.meta.url).pathname;
const rows: string[][] = [];
const dirs: string[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tortie-bench-"));
  dirs.push(d);
  return d;
}

function record(what: string, count: number, ms: number, extra = ""): void {
  rows.push([
    what,
    String(count),
    `${ms.toFixed(0)} ms`,
    `${Math.round((count / ms) * 1000).toLocaleString("en-US")}/s`,
    extra,
  ]);
  console.error(`${what}: ${count} in ${ms.toFixed(0)} ms`);
}

function configMap(i: number, ns: string) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `cm-${i}`, namespace: ns, labels: { app: `a${i % 10}` } },
    data: { key: `value-${i}`, more: "x".repeat(100) },
  };
}

async function libraryApplyAndGet(): Promise<void> {
  const store = new ResourceClient(new FileBackend(join(tmp(), "store")));
  await store.ensureBuiltIns();
  let t = performance.now();
  for (let i = 0; i < N_APPLY; i++) await store.create(configMap(i, "default"));
  record("create ConfigMaps (library, file store, fsync each)", N_APPLY, performance.now() - t);
  const def = findKind("v1", "ConfigMap")!;
  t = performance.now();
  for (let i = 0; i < N_APPLY; i++) await store.get(def, `cm-${i}`, "default");
  record("get by name (library)", N_APPLY, performance.now() - t);
  t = performance.now();
  const all = await store.list(def, "default");
  record("list all (library)", all.length, performance.now() - t);
}

function cliApplyAndGet(): void {
  const dir = tmp();
  const file = join(dir, "many.yaml");
  const docs = [];
  for (let i = 0; i < N_APPLY; i++) docs.push(JSON.stringify(configMap(i, "default")));
  writeFileSync(file, docs.join("\n---\n"));
  const state = join(dir, "state");
  let t = performance.now();
  const apply = spawnSync(process.execPath, [bin, "--state-dir", state, "kubectl", "apply", "-f", file], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (apply.status !== 0) throw new Error(apply.stderr);
  record(
    "tortie kubectl apply -f (10k-document file, one process)",
    N_APPLY,
    performance.now() - t,
    "includes process start, parse, validate, 3-way merge",
  );
  t = performance.now();
  const get = spawnSync(process.execPath, [bin, "--state-dir", state, "kubectl", "get", "configmaps"], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (get.status !== 0) throw new Error(get.stderr);
  record(
    "tortie kubectl get configmaps (table)",
    N_APPLY,
    performance.now() - t,
    "includes process start and store load",
  );
  t = performance.now();
  spawnSync(process.execPath, [bin, "--state-dir", state, "kubectl", "get", "cm", "cm-42"], {
    encoding: "utf8",
  });
  rows.push([
    "tortie kubectl get cm cm-42 (one object, 10k in store)",
    "1",
    `${(performance.now() - t).toFixed(0)} ms`,
    "",
    "process start + store load",
  ]);
}

async function loadLargeStore(): Promise<void> {
  const dir = join(tmp(), "store");
  const backend = new FileBackend(dir, { compactAfterRecords: N_LOAD });
  const t0 = performance.now();
  for (let i = 0; i < N_LOAD; i++)
    await backend.create(`/registry/core/configmaps/default/cm-${i}`, configMap(i, "default"));
  await backend.compact(await backend.revision());
  console.error(`built ${N_LOAD} objects in ${(performance.now() - t0).toFixed(0)} ms`);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t = performance.now();
  const loaded = new FileBackend(dir);
  const { items } = await loaded.list("/registry/");
  const ms = performance.now() - t;
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  record("load store from disk (snapshot) and list", items.length, ms, `heap +${heapMb.toFixed(0)} MB`);
}

await libraryApplyAndGet();
cliApplyAndGet();
await loadLargeStore();
await benchIpam(record, scale, tmp);
benchKubeProxy(record, scale, bin, tmp);
benchPolicy(record, scale);
benchServiceDispatch(record, scale);
await benchSimPackets(record, scale);
benchBgpConvergence(record, scale);
for (const d of dirs) rmSync(d, { recursive: true, force: true });

console.log(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`,
);
console.log("| measurement | objects | time | rate | notes |\n|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
