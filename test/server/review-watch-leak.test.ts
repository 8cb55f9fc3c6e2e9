/**
 * Review (issue 18, R1): watches closed abruptly by their clients leave nothing behind in the store: every
 * store watcher is unsubscribed and the file store's poll timer (which reads other processes' writes) stops.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ensureCredentials, type ServerHost, startApiServer } from "../../src/server/index.ts";
import { FileBackend, ResourceClient, type StoreBackend } from "../../src/store/index.ts";
import { eventually } from "./api-server-harness.ts";

/** The backend with a count of open watches (subscribed and not yet unsubscribed). */
function counted(backend: StoreBackend): StoreBackend & { open: number } {
  const wrapper: StoreBackend & { open: number } = {
    open: 0,
    revision: () => backend.revision(),
    get: (key) => backend.get(key),
    list: (prefix) => backend.list(prefix),
    create: (key, value, hints) => backend.create(key, value, hints),
    update: (key, value, expected, hints) => backend.update(key, value, expected, hints),
    delete: (key, expected) => backend.delete(key, expected),
    history: (prefix, from) => backend.history(prefix, from),
    compact: (revision) => backend.compact(revision),
    close: () => backend.close(),
    async watch(prefix, from, onEvent) {
      const stop = await backend.watch(prefix, from, onEvent);
      wrapper.open++;
      let stopped = false;
      return () => {
        if (!stopped) wrapper.open--;
        stopped = true;
        stop();
      };
    },
  };
  return wrapper;
}

test("100 watches on the file store, closed abruptly mid-stream, leave no watcher and no poll timer", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "tortie-review-watch-"));
  const file = new FileBackend(join(root, "store"), { pollIntervalMs: 20 });
  const backend = counted(file);
  const store = new ResourceClient(backend);
  await store.ensureBuiltIns();
  const host: ServerHost = {
    store,
    now: () => new Date("2026-01-01T12:00:00Z"),
    afterWrite: async () => {},
    podLogs: async () => "",
    execInPod: async () => 0,
    commandRefusal: () => undefined,
    runCommand: async () => 0,
  };
  const dir = join(root, "server");
  const server = await startApiServer({ host, dir });
  t.after(async () => {
    await server.close();
    await file.close();
    rmSync(root, { recursive: true, force: true });
  });
  const { token, caCertPem } = await ensureCredentials(dir);

  // Each watch is open once its first line (the namespace's ADDED) has arrived; then its socket is destroyed.
  const open = (i: number) =>
    new Promise<() => void>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: server.port,
          path: `/api/v1/namespaces?watch=true&allowWatchBookmarks=true&labelSelector=n%21%3D${i}`,
          ca: caCertPem,
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          res.once("data", () => resolve(() => req.destroy()));
        },
      );
      req.on("error", (e) => {
        if (!(e as NodeJS.ErrnoException).code?.startsWith("ECONNRESET")) reject(e);
      });
      req.end();
    });
  const closers = await Promise.all(Array.from({ length: 100 }, (_, i) => open(i)));
  assert.equal(backend.open, 100);
  assert.ok(
    (file as unknown as { pollTimer?: unknown }).pollTimer,
    "the poll timer runs while watches are open",
  );

  // A write while they are open reaches the store's watchers; then every client goes away at once.
  await store.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "during" } });
  for (const close of closers) close();

  await eventually(() => backend.open === 0, "every store watcher unsubscribed");
  assert.equal((file as unknown as { pollTimer?: unknown }).pollTimer, undefined, "the poll timer stopped");
  // The server still serves.
  await store.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "after" } });
});
