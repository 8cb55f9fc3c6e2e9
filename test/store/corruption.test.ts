import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  assertOneLineRefusal,
  cmNames,
  copyState,
  hashTree,
  manifest,
  TempDirs,
  tortie,
  tortieInProcess,
} from "./corruption-helpers.ts";

// The corruption suite, write-ahead log half (snapshots and backups: corruption-snapshot.test.ts). Each case
// damages a copy of one store the way the issue lists, then reads it through the CLI: it is refused with one line
// (exit 1, no stack trace, naming the file and the record, saying how to recover) and every file stays
// byte-identical; or, for a torn last record only, it is read without losing an acknowledged write.

const temp = new TempDirs();
after(() => temp.cleanup());
let base = "";
const WAL = (stateDir: string) => join(stateDir, "store", "wal.log");

before(() => {
  // 50 ConfigMaps, each then changed once: a log of 106 lines (the issue's `sed '100s…'` hits a record).
  const root = temp.make("tortie-corrupt-base-");
  base = join(root, "state");
  const m1 = join(root, "v1.yaml");
  const m2 = join(root, "v2.yaml");
  writeFileSync(m1, manifest("t", 50, "v1"));
  writeFileSync(m2, manifest("t", 50, "v2"));
  for (const m of [m1, m2]) {
    const r = tortie(base, ["apply", "-f", m]);
    assert.equal(r.code, 0, r.err);
  }
});

const lines = (stateDir: string) => readFileSync(WAL(stateDir), "utf8").split("\n").slice(0, -1);
const setLines = (stateDir: string, ls: string[]) => writeFileSync(WAL(stateDir), `${ls.join("\n")}\n`);

/** A copy of the base store, damaged by `damage`. */
function damaged(name: string, damage: (stateDir: string) => void): string {
  const s = copyState(base, join(temp.make(`tortie-corrupt-${name}-`), "state"));
  damage(s);
  return s;
}

/** Reads (kubectl get in-process, store check as a process) refuse it in one line; nothing changes. */
async function assertRefused(stateDir: string, re: RegExp, what: string): Promise<void> {
  const before = hashTree(stateDir);
  assertOneLineRefusal(
    await tortieInProcess(stateDir, ["kubectl", "get", "cm", "-A", "-o", "name"]),
    re,
    `${what}: get`,
  );
  assertOneLineRefusal(tortie(stateDir, ["store", "check"]), re, `${what}: store check`);
  assert.deepEqual(hashTree(stateDir), before, `${what}: files unchanged`);
}

async function names(stateDir: string): Promise<string[]> {
  const r = await tortieInProcess(stateDir, ["kubectl", "get", "cm", "-n", "t", "-o", "name"]);
  assert.equal(r.code, 0, r.err);
  return cmNames(r.out);
}

test("the issue's case: sed -i '100s/^./X/' on a log of 50 ConfigMaps is refused, by every command, and nothing is truncated", async () => {
  assert.equal(lines(base).length, 106);
  const s = damaged("sed100", (d) => {
    const sed = spawnSync("sed", ["-i", "100s/^./X/", WAL(d)]);
    assert.equal(sed.status, 0);
  });
  const before = hashTree(s);
  const re = /store log .*wal\.log is damaged at line 100 \(byte \d+, revision 99\): checksum mismatch/;
  assertOneLineRefusal(tortie(s, ["kubectl", "get", "cm", "-A"]), re, "get");
  assertOneLineRefusal(tortie(s, ["store", "check"]), re, "check");
  // A writer is refused too, and does not "repair" the log by cutting it at the damage.
  assertOneLineRefusal(tortie(s, ["kubectl", "create", "configmap", "x", "-n", "t"]), re, "create");
  assert.deepEqual(hashTree(s), before);
});

const refusals: [string, (d: string) => void, RegExp][] = [
  [
    "a flipped byte in a value mid-log (still valid JSON)",
    (d) => {
      const ls = lines(d);
      assert.match(ls[49]!, /"data":\{"k":"v/);
      ls[49] = ls[49]!.replace('"data":{"k":"v', '"data":{"k":"w');
      setLines(d, ls);
    },
    /wal\.log is damaged at line 50 \(byte \d+, revision 49\): checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)/,
  ],
  [
    "a flipped byte in the last (complete, acknowledged) record",
    (d) => {
      const ls = lines(d);
      ls[105] = ls[105]!.replace('"data":{"k":"v2-49"', '"data":{"k":"v2-48"');
      setLines(d, ls);
    },
    /damaged at line 106 \(byte \d+, revision 105\): checksum mismatch/,
  ],
  ["a zero-byte log", (d) => writeFileSync(WAL(d), ""), /damaged at line 1 \(byte 0\): the log is empty/],
  [
    "no header line",
    (d) => setLines(d, lines(d).slice(1)),
    /damaged at line 1 \(byte 0\): the first line is not a header/,
  ],
  [
    'a header {"base":999} that does not continue the snapshot',
    (d) => setLines(d, ['{"base":999}', ...lines(d).slice(1)]),
    /store log .*wal\.log continues revision 999, but the snapshot holds revision 0; nothing was changed/,
  ],
  [
    "a non-object record",
    (d) => {
      const ls = lines(d);
      ls[29] = "42";
      setLines(d, ls);
    },
    /damaged at line 30 \(byte \d+, revision 29\): the record is not a JSON object/,
  ],
  [
    "a duplicated record (a revision repeated)",
    (d) => {
      const ls = lines(d);
      ls.splice(40, 0, ls[39]!);
      setLines(d, ls);
    },
    /damaged at line 41 \(byte \d+, revision 40\): revision 39 is not after the previous record's 39/,
  ],
  [
    "two records swapped (revisions out of order)",
    (d) => {
      const ls = lines(d);
      [ls[39], ls[40]] = [ls[40]!, ls[39]!];
      setLines(d, ls);
    },
    /damaged at line 40 \(byte \d+, revision 39\): revision 40 skips revision 39/,
  ],
  [
    "an unsealed record in a format-2 log",
    (d) => {
      const ls = lines(d);
      ls[59] = ls[59]!.replace(/,"s":"[0-9a-f]{8}"\}$/, "}");
      setLines(d, ls);
    },
    /damaged at line 60 \(byte \d+, revision 59\): the record has no checksum/,
  ],
  [
    "a record with a non-string key (in a format-1 log, which has no checksums to catch it first)",
    (d) => {
      const ls = lines(d).map((l) => l.replace(/,"s":"[0-9a-f]{8}"\}$/, "}"));
      ls[0] = '{"base":0}';
      ls[29] = ls[29]!.replace(/"k":"[^"]*"/, '"k":5');
      setLines(d, ls);
    },
    /damaged at line 30 \(byte \d+, revision 29\): the record's key is not a non-empty string/,
  ],
  [
    "a directory where the log should be",
    (d) => {
      rmSync(WAL(d));
      mkdirSync(WAL(d));
    },
    /cannot read store log .*wal\.log: it is not a regular file/,
  ],
];

for (const [what, damage, re] of refusals)
  test(`refused in one line, nothing changed: ${what}`, async () => {
    await assertRefused(damaged(what.replace(/\W+/g, "-").slice(0, 30), damage), re, what);
  });

test("a torn last record (cut mid-record, as a crash leaves it) is dropped alone; every earlier record is read, and the next write truncates only it", async () => {
  const s = damaged("torn", (d) => truncateSync(WAL(d), statSync(WAL(d)).size - 20));
  const got = await tortieInProcess(s, [
    "kubectl",
    "get",
    "cm",
    "-n",
    "t",
    "-o",
    "jsonpath={range .items[*]}{.data.k} {end}",
  ]);
  assert.equal(got.code, 0, got.err);
  // The cut record was cm-49's change to v2 (never acknowledged in a crash); all else is there.
  const want = Array.from({ length: 50 }, (_, i) => (i < 49 ? `v2-${i}` : "v1-49"));
  assert.deepEqual(got.out.trim().split(" ").sort(), want.sort());
  const check = tortie(s, ["store", "check"]);
  assert.equal(check.code, 0, check.err);
  assert.match(
    check.out,
    /revision: 104\n.*\n.*\nlog: base 0, format 2, 104 records, \d+ bytes \(a torn last record of \d+ bytes/s,
  );
  const keep = readFileSync(WAL(s)).subarray(0, readFileSync(WAL(s), "utf8").lastIndexOf("\n") + 1);
  const w = tortie(s, ["kubectl", "create", "configmap", "after", "-n", "t", "--from-literal=k=x"]);
  assert.equal(w.code, 0, w.err);
  assert.ok(readFileSync(WAL(s)).subarray(0, keep.length).equals(keep), "only the torn tail was cut");
  assert.equal((await names(s)).length, 51);
  assert.equal(tortie(s, ["store", "check"]).code, 0);
});

test("a log cut exactly at a record boundary reads as the shorter history it is (undetectable without a copy)", async () => {
  const s = damaged("boundary", (d) => setLines(d, lines(d).slice(0, -1)));
  assert.equal((await names(s)).length, 50);
  const check = tortie(s, ["store", "check"]);
  assert.equal(check.code, 0, check.err);
  assert.match(check.out, /revision: 104\n/);
});

test("a last line holding NUL bytes (a power cut's unwritten block, or damage) is refused, with how to drop it alone", async () => {
  let offset = 0;
  const s = damaged("nul", (d) => {
    offset = statSync(WAL(d)).size;
    writeFileSync(WAL(d), Buffer.concat([readFileSync(WAL(d)), Buffer.alloc(300), Buffer.from("\n")]));
  });
  const re = new RegExp(
    `damaged at line 107 \\(byte ${offset}, revision 106\\): the record holds NUL bytes .*; it is the last record, and if it is the only damage, \`truncate -s ${offset} .*wal\\.log\` drops it alone; nothing was changed`,
  );
  await assertRefused(s, re, "NUL line");
  // Doing what it says gives back every acknowledged record.
  truncateSync(WAL(s), offset);
  assert.equal((await names(s)).length, 50);
  assert.equal(tortie(s, ["store", "check"]).code, 0);
});

test("a format-1 log (written before checksums) reads, takes sealed records after it, and checks clean", async () => {
  const s = damaged("format1", (d) => {
    const ls = lines(d).map((l) => l.replace(/,"s":"[0-9a-f]{8}"\}$/, "}"));
    ls[0] = '{"base":0}';
    setLines(d, ls);
  });
  assert.equal((await names(s)).length, 50);
  const w = tortie(s, ["kubectl", "create", "configmap", "after", "-n", "t"]);
  assert.equal(w.code, 0, w.err);
  const check = tortie(s, ["store", "check"]);
  assert.equal(check.code, 0, check.err);
  assert.match(check.out, /log: base 0, format 1, 106 records/);
  assert.match(lines(s).at(-1)!, /,"s":"[0-9a-f]{8}"\}$/);
});

test("fault hook: TORTIE_FAULT_KILL_AFTER_WAL_BYTES=N kills the writer with SIGKILL after exactly N appended bytes; the store recovers", async () => {
  const root = temp.make("tortie-fault-");
  const s = join(root, "state");
  const m = join(root, "m.yaml");
  writeFileSync(m, manifest("t", 50, "v1"));
  const N = 7_777;
  const killed = tortie(s, ["apply", "-f", m], { TORTIE_FAULT_KILL_AFTER_WAL_BYTES: String(N) });
  assert.equal(killed.signal, "SIGKILL", killed.err);
  const header = `${readFileSync(WAL(s), "utf8").split("\n")[0]}\n`;
  assert.equal(statSync(WAL(s)).size, Buffer.byteLength(header) + N);
  const check = tortie(s, ["store", "check"]);
  assert.equal(check.code, 0, check.err);
  assert.match(check.out, /a torn last record of \d+ bytes/);
  const present = await names(s);
  assert.ok(present.length > 0 && present.length < 50, `${present.length} present`);
  const rerun = tortie(s, ["apply", "-f", m]);
  assert.equal(rerun.code, 0, rerun.err);
  assert.equal((await names(s)).length, 50);
  assert.equal(tortie(s, ["store", "check"]).code, 0);
});
