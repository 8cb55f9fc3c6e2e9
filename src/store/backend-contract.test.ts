import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { StoreBackend, WatchEvent } from "./backend.ts";
import { FileBackend } from "./file-backend.ts";
import { MemoryBackend } from "./memory-backend.ts";
import { encodeRecord } from "./wal-format.ts";

/** Every backend must pass this suite (an etcd backend included, when it exists). */
function contract(name: string, make: () => StoreBackend) {
  describe(`store backend contract: ${name}`, () => {
    test("create, get, update, delete move the revision and keep create revisions", async () => {
      const b = make();
      assert.equal(await b.revision(), 0);
      const a = await b.create("/a", { v: 1 });
      assert.deepEqual([a.createRevision, a.modRevision], [1, 1]);
      await assert.rejects(b.create("/a", { v: 2 }), { code: "AlreadyExists" });
      const u = await b.update("/a", { v: 2 }, 1);
      assert.deepEqual([u.createRevision, u.modRevision], [1, 2]);
      await assert.rejects(b.update("/a", { v: 3 }, 1), { code: "Conflict" });
      await assert.rejects(b.update("/missing", {}), { code: "NotFound" });
      assert.deepEqual((await b.get("/a"))?.value, { v: 2 });
      const d = await b.delete("/a");
      assert.equal(d.modRevision, 3);
      assert.equal(await b.get("/a"), undefined);
      await assert.rejects(b.delete("/a"), { code: "NotFound" });
      await b.close();
    });

    test("list returns a prefix sorted by key with a consistent revision", async () => {
      const b = make();
      for (const k of ["/x/b", "/x/a", "/y/a", "/x/c"]) await b.create(k, { k });
      const { items, revision } = await b.list("/x/");
      assert.deepEqual(
        items.map((i) => i.key),
        ["/x/a", "/x/b", "/x/c"],
      );
      assert.equal(revision, 4);
      await b.close();
    });

    test("stored values are copies: callers cannot mutate the store", async () => {
      const b = make();
      const v = { a: [1] };
      await b.create("/k", v);
      v.a.push(2);
      assert.deepEqual((await b.get("/k"))?.value, { a: [1] });
      await b.close();
    });

    test("a handed-over value is stored as given, with the same revisions, CAS and history", async () => {
      const b = make();
      const v = Object.freeze({ a: Object.freeze([1]) });
      const c = await b.create("/h", v, { handOver: true });
      assert.deepEqual([c.createRevision, c.modRevision], [1, 1]);
      assert.deepEqual((await b.get("/h"))?.value, { a: [1] });
      await assert.rejects(b.update("/h", { a: [2] }, 7, { handOver: true }), { code: "Conflict" });
      await assert.rejects(b.create("/h", { a: [3] }, { handOver: true }), { code: "AlreadyExists" });
      const u = await b.update("/h", { a: [2] }, 1, { handOver: true });
      assert.deepEqual([u.createRevision, u.modRevision], [1, 2]);
      assert.deepEqual(
        (await b.history("/h", 0)).map((e) => [e.type, e.revision, e.value]),
        [
          ["put", 1, { a: [1] }],
          ["put", 2, { a: [2] }],
        ],
      );
      // The frozen value was never written to: the store does not change what it is given.
      assert.deepEqual(v, { a: [1] });
      await b.close();
    });

    test("watch replays history from a revision, then streams; compaction is reported", async () => {
      const b = make();
      await b.create("/w/1", 1);
      await b.create("/other", 0);
      await b.update("/w/1", 2);
      const seen: WatchEvent[] = [];
      const stop = await b.watch("/w/", 1, (e) => seen.push(e));
      await b.delete("/w/1");
      stop();
      await b.create("/w/2", 3);
      assert.deepEqual(
        seen.map((e) => [e.type, e.key, e.revision]),
        [
          ["put", "/w/1", 3],
          ["delete", "/w/1", 4],
        ],
      );
      assert.equal((await b.history("/w/", 0)).length, 4);
      await b.compact(await b.revision());
      await assert.rejects(b.history("/w/", 1), { code: "Compacted" });
      assert.equal((await b.get("/w/2"))?.value, 3);
      await b.close();
    });
  });
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tortie-store-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

contract("memory", () => new MemoryBackend());
contract("file", () => new FileBackend(tempDir()));

test("file backend: state survives reopening, across compactions", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir, { compactAfterRecords: 5 });
  for (let i = 0; i < 12; i++) await b.create(`/k/${i}`, { i });
  await b.update("/k/3", { i: 33 });
  await b.delete("/k/4");
  const again = new FileBackend(dir);
  const { items, revision } = await again.list("/k/");
  assert.equal(revision, 14);
  assert.equal(items.length, 11);
  assert.deepEqual((await again.get("/k/3"))?.value, { i: 33 });
  assert.equal((await again.get("/k/3"))?.createRevision, 4);
});

test("file backend: two instances (as two processes) see each other's writes and conflict correctly", async () => {
  const dir = tempDir();
  const one = new FileBackend(dir, { compactAfterRecords: 4 });
  const two = new FileBackend(dir, { compactAfterRecords: 4 });
  await one.create("/a", 1);
  assert.equal((await two.get("/a"))?.value, 1);
  await assert.rejects(two.create("/a", 2), { code: "AlreadyExists" });
  const writes = [];
  for (let i = 0; i < 20; i++) writes.push((i % 2 ? one : two).create(`/n/${i}`, i));
  await Promise.all(writes);
  assert.equal((await one.list("/n/")).items.length, 20);
  assert.equal((await two.list("/n/")).items.length, 20);
  assert.equal(await one.revision(), 21);
  const seen: number[] = [];
  const stop = await two.watch("/late/", await two.revision(), (e) => seen.push(e.revision));
  await one.create("/late/x", 1);
  await new Promise((r) => setTimeout(r, 200));
  stop();
  assert.deepEqual(seen, [22]);
});

test("file backend: a damaged snapshot or an unusable directory is a clear error, and nothing is changed", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "snapshot.json"), "{damaged");
  assert.throws(() => new FileBackend(dir), /store snapshot .*snapshot.json is damaged: not valid JSON/);
  assert.equal(readFileSync(join(dir, "snapshot.json"), "utf8"), "{damaged");
  const file = join(tempDir(), "a-file");
  writeFileSync(file, "");
  assert.throws(() => new FileBackend(join(file, "store")), /cannot use .* as a store: ENOTDIR/);
});

test("file backend: records a reader saw and a failed append then cut off again are forgotten, not written over", async () => {
  const dir = tempDir();
  const writer = new FileBackend(dir);
  const reader = new FileBackend(dir);
  await writer.create("/a", 1);
  // What a writer whose fdatasync failed leaves for an instant: a complete line it then truncates away.
  const wal = join(dir, "wal.log");
  const size = statSync(wal).size;
  appendFileSync(wal, encodeRecord({ r: 2, t: "put", k: "/ghost", v: 1, c: 2 }));
  assert.equal((await reader.get("/ghost"))?.value, 1);
  truncateSync(wal, size);
  await reader.create("/b", 2);
  const fresh = new FileBackend(dir);
  assert.equal(fresh.summary().revision, 2);
  assert.equal(await fresh.get("/ghost"), undefined);
  assert.equal((await fresh.get("/b"))?.modRevision, 2);
});
