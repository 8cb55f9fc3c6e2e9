/**
 * A client library against the server: @kubernetes/client-node loads the kubeconfig the server's credentials
 * make (CA, bearer token), lists pods, watches one being created, and patches a label with a merge patch.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { kubeconfigText } from "../../src/server/index.ts";
import { eventually, startTestServer } from "./api-server-harness.ts";

/**
 * Pinned to @kubernetes/client-node 1.x: 2.x runs on undici 8, which needs Node >= 22.19 and fails while loading on
 * Node 20, the project's floor. 1.x has the same promise API.
 */
const pod = (name: string, labels: Record<string, string> = {}): V1Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels },
  spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
});

test("@kubernetes/client-node: kubeconfig, list, watch a create, merge-patch a label", async (t) => {
  const { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch } = await import(
    "@kubernetes/client-node"
  );
  const s = await startTestServer(t);
  const dir = mkdtempSync(join(tmpdir(), "tortie-client-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "kubeconfig");
  writeFileSync(
    path,
    kubeconfigText({ url: s.server.url, caCertPem: s.caCertPem, token: s.token, clusterName: "test" }),
    { mode: 0o600 },
  );
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  assert.equal(kc.getCurrentCluster()?.server, s.server.url);
  const core = kc.makeApiClient(CoreV1Api);

  await core.createNamespacedPod({ namespace: "default", body: pod("first", { app: "a" }) });
  const listed = await core.listNamespacedPod({ namespace: "default" });
  assert.deepEqual(
    listed.items.map((p) => p.metadata?.name),
    ["first"],
  );
  assert.match(listed.metadata?.resourceVersion ?? "", /^\d+$/);
  const selected = await core.listNamespacedPod({ namespace: "default", labelSelector: "app=b" });
  assert.equal(selected.items.length, 0);

  // A watch from the list's resourceVersion sees a pod created after it started, and nothing before.
  const events: { type: string; name?: string }[] = [];
  const watch = new Watch(kc);
  let ended: unknown = "open";
  const abort = await watch.watch(
    "/api/v1/namespaces/default/pods",
    { resourceVersion: listed.metadata?.resourceVersion, allowWatchBookmarks: true },
    (type, object: V1Pod) => {
      if (type !== "BOOKMARK") events.push({ type, name: object.metadata?.name });
    },
    (err) => {
      ended = err;
    },
  );
  t.after(() => abort.abort());
  await core.createNamespacedPod({ namespace: "default", body: pod("second") });
  await eventually(() => events.some((e) => e.name === "second"), "the watch event for the created pod");
  assert.deepEqual(events, [{ type: "ADDED", name: "second" }]);
  assert.equal(ended, "open");

  // A merge patch of a label: the other labels stay, the watch sees the change.
  const patched = await core.patchNamespacedPod(
    { name: "first", namespace: "default", body: { metadata: { labels: { tier: "web" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  assert.deepEqual(patched.metadata?.labels, { app: "a", tier: "web" });
  const read = await core.readNamespacedPod({ name: "first", namespace: "default" });
  assert.deepEqual(read.metadata?.labels, { app: "a", tier: "web" });
  // The client's user agent names the field manager, as the API server defaults it.
  assert.ok(
    read.metadata?.managedFields?.some((m) => m.operation === "Update" && m.fieldsV1 !== undefined),
    "the patch is recorded in managedFields",
  );
  await eventually(
    () => events.some((e) => e.type === "MODIFIED" && e.name === "first"),
    "the watch event for the patched pod",
  );

  // The client's error for a missing object is the server's 404 Status.
  await assert.rejects(core.readNamespacedPod({ name: "nope", namespace: "default" }), (e: Error) => {
    assert.match(e.message, /HTTP-Code: 404/);
    assert.match(e.message, /pods \\*"nope\\*" not found/);
    return true;
  });
});
