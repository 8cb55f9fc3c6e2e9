import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StoreBackend, WatchEvent } from "../../src/store/index.ts";

/**
 * The contract every store backend passes (memory, file, etcd). Revisions are compared relative to the backend's
 * revision when a test starts: etcd's are global and a fresh etcd is already at 1. `make` gives each test a
 * backend with no keys of its own (a fresh store, or its own key prefix on a shared etcd).
 */
export function contract(
  name: string,
  make: () => StoreBackend | Promise<StoreBackend>,
  skip?: string,
): void {
  describe(`store backend contract: ${name}`, { skip }, () => {
    test("create, get, update, delete move the revision and keep create revisions", async () => {
      const b = await make();
      const base = await b.revision();
      const a = await b.create("/a", { v: 1 });
      assert.deepEqual([a.createRevision, a.modRevision], [base + 1, base + 1]);
      await assert.rejects(b.create("/a", { v: 2 }), { code: "AlreadyExists" });
      const u = await b.update("/a", { v: 2 }, base + 1);
      assert.deepEqual([u.createRevision, u.modRevision], [base + 1, base + 2]);
      await assert.rejects(b.update("/a", { v: 3 }, base + 1), { code: "Conflict" });
      await assert.rejects(b.update("/missing", {}), { code: "NotFound" });
      assert.deepEqual((await b.get("/a"))?.value, { v: 2 });
      await assert.rejects(b.delete("/a", base + 1), { code: "Conflict" });
      const d = await b.delete("/a");
      assert.equal(d.modRevision, base + 3);
      assert.deepEqual([d.createRevision, d.value], [base + 1, { v: 2 }]);
      assert.equal(await b.revision(), base + 3);
      assert.equal(await b.get("/a"), undefined);
      await assert.rejects(b.delete("/a"), { code: "NotFound" });
      await b.close();
    });

    test("list returns a prefix sorted by key with a consistent revision", async () => {
      const b = await make();
      const base = await b.revision();
      for (const k of ["/x/b", "/x/a", "/y/a", "/x/c"]) await b.create(k, { k });
      const { items, revision } = await b.list("/x/");
      assert.deepEqual(
        items.map((i) => i.key),
        ["/x/a", "/x/b", "/x/c"],
      );
      assert.equal(revision, base + 4);
      await b.close();
    });

    test("stored values are copies: callers cannot mutate the store", async () => {
      const b = await make();
      const v = { a: [1] };
      await b.create("/k", v);
      v.a.push(2);
      assert.deepEqual((await b.get("/k"))?.value, { a: [1] });
      await b.close();
    });

    test("a handed-over value is stored as given, with the same revisions, CAS and history", async () => {
      const b = await make();
      const base = await b.revision();
      const v = Object.freeze({ a: Object.freeze([1]) });
      const c = await b.create("/h", v, { handOver: true });
      assert.deepEqual([c.createRevision, c.modRevision], [base + 1, base + 1]);
      assert.deepEqual((await b.get("/h"))?.value, { a: [1] });
      await assert.rejects(b.update("/h", { a: [2] }, base + 7, { handOver: true }), { code: "Conflict" });
      await assert.rejects(b.create("/h", { a: [3] }, { handOver: true }), { code: "AlreadyExists" });
      const u = await b.update("/h", { a: [2] }, base + 1, { handOver: true });
      assert.deepEqual([u.createRevision, u.modRevision], [base + 1, base + 2]);
      assert.deepEqual(
        (await b.history("/h", base)).map((e) => [e.type, e.revision, e.value]),
        [
          ["put", base + 1, { a: [1] }],
          ["put", base + 2, { a: [2] }],
        ],
      );
      // The frozen value was never written to: the store does not change what it is given.
      assert.deepEqual(v, { a: [1] });
      await b.close();
    });

    test("watch replays history from a revision, then streams; compaction is reported", async () => {
      const b = await make();
      const base = await b.revision();
      await b.create("/w/1", 1);
      await b.create("/other", 0);
      await b.update("/w/1", 2);
      const seen: WatchEvent[] = [];
      const stop = await b.watch("/w/", base + 1, (e) => seen.push(e));
      await b.delete("/w/1");
      // A backend in another process (etcd) delivers events asynchronously: wait for the delete, then stop.
      await until(() => seen.length >= 2);
      stop();
      await b.create("/w/2", 3);
      assert.deepEqual(
        seen.map((e) => [e.type, e.key, e.revision, e.value]),
        [
          ["put", "/w/1", base + 3, 2],
          ["delete", "/w/1", base + 4, 2],
        ],
      );
      assert.deepEqual(
        (await b.history("/w/", base)).map((e) => [e.type, e.key, e.revision]),
        [
          ["put", "/w/1", base + 1],
          ["put", "/w/1", base + 3],
          ["delete", "/w/1", base + 4],
          ["put", "/w/2", base + 5],
        ],
      );
      assert.deepEqual(await b.history("/w/", base + 5), []);
      await b.compact(await b.revision());
      await assert.rejects(b.history("/w/", base + 1), { code: "Compacted" });
      await assert.rejects(
        b.watch("/w/", base + 1, () => {}),
        { code: "Compacted" },
      );
      assert.equal((await b.get("/w/2"))?.value, 3);
      await b.close();
    });
  });
}

/** Waits (bounded: a missing event fails the test instead of hanging it) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}
