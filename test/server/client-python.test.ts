/**
 * A client library against the server: Python's kubernetes client from Debian (python3-kubernetes) loads the
 * kubeconfig the server's credentials make (CA, bearer token), lists pods, watches a create from the list's
 * resourceVersion, and patches labels (a merge patch, and the client's default strategic merge patch). It runs on
 * every Node (the @kubernetes/client-node test needs Node >= 22.19); skipped when Debian's python3 lacks the module.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { kubeconfigText } from "../../src/server/index.ts";
import { startTestServer } from "./api-server-harness.ts";
import { runProcess } from "./seed-kubectl-harness.ts";

/** Debian's interpreter, where apt's python3-kubernetes lives (not a pyenv or venv python3 on PATH). */
const PYTHON = "/usr/bin/python3";
const probe = spawnSync(PYTHON, ["-c", "import kubernetes"], { encoding: "utf8" });
const skip =
  probe.status === 0
    ? false
    : `Python's kubernetes client is not installed (apt-get install python3-kubernetes): ${
        probe.error?.message ?? probe.stderr.trim().split("\n").pop()
      }`;

/** The client's session, printing what it saw as one JSON object. */
const SCRIPT = `
import json, sys
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
pod = lambda name, labels: {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": name, "namespace": "default", "labels": labels},
    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
}
out = {}
v1.create_namespaced_pod("default", pod("first", {"app": "a"}))
listed = v1.list_namespaced_pod("default")
out["listed"] = [p.metadata.name for p in listed.items]
out["selected"] = [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=b").items]
v1.create_namespaced_pod("default", pod("second", {}))
events = []
for e in watch.Watch().stream(v1.list_namespaced_pod, "default",
                              resource_version=listed.metadata.resource_version, timeout_seconds=10):
    events.append([e["type"], e["object"].metadata.name])
    break
out["events"] = events
# A merge patch, sent with its content type through the client's own request path.
merged = v1.api_client.call_api(
    "/api/v1/namespaces/{namespace}/pods/{name}", "PATCH",
    path_params={"namespace": "default", "name": "first"},
    header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
    body={"metadata": {"labels": {"tier": "web"}}},
    response_type="V1Pod", auth_settings=["BearerToken"], _return_http_data_only=True)
out["merged"] = merged.metadata.labels
strategic = v1.patch_namespaced_pod("first", "default", {"metadata": {"labels": {"x": "y"}}})
out["strategic"] = strategic.metadata.labels
try:
    v1.read_namespaced_pod("nope", "default")
except client.exceptions.ApiException as e:
    out["missing"] = [e.status, json.loads(e.body)["message"]]
print(json.dumps(out))
`;

test("Python's kubernetes client: kubeconfig, list, watch a create, merge and strategic label patches", {
  skip,
}, async (t) => {
  const s = await startTestServer(t);
  const dir = mkdtempSync(join(tmpdir(), "tortie-client-python-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    kubeconfigText({ url: s.server.url, caCertPem: s.caCertPem, token: s.token, clusterName: "test" }),
    { mode: 0o600 },
  );
  const r = await runProcess(PYTHON, ["-c", SCRIPT, kubeconfig], {
    env: { PATH: process.env.PATH, HOME: dir },
  });
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), {
    listed: ["first"],
    selected: [],
    events: [["ADDED", "second"]],
    merged: { app: "a", tier: "web" },
    strategic: { app: "a", tier: "web", x: "y" },
    missing: [404, 'pods "nope" not found'],
  });
  const stored = await s.host.store.get(
    s.host.store.kindOf({ apiVersion: "v1", kind: "Pod", metadata: {} }),
    "first",
    "default",
  );
  assert.ok(stored);
  assert.deepEqual(stored.metadata.labels, { app: "a", tier: "web", x: "y" });
  // The client's user agent ("OpenAPI-Generator/22.6.0/python") names the manager of its patches.
  const managers = (stored.metadata as { managedFields?: { manager: string }[] }).managedFields?.map(
    (m) => m.manager,
  );
  assert.deepEqual(managers, ["OpenAPI-Generator"]);
});
