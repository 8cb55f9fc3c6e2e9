import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  assertOneLineRefusal,
  bin,
  cmNames,
  copyState,
  hashTree,
  manifest,
  TempDirs,
  tortie,
  tortieInProcess,
} from "./corruption-helpers.ts";

// The corruption suite, snapshot and backup half (the log: corruption.test.ts). The base store here has a
// snapshot: it was made by `tortie store restore` of a backup, then written once more.

const temp = new TempDirs();
after(() => temp.cleanup());
let root = "";
let base = "";
let backup = "";
const SNAP = (stateDir: string) => join(stateDir, "store", "snapshot.json");

before(() => {
  root = temp.make("tortie-snap-base-");
  const first = join(root, "first");
  const m = join(root, "m.yaml");
  writeFileSync(m, manifest("t", 20, "v1"));
  assert.equal(tortie(first, ["apply", "-f", m]).code, 0);
  backup = join(root, "backup.snap");
  const saved = tortie(first, ["store", "backup", backup]);
  assert.equal(saved.code, 0, saved.err);
  assert.match(saved.out, /^Snapshot saved at .*backup\.snap \(revision 25, 25 keys, \d+ bytes\)\n$/);
  assert.equal(statSync(backup).mode & 0o777, 0o600);
  base = join(root, "restored");
  const restored = tortie(base, ["store", "restore", backup]);
  assert.equal(restored.code, 0, restored.err);
  assert.match(
    restored.out,
    /^Restored the store from .*backup\.snap: 25 keys at revision 25; the previous contents were replaced\n$/,
  );
  const w = tortie(base, ["kubectl", "create", "configmap", "after", "-n", "t"]);
  assert.equal(w.code, 0, w.err);
});

async function count(stateDir: string): Promise<number> {
  const r = await tortieInProcess(stateDir, ["kubectl", "get", "cm", "-n", "t", "-o", "name"]);
  assert.equal(r.code, 0, r.err);
  return cmNames(r.out).length;
}

test("the restored store checks clean and holds the backup's objects and the write after it", async () => {
  const check = tortie(base, ["store", "check"]);
  assert.equal(check.code, 0, check.err);
  assert.match(
    check.out,
    /revision: 26\nkeys: 26\nsnapshot: revision 25, format 2, \d+ bytes\nlog: base 25, format 2, 1 records/,
  );
  assert.equal(await count(base), 21);
});

const snapshotDamage: [string, (d: string) => void, RegExp][] = [
  ["{}", (d) => writeFileSync(SNAP(d), "{}"), /snapshot\.json is damaged: unknown snapshot format undefined/],
  ["null", (d) => writeFileSync(SNAP(d), "null"), /snapshot\.json is damaged: it is not a JSON object/],
  ["a string", (d) => writeFileSync(SNAP(d), '"str"'), /snapshot\.json is damaged: it is not a JSON object/],
  [
    "a string where an entry is expected",
    (d) => writeFileSync(SNAP(d), '{"format":1,"revision":25,"entries":["x"]}'),
    /snapshot\.json is damaged: entry 0 is not \[key, createRevision, modRevision, value\]/,
  ],
  [
    "truncated",
    (d) => writeFileSync(SNAP(d), readFileSync(SNAP(d)).subarray(0, 500)),
    /snapshot\.json is damaged: not valid JSON/,
  ],
  ["zero bytes", (d) => writeFileSync(SNAP(d), ""), /snapshot\.json is damaged: the file is empty/],
  [
    "a flipped byte in a value",
    (d) => writeFileSync(SNAP(d), readFileSync(SNAP(d), "utf8").replace('"k":"v1-7"', '"k":"v1-8"')),
    /snapshot\.json is damaged: checksum mismatch/,
  ],
  [
    "removed, while the log continues it",
    (d) => rmSync(SNAP(d)),
    /wal\.log continues revision 25, but the snapshot holds revision 0/,
  ],
];

for (const [what, damage, re] of snapshotDamage)
  test(`snapshot ${what}: refused in one line, nothing changed`, async () => {
    const s = copyState(base, join(temp.make("tortie-snap-"), "state"));
    damage(s);
    const before = hashTree(s);
    assertOneLineRefusal(await tortieInProcess(s, ["kubectl", "get", "cm", "-A"]), re, `${what}: get`);
    assertOneLineRefusal(tortie(s, ["store", "check"]), re, `${what}: check`);
    assert.deepEqual(hashTree(s), before);
  });

test("a damaged backup is refused by check and restore in one line; the store is unchanged", async () => {
  const bad = join(root, "bad.snap");
  writeFileSync(bad, readFileSync(backup, "utf8").replace('"k":"v1-3"', '"k":"v1-4"'));
  const s = copyState(base, join(temp.make("tortie-badbackup-"), "state"));
  const before = hashTree(s);
  for (const args of [
    ["store", "check", bad],
    ["store", "restore", bad],
  ]) {
    const r = tortie(s, args);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
    assert.match(
      r.err,
      /^error: backup .*bad\.snap is damaged: checksum mismatch .*; it cannot be restored, and nothing was changed\n$/,
    );
  }
  assert.deepEqual(hashTree(s), before);
  const ok = tortie(s, ["store", "check", backup]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^backup .*: ok\nrevision: 25\nkeys: 25\n/);
});

test("a backup aimed at a file of the store itself (wal.log, snapshot.json) is refused; the store is unchanged", async () => {
  const s = copyState(base, join(temp.make("tortie-backup-self-"), "state"));
  const before = hashTree(s);
  for (const name of ["wal.log", "snapshot.json", "new.snap"]) {
    const r = tortie(s, ["store", "backup", join(s, "store", name)]);
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.err,
      /^error: cannot write the backup .* into the store's own directory .*store \(it could replace the snapshot or the log\); choose a path outside it\n$/,
    );
  }
  assert.deepEqual(hashTree(s), before);
});

test("restore onto a live store moves the revision forward, and the store takes writes after it", async () => {
  const s = copyState(base, join(temp.make("tortie-restore-live-"), "state"));
  const r = tortie(s, ["store", "restore", backup]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /25 keys at revision 25, now revision 27;/);
  assert.equal(await count(s), 20);
  assert.equal(tortie(s, ["kubectl", "create", "configmap", "again", "-n", "t"]).code, 0);
  const check = tortie(s, ["store", "check"]);
  assert.match(check.out, /revision: 28\n/);
});

test("a crash mid-restore (the new snapshot written, the old log still there) is refused, never a mix; restore again recovers", async () => {
  const s = copyState(base, join(temp.make("tortie-restore-crash-"), "state"));
  // What a restore that died between its two writes leaves: the restore's snapshot beside the store's old log.
  const done = copyState(base, join(temp.make("tortie-restore-crash-done-"), "state"));
  assert.equal(tortie(done, ["store", "restore", backup]).code, 0);
  writeFileSync(SNAP(s), readFileSync(SNAP(done)));
  const before = hashTree(s);
  const re = /wal\.log ends at revision 26, before the snapshot's revision 27/;
  assertOneLineRefusal(await tortieInProcess(s, ["kubectl", "get", "cm", "-A"]), re, "get");
  assertOneLineRefusal(tortie(s, ["kubectl", "create", "configmap", "x", "-n", "t"]), re, "create");
  assert.deepEqual(hashTree(s), before);
  const again = tortie(s, ["store", "restore", backup]);
  assert.equal(again.code, 0, again.err);
  assert.equal(await count(s), 20);
  assert.equal(tortie(s, ["store", "check"]).code, 0);
});

test("a backup taken while another process writes is consistent: it restores to a prefix of the writes and checks clean", async () => {
  const dir = temp.make("tortie-live-backup-");
  const s = join(dir, "state");
  const m = join(dir, "many.yaml");
  const COUNT = 600;
  writeFileSync(m, manifest("w", COUNT, "x"));
  const writer = spawn(process.execPath, [bin, "--state-dir", s, "apply", "-f", m], { stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => writer.on("exit", (code) => resolve(code)));
  try {
    const wal = join(s, "store", "wal.log");
    const deadline = Date.now() + 50_000;
    while (Date.now() < deadline) {
      let size = 0;
      try {
        size = statSync(wal).size;
      } catch {}
      if (size > 40 * 450) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const file = join(dir, "live.snap");
    // In this process (no start-up delay), which is not the writer's: the lock is what keeps the copy whole.
    const saved = await tortieInProcess(s, ["store", "backup", file]);
    assert.equal(saved.code, 0, saved.err);
    assert.equal(await exited, 0);
    const target = join(dir, "restored");
    assert.equal(tortie(target, ["store", "restore", file]).code, 0);
    const check = tortie(target, ["store", "check"]);
    assert.equal(check.code, 0, check.err);
    const r = await tortieInProcess(target, [
      "kubectl",
      "get",
      "cm",
      "-n",
      "w",
      "-o",
      "jsonpath={range .items[*]}{.metadata.name}={.data.k} {end}",
    ]);
    assert.equal(r.code, 0, r.err);
    const got = r.out.trim().split(" ").filter(Boolean);
    const n = got.length;
    console.log(`backup taken mid-apply held ${n} of ${COUNT} ConfigMaps`);
    assert.ok(n > 0 && n < COUNT, `${n} present`);
    const want = new Set(Array.from({ length: n }, (_, i) => `cm-${i}=x-${i}`));
    for (const g of got) assert.ok(want.has(g), `${g} is not part of a prefix of the writes`);
  } finally {
    writer.kill("SIGKILL");
  }
});
