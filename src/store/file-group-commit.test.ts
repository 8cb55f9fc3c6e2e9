import assert from "node:assert/strict";
import fs, { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileBackend } from "./file-backend.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tortie-group-commit-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("group commit: N concurrent writes share fdatasyncs, each is durable when it resolves, all survive a reopen", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir);
  await b.create("/seed", 0);
  const before = b.logSyncs;
  const n = 200;
  const durableOnResolve: Promise<boolean>[] = [];
  let resolvedBeforeSync = 0;
  const writes = Array.from({ length: n }, (_, i) =>
    b.create(`/k/${i}`, { i }).then((s) => {
      // A fresh reader (another process) sees it, and an fdatasync of the log has returned: the call resolves
      // only after its batch is synced (a reader alone could not tell; it sees the page cache).
      if (b.logSyncs === before) resolvedBeforeSync++;
      if (i % 50 === 0)
        durableOnResolve.push(new FileBackend(dir).get(`/k/${i}`).then((e) => e !== undefined));
      return s;
    }),
  );
  const stored = await Promise.all(writes);
  assert.deepEqual(
    stored.map((s) => s.modRevision),
    Array.from({ length: n }, (_, i) => i + 2),
    "revisions follow call order",
  );
  const syncs = b.logSyncs - before;
  assert.ok(syncs < n, `${n} writes took ${syncs} fdatasyncs`);
  assert.ok(syncs >= 1);
  assert.equal(resolvedBeforeSync, 0, "no call resolves before an fdatasync");
  assert.deepEqual(await Promise.all(durableOnResolve), [true, true, true, true]);
  const again = new FileBackend(dir);
  const { items, revision } = await again.list("/k/");
  assert.equal(revision, n + 1);
  assert.equal(items.length, n);
  assert.deepEqual(
    items.map((i) => (i.value as { i: number }).i).sort((x, y) => x - y),
    Array.from({ length: n }, (_, i) => i),
  );
  // The log format: a header, then one sealed JSON record per write (the checksum is its last field).
  const lines = readFileSync(join(dir, "wal.log"), "utf8").trimEnd().split("\n");
  assert.deepEqual(JSON.parse(lines[0]!), { base: 0, format: 2 });
  assert.equal(lines.length, n + 2);
  const { s, ...rec } = JSON.parse(lines[2]!);
  assert.deepEqual(rec, { r: 2, t: "put", k: "/k/0", v: { i: 0 }, c: 2 });
  assert.match(s, /^[0-9a-f]{8}$/);
});

test("group commit: a write that fails its check fails alone; later writes in the batch see the earlier ones", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir);
  const a = await b.create("/a", 1);
  const results = await Promise.allSettled([
    b.create("/x", 1),
    b.create("/x", 2), // the first create of the batch already made /x
    b.update("/a", 2, a.modRevision),
    b.update("/a", 3, a.modRevision), // the update before it moved /a on
    b.delete("/x"),
    b.update("/x", 4), // deleted earlier in the batch
    b.create("/x", 5), // and so free again
  ]);
  assert.deepEqual(
    results.map((r) =>
      r.status === "fulfilled" ? r.value.modRevision : (r.reason as { code: string }).code,
    ),
    [2, "AlreadyExists", 3, "Conflict", 4, "NotFound", 5],
  );
  const again = new FileBackend(dir);
  assert.deepEqual((await again.get("/x"))?.value, 5);
  assert.equal((await again.get("/x"))?.createRevision, 5);
  assert.deepEqual((await again.get("/a"))?.value, 2);
  assert.equal(await again.revision(), 5);
});

test("group commit: the caller may change its object after the call; the store keeps what was passed", async () => {
  const b = new FileBackend(tempDir());
  const v = { list: [1] };
  const p = b.create("/v", v);
  v.list.push(2);
  await p;
  assert.deepEqual((await b.get("/v"))?.value, { list: [1] });
});

test("group commit: a watcher that throws fails its own write; the rest of the batch is applied and settled", async () => {
  const b = new FileBackend(tempDir());
  const stop = await b.watch("/w/", 0, (e) => {
    if (e.key === "/w/1") throw new Error("watcher failed");
  });
  const settled = await Promise.race([
    Promise.allSettled([b.create("/w/1", 1), b.create("/w/2", 2)]),
    new Promise<"hung">((r) => setTimeout(() => r("hung"), 2000).unref()),
  ]);
  stop();
  assert.notEqual(settled, "hung", "every call of the batch settles");
  assert.deepEqual(
    (settled as PromiseSettledResult<unknown>[]).map((r) => r.status),
    ["rejected", "fulfilled"],
  );
  assert.equal((await b.get("/w/2"))?.value, 2);
});

test("group commit: a batch cut short by a failed write leaves nothing of it behind", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir);
  await b.create("/seed", 0);
  const realWrite = fs.writeSync;
  // The first write of the batch gets out two complete lines, then the disk is full.
  let calls = 0;
  (fs as { writeSync: unknown }).writeSync = (
    fd: number,
    buf: Buffer,
    off: number,
    len: number,
    pos: number,
  ) => {
    if (calls++ > 0) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    const twoLines = buf.indexOf(10, buf.indexOf(10, off) + 1) + 1 - off;
    return realWrite(fd, buf, off, Math.min(len, twoLines), pos);
  };
  syncBuiltinESMExports();
  let results: PromiseSettledResult<unknown>[];
  try {
    results = await Promise.allSettled([b.create("/f/1", 1), b.create("/f/2", 2), b.create("/f/3", 3)]);
  } finally {
    (fs as { writeSync: unknown }).writeSync = realWrite;
    syncBuiltinESMExports();
  }
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected", "rejected"],
  );
  for (const reader of [b, new FileBackend(dir)]) {
    assert.equal(await reader.get("/f/1"), undefined, "a failed write is not applied");
    assert.equal(await reader.revision(), 1);
  }
  assert.equal((await b.create("/f/4", 4)).modRevision, 2);
});
