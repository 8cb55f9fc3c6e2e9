// Crash suite: writers killed at random byte offsets of their WAL appends (TORTIE_FAULT_KILL_AFTER_WAL_BYTES:
// the process writes exactly N more log bytes, a torn record at the end, then SIGKILLs itself). For a scale-up,
// a scale-down, an apply of 200 objects and pod creation (IPAM allocation) it checks: the next command exits 0
// without a warning, `ipam check` is clean and the cluster is settled, and no acknowledged write is lost (every
// object the killed command printed as done is there, as printed).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openClusterStore } from "../../src/cli/context.ts";
import { controlKinds as kinds } from "../../src/control/index.ts";
import { seededRandom } from "../../src/lib/index.ts";
import { assertConverged } from "./converged.ts";

const SEED = Number(process.env.TORTIE_CRASH_SEED ?? 16_2024);
const KILLS = Number(process.env.TORTIE_CRASH_KILLS ?? 4);
const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "tortie-crash-suite-"));
const base = join(dir, "base");
after(() => rmSync(dir, { recursive: true, force: true }));

function tortie(state: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, "--state-dir", state, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

function ok(state: string, args: string[]): string {
  const r = tortie(state, args);
  assert.equal(r.code, 0, `tortie ${args.join(" ")}: ${r.err}`);
  return r.out;
}

function walSize(state: string): number {
  return statSync(join(state, "store", "wal.log")).size;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 8
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
`;

function manyObjects(): string {
  const docs: string[] = [];
  for (let i = 0; i < 190; i++)
    docs.push(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: default\ndata:\n  i: "${i}"\n`,
    );
  for (let i = 0; i < 10; i++)
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: bulk-${i}\n  namespace: default\n  labels: {bulk: "${i}"}\nspec:\n  containers:\n  - name: c\n    image: busybox\n`,
    );
  return docs.join("---\n");
}

function pods(n: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++)
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: made-${i}\n  namespace: default\nspec:\n  containers:\n  - name: c\n    image: busybox\n`,
    );
  return docs.join("---\n");
}

before(() => {
  writeFileSync(join(dir, "web.yaml"), DEPLOYMENT);
  writeFileSync(join(dir, "many.yaml"), manyObjects());
  writeFileSync(join(dir, "pods.yaml"), pods(6));
  ok(base, ["up"]);
  ok(base, ["kubectl", "apply", "-f", join(dir, "web.yaml")]);
});

interface Scenario {
  name: string;
  args: () => string[];
}

const scenarios: Scenario[] = [
  { name: "scale up 8 -> 20", args: () => ["kubectl", "scale", "deployment", "web", "--replicas=20"] },
  { name: "scale down 8 -> 1", args: () => ["kubectl", "scale", "deployment", "web", "--replicas=1"] },
  { name: "apply of 200 objects", args: () => ["kubectl", "apply", "-f", join(dir, "many.yaml")] },
  { name: "kubectl run (IPAM)", args: () => ["kubectl", "run", "solo", "--image=busybox"] },
  { name: "create of 6 pods (IPAM)", args: () => ["kubectl", "create", "-f", join(dir, "pods.yaml")] },
];

const KIND_OF: Record<string, (typeof kinds)[keyof typeof kinds]> = {
  configmap: kinds.ConfigMap,
  pod: kinds.Pod,
  "deployment.apps": kinds.Deployment,
};

/** Every `kind/name created|configured|scaled` line the killed command printed names an object that is there. */
async function assertAcknowledgedKept(state: string, out: string, label: string, args: string[]) {
  let n = 0;
  const store = openClusterStore(state, () => new Date());
  for (const line of out.split("\n")) {
    const m = /^([a-z.]+)\/(\S+) (created|configured|unchanged|scaled)$/.exec(line);
    if (!m) continue;
    const def = KIND_OF[m[1]!];
    assert.ok(def, `${label}: unexpected output line ${line}`);
    const o = await store.get(def, m[2]!, "default");
    assert.ok(o, `${label}: ${line} was printed, but ${m[1]}/${m[2]} is gone`);
    n++;
    const replicas = args.find((a) => a.startsWith("--replicas="));
    if (m[3] === "scaled" && replicas) assert.equal(o.spec.replicas, Number(replicas.slice(11)), label);
  }
  return n;
}

test("writers killed at random WAL byte offsets: next command exits 0, ipam check clean, nothing acknowledged lost", async () => {
  const random = seededRandom(SEED);
  let kills = 0;
  let completed = 0;
  const failures: string[] = [];
  let acknowledged = 0;
  const perScenario: string[] = [];
  for (const [si, s] of scenarios.entries()) {
    // A full run of the command from the base state measures how many log bytes it appends.
    const dry = join(dir, `dry-${si}`);
    cpSync(base, dry, { recursive: true });
    const start = walSize(dry);
    ok(dry, s.args());
    const total = walSize(dry) - start;
    rmSync(dry, { recursive: true, force: true });
    const offsets: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const state = join(dir, `case-${si}-${k}`);
      cpSync(base, state, { recursive: true });
      const n = Math.floor(random() * total);
      offsets.push(n);
      const label = `${s.name}, killed after ${n} of ${total} WAL bytes (seed ${SEED})`;
      try {
        const killed = tortie(state, s.args(), { TORTIE_FAULT_KILL_AFTER_WAL_BYTES: String(n) });
        if (killed.signal === "SIGKILL") kills++;
        else {
          assert.equal(killed.code, 0, `${label}: ${killed.err}`);
          completed++;
        }
        const next = tortie(state, ["kubectl", "create", "configmap", "after-crash"]);
        assert.equal(next.code, 0, `${label}: the next command failed: ${next.err}`);
        assert.equal(next.err, "", `${label}: the next command warned: ${next.err}`);
        acknowledged += await assertAcknowledgedKept(state, killed.out, label, s.args());
        await assertConverged(
          openClusterStore(state, () => new Date()),
          label,
        );
        // The killed command, run again, finishes the job.
        const again = tortie(state, s.args());
        if (s.name.startsWith("kubectl run") || s.name.startsWith("create"))
          assert.ok(
            again.code === 0 || /AlreadyExists|already exists/.test(again.err),
            `${label}: ${again.err}`,
          );
        else assert.equal(again.code, 0, `${label}: re-run failed: ${again.err}`);
        assert.ok(!/warning/.test(again.err), `${label}: re-run warned: ${again.err}`);
      } catch (e) {
        failures.push((e as Error).message.split("\n").slice(0, 3).join(" | "));
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    }
    perScenario.push(`${s.name}: ${total} bytes, kills at ${offsets.join(", ")}`);
  }
  console.log(
    `crash suite: seed ${SEED}, ${scenarios.length} scenarios x ${KILLS} = ${scenarios.length * KILLS} cases, ${kills} killed mid-write, ${completed} finished before the offset, ${acknowledged} acknowledged objects found intact, ${failures.length} failed\n  ${perScenario.join("\n  ")}`,
  );
  assert.deepEqual(failures, []);
});
