import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileBackend } from "../../src/store/file-backend.ts";
import {
  decodeSnapshot,
  encodeRecord,
  encodeSnapshot,
  openSealed,
  seal,
} from "../../src/store/wal-format.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tortie-walfmt-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a sealed line is one JSON object whose last field is the CRC-32 of the rest; any changed byte fails it", () => {
  const line = seal(JSON.stringify({ r: 7, t: "put", k: "/a/b", v: { x: "é" }, c: 7 }));
  assert.match(line, /^\{"r":7,.*,"s":"[0-9a-f]{8}"\}$/);
  assert.deepEqual(JSON.parse(line).v, { x: "é" });
  const ok = openSealed(Buffer.from(line));
  assert.ok(ok.ok && ok.sealed);
  assert.deepEqual(ok.ok && ok.value, { r: 7, t: "put", k: "/a/b", v: { x: "é" }, c: 7 });
  // Every single-character change anywhere in the line is caught (checksum mismatch, not JSON, or unsealed).
  let caught = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] === "1" ? "2" : "1";
    const opened = openSealed(Buffer.from(line.slice(0, i) + ch + line.slice(i + 1)));
    if (!opened.ok || !opened.sealed) caught++;
  }
  assert.equal(caught, line.length);
});

test("a format-1 log (no checksums, as older tortie wrote it) still reads; new records are sealed", async () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, "wal.log"),
    '{"base":0}\n{"r":1,"t":"put","k":"/a","v":1,"c":1}\n{"r":2,"t":"put","k":"/b","v":2,"c":2}\n{"r":3,"t":"delete","k":"/a"}\n',
  );
  const b = new FileBackend(dir);
  assert.equal(await b.revision(), 3);
  assert.equal((await b.get("/b"))?.value, 2);
  await b.create("/c", 3);
  const lines = readFileSync(join(dir, "wal.log"), "utf8").trimEnd().split("\n");
  assert.equal(lines.length, 5);
  assert.ok(
    openSealed(Buffer.from(lines[4]!)).ok &&
      (openSealed(Buffer.from(lines[4]!)) as { sealed: boolean }).sealed,
  );
  const again = new FileBackend(dir);
  assert.equal((await again.get("/c"))?.value, 3);
  // After a sealed record, an unsealed one is damage.
  writeFileSync(
    join(dir, "wal.log"),
    `${readFileSync(join(dir, "wal.log"), "utf8")}{"r":5,"t":"put","k":"/d","v":1,"c":5}\n`,
  );
  assert.throws(
    () => new FileBackend(dir),
    /line 6 .*revision 5\): the record has no checksum, but the records before it have/,
  );
});

test("snapshot shapes: {} / null / a string / an entry that is not [key, c, m, value] are one-line refusals", () => {
  const cases: [string, RegExp][] = [
    ["{}", /unknown snapshot format undefined/],
    ["null", /it is not a JSON object/],
    ['"str"', /it is not a JSON object/],
    ["", /the file is empty/],
    [
      '{"format":1,"revision":3,"entries":["x"]}',
      /entry 0 is not \[key, createRevision, modRevision, value\]/,
    ],
    ['{"format":1,"revision":3,"entries":[[5,1,1,{}]]}', /entry 0's key is not a non-empty string/],
    ['{"format":1,"revision":3,"entries":[["/a",1,9,{}]]}', /entry 0 \(\/a\) has revisions 1\/9 outside 1–3/],
    ['{"format":2,"revision":3,"entries":[]}', /it has no checksum/],
    ['{"format":1,"revision":-1,"entries":[]}', /its revision is not a revision number/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => decodeSnapshot(Buffer.from(text), "/x/snapshot.json"),
      (e: Error) => re.test(e.message) && !e.message.includes("\n") && e.message.includes("/x/snapshot.json"),
      text,
    );
  }
  assert.equal(
    decodeSnapshot(Buffer.from('{"format":1,"revision":3,"entries":[["/a",1,2,{}]]}'), "s").revision,
    3,
  );
});

test("records: a forged but well-sealed record with a bad shape is still refused, naming line and revision", () => {
  const dir = tempDir();
  const head = `{"base":0,"format":2}\n${encodeRecord({ r: 1, t: "put", k: "/a", v: 1, c: 1 })}`;
  const cases: [string, RegExp][] = [
    [
      `${seal(JSON.stringify({ r: 2, t: "put", k: 5, v: 1, c: 2 }))}\n`,
      /line 3 \(byte \d+, revision 2\): the record's key is not a non-empty string/,
    ],
    [`${seal(JSON.stringify({ r: 3, t: "put", k: "/b", v: 1, c: 3 }))}\n`, /revision 3 skips revision 2/],
    [
      `${seal(JSON.stringify({ r: 1, t: "put", k: "/b", v: 1, c: 1 }))}\n`,
      /revision 1 is not after the previous record's 1/,
    ],
    [`${seal(JSON.stringify({ r: 2, t: "move", k: "/b" }))}\n`, /type is "move"/],
    [`${seal(JSON.stringify({ r: 2, t: "delete", k: "/zz" }))}\n`, /deletes \/zz, which does not exist/],
    ["[1,2]\n", /the record is not a JSON object/],
  ];
  for (const [line, re] of cases) {
    writeFileSync(join(dir, "wal.log"), head + line + encodeRecord({ r: 3, t: "put", k: "/z", v: 1, c: 3 }));
    assert.throws(() => new FileBackend(dir), re, line);
  }
});

test("a compaction that died after its snapshot and before its new log: the old log is read up to the snapshot", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir);
  for (const k of ["/a", "/b", "/c"]) await b.create(k, k);
  const entries = (["/a", "/b", "/c"] as const).map(
    (k, i) => [k, i + 1, i + 1, k] as [string, number, number, unknown],
  );
  writeFileSync(join(dir, "snapshot.json"), encodeSnapshot(3, entries));
  const r = new FileBackend(dir);
  assert.equal(await r.revision(), 3);
  await r.create("/d", 4);
  const again = new FileBackend(dir);
  assert.equal((await again.get("/d"))?.modRevision, 4);
  assert.equal(again.summary().keys, 4);
  // A snapshot newer than everything the log holds is damage (after the reader's retries for a racing compaction).
  writeFileSync(join(dir, "snapshot.json"), encodeSnapshot(9, entries));
  assert.throws(
    () => new FileBackend(dir),
    /store log .*wal\.log ends at revision 4, before the snapshot's revision 9; nothing was changed/,
  );
});
