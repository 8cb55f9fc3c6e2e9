import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { EtcdBackend, type WatchEvent } from "../../src/store/index.ts";
import { type EtcdServer, etcdUnavailable, startEtcd } from "./etcd-harness.ts";

const unavailable = etcdUnavailable();
let etcd: EtcdServer | undefined;
before(async () => {
  if (!unavailable) etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

/** Polls until `check` holds; fails after many tries, never on timing alone. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** A write that fails while etcd restarts is tried again until etcd answers. */
async function retried<T>(write: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await write();
    } catch (e) {
      if (i >= 200) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

test("etcd: a watch resumes from its last event when etcd restarts, and delivers what was written meanwhile", {
  skip: unavailable,
}, async (t) => {
  const watcher = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/resume" });
  const writer = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/resume" });
  t.after(async () => {
    await watcher.close();
    await writer.close();
  });
  const seen: WatchEvent[] = [];
  const stop = await watcher.watch("/k/", await writer.revision(), (e) => seen.push(e));
  t.after(stop);
  await writer.create("/k/before", { n: 1 });
  await eventually(() => seen.length === 1, "the event before the restart");

  await etcd!.restart();
  await retried(() => writer.create("/k/after", { n: 2 }));
  await writer.update("/k/before", { n: 3 });

  await eventually(() => seen.length === 3, "the events after the restart");
  assert.deepEqual(
    seen.map((e) => [e.type, e.key, e.value]),
    [
      ["put", "/k/before", { n: 1 }],
      ["put", "/k/after", { n: 2 }],
      ["put", "/k/before", { n: 3 }],
    ],
  );
  // Revisions keep rising: nothing is delivered twice after the resume.
  assert.ok(seen[0]!.revision < seen[1]!.revision && seen[1]!.revision < seen[2]!.revision);
});

test("etcd: a stopped watch is not resumed after a restart", { skip: unavailable }, async (t) => {
  const watcher = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/stopped" });
  const writer = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/stopped" });
  t.after(async () => {
    await watcher.close();
    await writer.close();
  });
  const seen: WatchEvent[] = [];
  const stop = await watcher.watch("/k/", await writer.revision(), (e) => seen.push(e));
  stop();
  await etcd!.restart();
  await retried(() => writer.create("/k/a", {}));
  // A marker watch opened after the write sees it; the stopped one must not have.
  const marker: WatchEvent[] = [];
  const stopMarker = await writer.watch("/k/", 0, (e) => marker.push(e));
  t.after(stopMarker);
  await eventually(() => marker.length === 1, "the marker watch's event");
  assert.deepEqual(seen, []);
});
