import assert from "node:assert/strict";
import { test } from "node:test";
import { findKind } from "../api/index.ts";
import { MemoryBackend } from "./memory-backend.ts";
import { ResourceClient } from "./resource-client.ts";

const cm = findKind("v1", "ConfigMap")!;
const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } };
const obj = (data: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "c", namespace: "default" },
  data,
});

/** A backend where another writer gets in between the client's read and its write, `times` times. */
function racing(times: number, race: (other: MemoryBackend) => Promise<unknown>) {
  const b = new MemoryBackend();
  // The other writer's view: the same store, without the interference.
  const other = Object.create(b) as MemoryBackend;
  let left = 0;
  const origDelete = b.delete.bind(b);
  const origUpdate = b.update.bind(b);
  other.delete = origDelete;
  other.update = origUpdate;
  b.delete = async (key, rev) => {
    if (left > 0) {
      left--;
      await race(other);
    }
    return origDelete(key, rev);
  };
  b.update = async (key, value, rev, hints) => {
    if (left > 0) {
      left--;
      await race(other);
    }
    return origUpdate(key, value, rev, hints);
  };
  return { backend: b, arm: () => (left = times) };
}

test("a delete that loses a race to another write reads again and deletes; never the backend's CAS wording", async () => {
  const { backend, arm } = racing(3, async (b) => {
    const cur = (await b.get("/registry/core/configmaps/default/c"))!;
    await b.update(cur.key, { ...(cur.value as object), data: { n: String(cur.modRevision) } });
  });
  const client = new ResourceClient(backend);
  await client.create(ns);
  await client.create(obj({ n: "0" }));
  arm();
  const deleted = await client.delete(cm, "c", "default");
  assert.equal(deleted.metadata.name, "c");
  assert.equal(await client.get(cm, "c", "default"), undefined);
});

test("a delete with a precondition that another write overtakes gets the API server's precondition Conflict", async () => {
  const { backend, arm } = racing(1, async (b) => {
    const cur = (await b.get("/registry/core/configmaps/default/c"))!;
    await b.update(cur.key, cur.value);
  });
  const client = new ResourceClient(backend);
  await client.create(ns);
  const c = await client.create(obj({ n: "0" }));
  arm();
  await assert.rejects(client.delete(cm, "c", "default", { resourceVersion: c.metadata.resourceVersion }), {
    code: "Conflict",
    message:
      /^Operation cannot be fulfilled on configmaps "c": the ResourceVersion in the precondition \(\d+\) does not match the ResourceVersion in record \(\d+\)\. The object might have been modified$/,
  });
});

test("a write to an object deleted between the read and the write is the API server's NotFound", async () => {
  const { backend, arm } = racing(1, (b) => b.delete("/registry/core/configmaps/default/c"));
  const client = new ResourceClient(backend);
  await client.create(ns);
  await client.create(obj({ n: "0" }));
  arm();
  await assert.rejects(client.update(obj({ n: "1" })), {
    code: "NotFound",
    message: 'configmaps "c" not found',
  });
  await client.create(obj({ n: "0" }));
  arm();
  await assert.rejects(client.delete(cm, "c", "default"), {
    code: "NotFound",
    message: 'configmaps "c" not found',
  });
});

test("an update that loses a race gets the API server's Conflict wording", async () => {
  const { backend, arm } = racing(1, async (b) => {
    const cur = (await b.get("/registry/core/configmaps/default/c"))!;
    await b.update(cur.key, cur.value);
  });
  const client = new ResourceClient(backend);
  await client.create(ns);
  await client.create(obj({ n: "0" }));
  arm();
  await assert.rejects(client.update(obj({ n: "1" })), {
    code: "Conflict",
    message:
      'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again',
  });
});
