/**
 * `kubectl create -f`: kubectl's URL test comes before the filesystem (a directory named `https:` in the working
 * directory is never read for `https://…`), and every object is tried, the AlreadyExists errors printed after the
 * last one (kubectl's ContinueOnError builder), exit status 1.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CliHarness } from "./harness.ts";

const OPERATOR_URL = "https://docs.projectcalico.org/archive/v3.21/manifests/tigera-operator.yaml";

const twoConfigMaps = [
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata:",
  "  name: first",
  "---",
  "apiVersion: v1",
  "kind: ConfigMap",
  "metadata:",
  "  name: second",
  "",
].join("\n");

test("create -f https://../…: a URL, never the local path it also spells", async (t) => {
  const h = new CliHarness();
  const cwd = process.cwd();
  const dir = mkdtempSync(join(tmpdir(), "tortie-url-"));
  t.after(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
    h.cleanup();
  });
  // `https://../../outside` normalises to `https:/../../outside`, i.e. `../outside` from `dir/work`.
  mkdirSync(join(dir, "work", "https:"), { recursive: true });
  mkdirSync(join(dir, "outside"));
  writeFileSync(join(dir, "outside", "cm.yaml"), twoConfigMaps);
  process.chdir(join(dir, "work"));
  const r = await h.run("kubectl create -f https://../../outside");
  process.chdir(cwd);
  assert.deepEqual(r, {
    code: 1,
    out: "",
    err: "error: not supported yet: reading manifests from URLs (tortie has no network access): https://../../outside\n",
  });
  assert.equal((await h.run("kubectl get configmaps")).out, "");
});

test("create -f goes on past AlreadyExists: the missing objects are created, the errors follow, exit 1", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  assert.equal((await h.run("kubectl create -f -", twoConfigMaps.split("---")[0])).code, 0);
  const r = await h.run("kubectl create -f -", twoConfigMaps);
  assert.deepEqual(r, {
    code: 1,
    out: "configmap/second created\n",
    err: 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "first" already exists\n',
  });
  assert.equal((await h.run("kubectl create -f -", twoConfigMaps)).err.split("\n").length, 3);
});

test("re-running create -f tigera-operator.yaml re-creates the deleted operator deployment", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  assert.equal((await h.run("up --no-cni --no-serve")).code, 0);
  assert.equal((await h.run(`kubectl create -f ${OPERATOR_URL}`)).code, 0);
  const deleted = await h.run("kubectl delete deployment tigera-operator -n tigera-operator");
  assert.equal(deleted.code, 0, deleted.err);
  const again = await h.run(`kubectl create -f ${OPERATOR_URL}`);
  assert.equal(again.code, 1);
  assert.match(again.out, /^deployment\.apps\/tigera-operator created$/m);
  assert.match(
    again.err,
    /^Error from server \(AlreadyExists\): error when creating "https:\/\/docs\.projectcalico\.org\/archive\/v3\.21\/manifests\/tigera-operator\.yaml": namespaces "tigera-operator" already exists$/m,
  );
  assert.match((await h.run("kubectl get deployment -n tigera-operator")).out, /tigera-operator/);
});
