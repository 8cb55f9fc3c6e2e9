import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { tortie } from "./corruption-helpers.ts";
import { closedEndpoint, etcdctlUnavailable, etcdUnavailable, startEtcd } from "./etcd-harness.ts";

const unavailable = etcdUnavailable();

/** The keys etcdctl lists under `prefix` (what an operator would look at). */
function etcdKeys(endpoint: string, prefix: string): string[] {
  const r = spawnSync("etcdctl", ["--endpoints", endpoint, "get", "--prefix", prefix, "--keys-only"], {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

test("tortie up --datastore etcd://…: every later command uses etcd; down leaves no keys", {
  skip: etcdctlUnavailable(),
}, async (t) => {
  const etcd = await startEtcd();
  t.after(() => etcd.stop());
  const stateDir = mkdtempSync(join(tmpdir(), "tortie-etcd-cli-"));
  // `down` first even when an assertion failed: it stops what `up` started in the background.
  t.after(() => {
    tortie(stateDir, ["down"]);
    rmSync(stateDir, { recursive: true, force: true });
  });
  const env = { TORTIE_SOURCES: "1" };
  const datastore = etcd.endpoint.replace("http://", "etcd://");

  const up = tortie(stateDir, ["up", "--datastore", datastore], env);
  assert.equal(up.code, 0, up.err);
  assert.match(up.out, /^cluster lab is up/);
  assert.deepEqual(JSON.parse(readFileSync(join(stateDir, "datastore.json"), "utf8")), {
    type: "etcd",
    endpoints: [etcd.endpoint],
  });
  assert.equal(statSync(join(stateDir, "datastore.json")).mode & 0o777, 0o600);
  // The objects are in etcd, in the API server's layout; the state dir holds no file store.
  const keys = etcdKeys(etcd.endpoint, "/registry/");
  assert.ok(keys.includes("/registry/core/nodes/node1"), keys.join("\n"));
  assert.ok(
    keys.some((k) => k.startsWith("/registry/core/pods/kube-system/coredns-")),
    keys.join("\n"),
  );

  // Later commands (new processes) find the cluster through the recorded datastore.
  const pods = tortie(stateDir, ["kubectl", "get", "pods", "-A"], env);
  assert.equal(pods.code, 0, pods.err);
  assert.match(pods.out, /kube-system\s+coredns-\S+\s+1\/1\s+Running/);
  const ipam = tortie(stateDir, ["calicoctl", "ipam", "show"], env);
  assert.equal(ipam.code, 0, ipam.err);
  assert.match(ipam.out, /IP Pool\s+\|\s+198\.19\.16\.0\/21\s+\|\s+2048\s+\|\s+1 \(0%\)/);
  const again = tortie(stateDir, ["up"], env);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /^cluster lab was already up/);

  // Moving a running cluster to another datastore is refused; the file store's tools say they do not apply.
  const move = tortie(stateDir, ["up", "--datastore", "file"], env);
  assert.equal(move.code, 1);
  assert.match(move.err, /is on the datastore etcd:\/\/.*; run "tortie down" first/);
  const check = tortie(stateDir, ["store", "check"], env);
  assert.notEqual(check.code, 0);
  assert.match(check.err, /not supported yet: tortie store check on etcd/);

  const down = tortie(stateDir, ["down"], env);
  assert.equal(down.code, 0, down.err);
  assert.match(down.out, /^cluster lab is down \(\d+ objects removed/);
  assert.deepEqual(etcdKeys(etcd.endpoint, "/"), []);
});

test("tortie up --datastore with an etcd that is down: one line naming the endpoint, nothing recorded", {
  skip: unavailable,
}, async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), "tortie-etcd-cli-"));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const dead = await closedEndpoint();
  const r = tortie(stateDir, ["up", "--datastore", dead.replace("http://", "etcd://")], {
    TORTIE_SOURCES: "1",
  });
  assert.equal(r.code, 1);
  assert.equal(r.err, `error: cannot reach etcd (${dead}: ECONNREFUSED)\n`);
  assert.throws(() => statSync(join(stateDir, "datastore.json")), { code: "ENOENT" });
});
