// A command's exit status reports its own request. When the settle after a successful write cannot finish (here:
// another process holds the controllers' lock longer than this command waits), the command still exits 0, says
// so in one warning line, and the next command's settle finishes the job.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openClusterStore } from "../../src/cli/context.ts";
import { asControllerLeader } from "../../src/cli/controller-lock.ts";
import { controlKinds as kinds } from "../../src/control/index.ts";
import { assertConverged } from "./converged.ts";

const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "tortie-exit-status-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, "--state-dir", dir, ...args], {
      env: { ...process.env, ...env },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

test("a write whose settle cannot finish exits 0 with one warning line; the next command settles", async () => {
  assert.equal(spawnSync(process.execPath, [bin, "--state-dir", dir, "up"]).status, 0);
  const held = await asControllerLeader(dir, () =>
    run(["kubectl", "run", "web", "--image=nginx"], { TORTIE_CONTROLLER_WAIT_MS: "300" }),
  );
  assert.equal(held.code, 0, held.err);
  assert.equal(held.out, "pod/web created\n");
  assert.match(
    held.err,
    /^warning: the controllers have not settled yet \(another tortie process has been running the controllers for over 300 ms\); the next command retries\n$/,
  );
  const store = openClusterStore(dir, () => new Date());
  assert.notEqual((await store.get(kinds.Pod, "web", "default"))?.status?.phase, "Running");

  const next = await run(["kubectl", "create", "configmap", "next"]);
  assert.equal(next.code, 0, next.err);
  assert.equal(next.err, "");
  assert.equal((await store.get(kinds.Pod, "web", "default"))?.status?.phase, "Running");
  await assertConverged(store, "after the next command");

  // A create of a name that exists is the command's own failure: exit 1, one line, whatever the settle does.
  const dup = await run(["kubectl", "run", "web", "--image=nginx"]);
  assert.equal(dup.code, 1);
  assert.equal(dup.err, 'Error from server (AlreadyExists): pods "web" already exists\n');
});
