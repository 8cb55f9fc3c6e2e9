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
import { after, test } from "node:test";
import { FileBackend } from "../../src/store/file-backend.ts";
import { MemoryBackend } from "../../src/store/memory-backend.ts";
import { encodeRecord } from "../../src/store/wal-format.ts";
import { contract } from "./backend-contract.ts";

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
