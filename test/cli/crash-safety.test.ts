import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { findKind } from "../../src/api/index.ts";
import { openFileStore } from "../../src/store/index.ts";

const dir = mkdtempSync(join(tmpdir(), "tortie-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const COUNT = 1000;

function manifest(): string {
  const docs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: crash\n"];
  for (let i = 0; i < COUNT; i++) {
    docs.push(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: crash\n  labels:\n    index: "${i}"\ndata:\n  payload: "${"x".repeat(200)}-${i}"\n`,
    );
  }
  return docs.join("---\n");
}

test("SIGKILL in the middle of applying 1,000 objects leaves every object whole or absent", async () => {
  const file = join(dir, "many.yaml");
  writeFileSync(file, manifest());
  const stateDir = join(dir, "state");
  const wal = join(stateDir, "store", "wal.log");
  const child = spawn(process.execPath, [bin, "--state-dir", stateDir, "kubectl", "apply", "-f", file], {
    stdio: "ignore",
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  // Kill once a few hundred writes have landed: well inside the run.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    let size = 0;
    try {
      size = statSync(wal).size;
    } catch {}
    if (size > 300 * 250) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  child.kill("SIGKILL");
  assert.equal(await exited, "SIGKILL", "the apply must still have been running when killed");

  const store = openFileStore(stateDir);
  const cmDef = findKind("v1", "ConfigMap")!;
  const present = await store.list(cmDef, "crash");
  assert.ok(present.length > 0 && present.length < COUNT, `killed mid-way, found ${present.length}`);
  for (const cm of present) {
    const i = Number(cm.metadata.name!.slice(3));
    assert.equal(cm.metadata.labels?.index, String(i));
    assert.deepEqual((cm as { data?: unknown }).data, { payload: `${"x".repeat(200)}-${i}` });
    assert.ok(cm.metadata.uid && cm.metadata.creationTimestamp && cm.metadata.resourceVersion);
  }
  // Objects are written in order: the ones present are exactly a prefix.
  const names = new Set(present.map((c) => c.metadata.name));
  for (let i = 0; i < present.length; i++)
    assert.ok(names.has(`cm-${i}`), `cm-${i} missing while later ones exist`);

  // The store stays usable: re-running the apply finishes the job.
  const rerun = spawnSync(process.execPath, [bin, "--state-dir", stateDir, "kubectl", "apply", "-f", file], {
    encoding: "utf8",
  });
  assert.equal(rerun.status, 0, rerun.stderr);
  const reopened = openFileStore(stateDir);
  assert.equal((await reopened.list(cmDef, "crash")).length, COUNT);
});
