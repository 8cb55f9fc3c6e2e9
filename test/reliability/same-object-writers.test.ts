// Concurrent writers to the SAME object: kubectl scale/label/patch/apply and calicoctl label/patch/apply are
// requests without a resourceVersion precondition (kubectl sends them as PATCHes; the API server re-reads and
// re-applies a patch when it loses a race), so each exits 0 and no writer's change is lost. `tortie down` racing
// writers exits 0 and leaves the store empty.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findKind } from "../../src/api/index.ts";
import { openClusterStore } from "../../src/cli/context.ts";
import { controlKinds as kinds } from "../../src/control/index.ts";

const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "tortie-same-object-"));
const state = join(dir, "state");
const children = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
// Each case spawns 6-8 processes at once; a hung one fails the case instead of holding CI.
const TIMEOUT_MS = 120_000;

interface Result {
  args: string[];
  code: number | null;
  out: string;
  err: string;
}

function tortie(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, "--state-dir", state, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => {
      out += d;
    });
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => {
      children.delete(child);
      resolve({ args, code, out, err });
    });
  });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Runs the commands at once; returns the ones that did not exit 0 without a word on stderr. */
/**
 * kubectl's warning when `apply` meets an object `create` made (no last-applied annotation): expected here, since
 * `shared` was made by `kubectl create configmap`, and printed by every apply that reads it before another apply
 * annotated it.
 */
const MISSING_ANNOTATION_WARNING =
  /^Warning: resource \S+ is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation which is required by kubectl apply\. .*\n/gm;

async function concurrently(label: string, commands: string[][]): Promise<string[]> {
  const results = await Promise.all(commands.map(tortie));
  const failed = results
    .filter((r) => r.code !== 0 || r.err.replace(MISSING_ANNOTATION_WARNING, "") !== "")
    .map((r) => `tortie ${r.args.join(" ")} exited ${r.code}: ${r.err.trim()}`);
  console.log(`${label}: ${results.length - failed.length} of ${results.length} exited 0`);
  return failed;
}

const store = () => openClusterStore(state, () => new Date());
const configMap = findKind("v1", "ConfigMap")!;
const networkSet = findKind("projectcalico.org/v3", "GlobalNetworkSet")!;

before(async () => {
  const setup = [
    ["up"],
    [
      "kubectl",
      "create",
      "-f",
      file(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
      ),
    ],
    ["kubectl", "create", "configmap", "shared", "--from-literal=base=1"],
    [
      "calicoctl",
      "create",
      "-f",
      file(
        "gns.yaml",
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: shared\nspec:\n  nets: [198.51.100.0/28]\n",
      ),
    ],
  ];
  for (const args of setup) {
    const r = await tortie(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
  }
});

test("6 concurrent scales of one deployment all exit 0; replicas end at one of the requested values", {
  timeout: TIMEOUT_MS,
}, async () => {
  const wanted = [1, 2, 3, 4, 5, 6];
  const failed = await concurrently(
    "scale x6",
    wanted.map((n) => ["kubectl", "scale", "deployment", "web", `--replicas=${n}`]),
  );
  assert.deepEqual(failed, []);
  const web = await store().mustGet(kinds.Deployment, "web", "default");
  assert.ok(wanted.includes(web.spec.replicas), `replicas ${web.spec.replicas}`);
});

test("concurrent labels of distinct keys and scales of one deployment: all exit 0, no label lost", {
  timeout: TIMEOUT_MS,
}, async () => {
  const keys = ["k0", "k1", "k2", "k3", "k4"];
  const failed = await concurrently("label x5 + scale x2", [
    ...keys.map((k) => ["kubectl", "label", "deployment", "web", `${k}=v`]),
    ["kubectl", "scale", "deployment", "web", "--replicas=2"],
    ["kubectl", "scale", "deployment", "web", "--replicas=3"],
  ]);
  assert.deepEqual(failed, []);
  const web = await store().mustGet(kinds.Deployment, "web", "default");
  for (const k of keys)
    assert.equal(web.metadata.labels?.[k], "v", `label ${k} lost: ${JSON.stringify(web.metadata.labels)}`);
  assert.ok([2, 3].includes(web.spec.replicas), `replicas ${web.spec.replicas}`);
});

test("4 patches (merge, strategic, json) and 4 applies of one ConfigMap all exit 0; no patched key lost", {
  timeout: TIMEOUT_MS,
}, async () => {
  const applies = [0, 1, 2, 3].map((i) =>
    file(
      `apply${i}.yaml`,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: default\n  labels: {a${i}: "x"}\ndata:\n  base: "1"\n  a${i}: "x"\n`,
    ),
  );
  const failed = await concurrently("patch x4 + apply x4", [
    ["kubectl", "patch", "configmap", "shared", "--type=merge", "-p", '{"data":{"p0":"x"}}'],
    ["kubectl", "patch", "configmap", "shared", "-p", '{"data":{"p1":"x"}}'],
    [
      "kubectl",
      "patch",
      "configmap",
      "shared",
      "--type=json",
      "-p",
      '[{"op":"add","path":"/data/p2","value":"x"}]',
    ],
    ["kubectl", "patch", "configmap", "shared", "--type=merge", "-p", '{"metadata":{"labels":{"p3":"x"}}}'],
    ...applies.map((f) => ["kubectl", "apply", "-f", f]),
  ]);
  assert.deepEqual(failed, []);
  const cm = await store().mustGet(configMap, "shared", "default");
  const data = (cm.data ?? {}) as Record<string, string>;
  for (const k of ["p0", "p1", "p2"])
    assert.equal(data[k], "x", `data ${k} lost: ${JSON.stringify(cm.data)}`);
  assert.equal(cm.metadata.labels?.p3, "x", `label p3 lost: ${JSON.stringify(cm.metadata.labels)}`);
});

test("calicoctl label, patch and apply of one GlobalNetworkSet at once all exit 0; no label lost", {
  timeout: TIMEOUT_MS,
}, async () => {
  const keys = ["c0", "c1", "c2", "c3"];
  const applied = file(
    "gns-apply.yaml",
    'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: shared\n  labels: {applied: "yes"}\nspec:\n  nets: [198.51.100.0/28]\n',
  );
  const failed = await concurrently("calicoctl label x4 + patch x2 + apply x2", [
    ...keys.map((k) => ["calicoctl", "label", "globalnetworkset", "shared", `${k}=v`]),
    [
      "calicoctl",
      "patch",
      "globalnetworkset",
      "shared",
      "-p",
      '{"spec":{"nets":["198.51.100.0/28","203.0.113.0/28"]}}',
    ],
    [
      "calicoctl",
      "patch",
      "globalnetworkset",
      "shared",
      "--type=merge",
      "-p",
      '{"metadata":{"annotations":{"note":"x"}}}',
    ],
    ["calicoctl", "apply", "-f", applied],
    ["calicoctl", "apply", "-f", applied],
  ]);
  assert.deepEqual(failed, []);
  const gns = await store().mustGet(networkSet, "shared");
  for (const k of [...keys, "applied"])
    assert.ok(gns.metadata.labels?.[k], `label ${k} lost: ${JSON.stringify(gns.metadata.labels)}`);
});

test("tortie down racing applies, scales and runs exits 0 and leaves nothing behind", {
  timeout: TIMEOUT_MS,
}, async () => {
  const applies = [0, 1, 2].map((i) =>
    file(
      `race${i}.yaml`,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: race${i}\n  namespace: default\ndata:\n  r${i}: "x"\n`,
    ),
  );
  // The racing writers (and the controllers their settles run) write while down lists and deletes; each of them
  // may fail (its object or namespace is gone), but down's own request is to remove everything.
  const writers = [
    ...applies.map((f) => tortie(["kubectl", "apply", "-f", f])),
    tortie(["kubectl", "scale", "deployment", "web", "--replicas=5"]),
    tortie(["kubectl", "scale", "deployment", "web", "--replicas=1"]),
    tortie(["kubectl", "run", "racer", "--image=busybox"]),
  ];
  // Two downs at once (each deletes keys the other listed), started while the writers' settles are running.
  await new Promise((resolve) => setTimeout(resolve, 700));
  const downs = await Promise.all([tortie(["down"]), tortie(["down"])]);
  await Promise.all(writers);
  console.log(`2 downs racing 6 writers: downs exited ${downs.map((d) => d.code).join(", ")}`);
  for (const down of downs) {
    assert.equal(down.code, 0, down.err);
    assert.equal(down.err, "");
  }
  // Every racing write either landed before down's last pass (and was removed) or after it: a second down, with
  // no writer left, empties the store.
  const again = await tortie(["down"]);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(
    (await store().backend.list("/")).items.map((i) => i.key),
    [],
  );
});
