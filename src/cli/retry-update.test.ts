import assert from "node:assert/strict";
import { test } from "node:test";
import { type ApiObject, findKind } from "../api/index.ts";
import { MemoryBackend, ResourceClient } from "../store/index.ts";
import { MAX_UPDATE_ATTEMPTS, replaceUnconditionally, updateWithRetry } from "./retry-update.ts";

const cm = findKind("v1", "ConfigMap")!;
const KEY = "/registry/core/configmaps/default/c";

/** A client whose backend lets another writer add a data key between the read and the write, `times` times. */
async function racing(times: number) {
  const b = new MemoryBackend();
  const origUpdate = b.update.bind(b);
  let left = 0;
  let n = 0;
  b.update = async (key, value, rev, hints) => {
    if (key === KEY && left > 0) {
      left--;
      const cur = (await b.get(KEY))!;
      const v = cur.value as ApiObject;
      await origUpdate(
        KEY,
        { ...v, data: { ...(v.data as Record<string, string>), [`other${n++}`]: "x" } },
        cur.modRevision,
      );
    }
    return origUpdate(key, value, rev, hints);
  };
  const client = new ResourceClient(b);
  await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
  await client.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "default" } });
  return { client, arm: () => (left = times) };
}

const addMine = (live: ApiObject) => ({
  ...live,
  data: { ...(live.data as Record<string, string>), mine: "x" },
});

test("a lost race is retried against the newer object: both writers' changes are kept", async () => {
  const { client, arm } = await racing(3);
  arm();
  let calls = 0;
  const r = await updateWithRetry(client, cm, "c", "default", (live) => {
    calls++;
    return addMine(live);
  });
  assert.equal(r.changed, true);
  assert.equal(calls, 4, "the change is recomputed on each attempt");
  assert.deepEqual(Object.keys(r.object.data as object).sort(), ["mine", "other0", "other1", "other2"]);
});

test("a race lost every time ends, after MAX_UPDATE_ATTEMPTS, with the API server's Conflict", async () => {
  const { client, arm } = await racing(1000);
  arm();
  let calls = 0;
  await assert.rejects(
    updateWithRetry(client, cm, "c", "default", (live) => {
      calls++;
      return addMine(live);
    }),
    {
      code: "Conflict",
      message:
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again',
    },
  );
  assert.equal(calls, MAX_UPDATE_ATTEMPTS);
});

test("a resourceVersion the request sets itself is a precondition: a mismatch is not retried away", async () => {
  const { client } = await racing(0);
  let calls = 0;
  await assert.rejects(
    updateWithRetry(client, cm, "c", "default", (live) => {
      calls++;
      return { ...addMine(live), metadata: { ...live.metadata, resourceVersion: "1" } };
    }),
    { code: "Conflict" },
  );
  assert.equal(calls, 1);
  assert.equal((await client.mustGet(cm, "c", "default")).data, undefined);
});

test("no change writes nothing; a missing object is NotFound; the mutation's own error ends the loop", async () => {
  const { client } = await racing(0);
  const before = (await client.mustGet(cm, "c", "default")).metadata.resourceVersion;
  const r = await updateWithRetry(client, cm, "c", "default", () => undefined);
  assert.equal(r.changed, false);
  assert.equal((await client.mustGet(cm, "c", "default")).metadata.resourceVersion, before);
  await assert.rejects(updateWithRetry(client, cm, "gone", "default", addMine), { code: "NotFound" });
  await assert.rejects(
    updateWithRetry(client, cm, "c", "default", () => {
      throw new Error("bad patch");
    }),
    /bad patch/,
  );
});

test("an unconditional replace is retried when another writer wins the race", async () => {
  const { client, arm } = await racing(2);
  arm();
  const stored = await replaceUnconditionally(client, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "c", namespace: "default" },
    data: { only: "x" },
  });
  assert.deepEqual(stored.data, { only: "x" });
});
