import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { kubeconfigText } from "../../src/server/index.ts";
import { eventually, startTestServer } from "./api-server-harness.ts";

const pod = (name: string, labels: Record<string, string> = {}, nodeName = "node1") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels },
  spec: { nodeName, containers: [{ name: "c", image: "busybox" }] },
});

test("requests without the token, or with a wrong one, get the API server's 401 Status", async (t) => {
  const s = await startTestServer(t);
  const expected = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: "Unauthorized",
    reason: "Unauthorized",
    code: 401,
  };
  for (const token of [null, "wrong", `${s.token}x`]) {
    const r = await s.call("GET", "/api/v1/namespaces", { token });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), expected);
  }
  assert.equal((await s.call("GET", "/version", { token: null })).status, 401);
  assert.equal((await s.call("GET", "/api/v1/namespaces")).status, 200);
});

test("credentials are owner-only and reused; the server listens on 127.0.0.1 only", async (t) => {
  const s = await startTestServer(t);
  assert.equal(statSync(s.dir).mode & 0o777, 0o700);
  for (const f of ["ca.crt", "server.crt", "server.key", "token"])
    assert.equal(statSync(join(s.dir, f)).mode & 0o777, 0o600, f);
  assert.match(s.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  // Another local address of the loopback net (127.0.0.2) reaches a 0.0.0.0 listener, not a 127.0.0.1 one.
  const refused = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.2", port: s.server.port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(true));
  });
  assert.ok(refused, "the server must not accept connections on 127.0.0.2");
  const text = kubeconfigText({
    url: s.server.url,
    caCertPem: s.caCertPem,
    token: s.token,
    clusterName: "lab",
  });
  assert.match(text, /current-context: "tortie-lab"/);
  assert.ok(text.includes(Buffer.from(s.caCertPem).toString("base64")));
});

test("discovery: version, legacy and aggregated shapes", async (t) => {
  const s = await startTestServer(t);
  const version = (await s.call("GET", "/version")).json();
  assert.equal(version.major, "1");
  assert.match(version.gitVersion, /^v1\.32\.\d+/);
  const api = (await s.call("GET", "/api")).json();
  assert.deepEqual(api.versions, ["v1"]);
  const v1 = (await s.call("GET", "/api/v1")).json();
  const pods = v1.resources.find((r: { name: string }) => r.name === "pods");
  assert.deepEqual(pods.shortNames, ["po"]);
  assert.deepEqual(pods.categories, ["all"]);
  assert.equal(pods.namespaced, true);
  const names = v1.resources.map((r: { name: string }) => r.name);
  for (const n of ["pods/log", "pods/exec", "pods/status", "namespaces"]) assert.ok(names.includes(n), n);
  const groups = (await s.call("GET", "/apis")).json();
  const groupNames = groups.groups.map((g: { name: string }) => g.name);
  for (const g of ["apps", "projectcalico.org", "operator.tigera.io", "networking.k8s.io"])
    assert.ok(groupNames.includes(g), g);
  const apps = (await s.call("GET", "/apis/apps/v1")).json();
  const scale = apps.resources.find((r: { name: string }) => r.name === "deployments/scale");
  assert.deepEqual([scale.group, scale.version, scale.kind], ["autoscaling", "v1", "Scale"]);
  const calico = (await s.call("GET", "/apis/projectcalico.org/v3")).json();
  assert.ok(calico.resources.some((r: { name: string }) => r.name === "ippools"));

  const accept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
  const agg = await s.call("GET", "/apis", { headers: { accept } });
  assert.equal(
    agg.headers["content-type"],
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
  );
  const list = agg.json();
  assert.equal(list.kind, "APIGroupDiscoveryList");
  const appsGroup = list.items.find((i: { metadata: { name?: string } }) => i.metadata.name === "apps");
  const deploy = appsGroup.versions[0].resources.find(
    (r: { resource: string }) => r.resource === "deployments",
  );
  assert.equal(deploy.scope, "Namespaced");
  assert.ok(deploy.subresources.some((sr: { subresource: string }) => sr.subresource === "scale"));
  const core = await s.call("GET", "/api", {
    headers: { accept: "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList" },
  });
  assert.match(String(core.headers["content-type"]), /v=v2beta1/);
  assert.equal(core.json().items.length, 1);
  const missing = await s.call("GET", "/apis/nope.example.com/v1");
  assert.equal(missing.status, 404);
  assert.equal(missing.json().message, "the server could not find the requested resource");
});

test("CRUD with the API server's Status errors", async (t) => {
  const s = await startTestServer(t);
  const created = await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("a") });
  assert.equal(created.status, 201, created.text);
  const a = created.json();
  assert.ok(a.metadata.uid);
  assert.equal(s.host.writes, 1);

  const dup = await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("a") });
  assert.equal(dup.status, 409);
  assert.equal(dup.json().reason, "AlreadyExists");
  assert.equal(dup.json().message, 'pods "a" already exists');

  const got = await s.call("GET", "/api/v1/namespaces/default/pods/a");
  assert.equal(got.json().metadata.resourceVersion, a.metadata.resourceVersion);
  const missing = await s.call("GET", "/api/v1/namespaces/default/pods/zz");
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json(), {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: 'pods "zz" not found',
    reason: "NotFound",
    details: { name: "zz", group: "", kind: "pods" },
    code: 404,
  });

  const changed = { ...a, metadata: { ...a.metadata, labels: { x: "1" } } };
  const put = await s.call("PUT", "/api/v1/namespaces/default/pods/a", { body: changed });
  assert.equal(put.status, 200, put.text);
  const stale = await s.call("PUT", "/api/v1/namespaces/default/pods/a", { body: changed });
  assert.equal(stale.status, 409);
  assert.equal(
    stale.json().message,
    'Operation cannot be fulfilled on pods "a": the object has been modified; please apply your changes to the latest version and try again',
  );
  assert.equal(stale.json().reason, "Conflict");

  const invalid = await s.call("POST", "/api/v1/namespaces/default/pods", {
    body: { ...pod("b"), spec: { containers: "no" } },
  });
  assert.equal(invalid.status, 422, invalid.text);
  assert.equal(invalid.json().reason, "Invalid");
  assert.ok(invalid.json().details.causes.length > 0);

  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "svc" },
    spec: { bogus: 1, ports: [{ port: 80 }] },
  };
  const unknown = await s.call("POST", "/api/v1/namespaces/default/services", { body: service });
  assert.equal(unknown.status, 400, unknown.text);
  assert.match(unknown.json().message, /strict decoding error: unknown field "spec.bogus"/);
  const warned = await s.call("POST", "/api/v1/namespaces/default/services?fieldValidation=Warn", {
    body: service,
  });
  assert.equal(warned.status, 201, warned.text);
  assert.match(String(warned.headers.warning), /unknown field/);
  assert.equal(warned.json().spec.bogus, undefined);

  const dry = await s.call("POST", "/api/v1/namespaces/default/pods?dryRun=All", { body: pod("d") });
  assert.equal(dry.status, 201);
  assert.equal((await s.call("GET", "/api/v1/namespaces/default/pods/d")).status, 404);

  const del = await s.call("DELETE", "/api/v1/namespaces/default/pods/a");
  assert.equal(del.status, 200);
  assert.equal((await s.call("GET", "/api/v1/namespaces/default/pods/a")).status, 404);

  const ns = await s.call("POST", "/api/v1/namespaces", { body: { metadata: { name: "x" } } });
  assert.equal(ns.status, 201, ns.text);
  const nsList = (await s.call("GET", "/api/v1/namespaces")).json();
  assert.equal(nsList.kind, "NamespaceList");
  assert.ok(nsList.metadata.resourceVersion);
  assert.ok(nsList.items.some((n: { metadata: { name: string } }) => n.metadata.name === "x"));
  assert.equal((await s.call("GET", "/api/v1/nope")).status, 404);
});

test("status subresource changes only the status; the main resource keeps it", async (t) => {
  const s = await startTestServer(t);
  const a = (await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("a") })).json();
  const withStatus = { ...a, metadata: { ...a.metadata, labels: { l: "2" } }, status: { phase: "Running" } };
  const r = await s.call("PUT", "/api/v1/namespaces/default/pods/a/status", { body: withStatus });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().status.phase, "Running");
  assert.equal(r.json().metadata.labels?.l, undefined, "labels change only through the main resource");
  const main = r.json();
  const put = await s.call("PUT", "/api/v1/namespaces/default/pods/a", {
    body: { ...main, status: { phase: "Failed" } },
  });
  assert.equal(put.json().status.phase, "Running");
});

test("label and field selectors on lists, all namespaces, unsupported field 400", async (t) => {
  const s = await startTestServer(t);
  await s.call("POST", "/api/v1/namespaces", { body: { metadata: { name: "other" } } });
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("a", { app: "web" }, "n1") });
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("b", { app: "db" }, "n2") });
  await s.call("POST", "/api/v1/namespaces/other/pods", {
    body: {
      ...pod("c", { app: "web" }),
      metadata: { name: "c", namespace: "other", labels: { app: "web" } },
    },
  });
  const names = async (path: string) =>
    (await s.call("GET", path)).json().items.map((p: { metadata: { name: string } }) => p.metadata.name);
  assert.deepEqual(await names("/api/v1/pods"), ["a", "b", "c"]);
  assert.deepEqual(await names("/api/v1/pods?labelSelector=app%3Dweb"), ["a", "c"]);
  assert.deepEqual(await names("/api/v1/pods?labelSelector=app%20in%20(db)"), ["b"]);
  assert.deepEqual(await names("/api/v1/pods?labelSelector=!app"), []);
  assert.deepEqual(await names("/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn2"), ["b"]);
  assert.deepEqual(await names("/api/v1/pods?fieldSelector=metadata.namespace!%3Ddefault"), ["c"]);
  const bad = await s.call("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx");
  assert.equal(bad.status, 400);
  assert.equal(bad.json().message, "field label not supported: spec.bogus");
});

test("watch streams later changes, bookmarks, selection edges, and 410 for a compacted revision", async (t) => {
  const s = await startTestServer(t, { bookmarkIntervalMs: 20 });
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("before") });
  const w = await s.stream("/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true");
  t.after(() => w.close());
  await eventually(() => w.lines.length >= 1, "the existing pod's ADDED");
  assert.deepEqual([w.lines[0].type, w.lines[0].object.metadata.name], ["ADDED", "before"]);
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("after") });
  await eventually(
    () => w.lines.some((l) => l.type === "ADDED" && l.object.metadata.name === "after"),
    "the new pod's ADDED",
  );
  await eventually(() => w.lines.some((l) => l.type === "BOOKMARK"), "a bookmark");
  const bookmark = w.lines.find((l) => l.type === "BOOKMARK");
  assert.equal(bookmark.object.kind, "Pod");
  assert.ok(Number(bookmark.object.metadata.resourceVersion) > 0);
  await s.call("DELETE", "/api/v1/namespaces/default/pods/after");
  await eventually(() => w.lines.some((l) => l.type === "DELETED"), "the DELETED");

  // A labelled watch: a pod losing the label leaves the selection, so the watcher sees it DELETED.
  const list = (await s.call("GET", "/api/v1/namespaces/default/pods")).json();
  const sel = await s.stream(
    `/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb&resourceVersion=${list.metadata.resourceVersion}`,
  );
  t.after(() => sel.close());
  const web = (
    await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("web", { app: "web" }) })
  ).json();
  await eventually(() => sel.lines.some((l) => l.type === "ADDED"), "the labelled pod's ADDED");
  await s.call("PUT", "/api/v1/namespaces/default/pods/web", {
    body: { ...web, metadata: { ...web.metadata, labels: { app: "db" } } },
  });
  await eventually(() => sel.lines.some((l) => l.type === "DELETED"), "DELETED on leaving the selection");
  assert.deepEqual(
    sel.lines.map((l) => l.type),
    ["ADDED", "DELETED"],
  );

  // An old revision after compaction: one ERROR event with the 410 Expired Status, then the stream ends.
  const rev = await s.host.store.backend.revision();
  await s.host.store.backend.compact(rev);
  const old = await s.stream("/api/v1/namespaces/default/pods?watch=1&resourceVersion=1");
  await old.ended;
  assert.equal(old.lines.length, 1);
  assert.equal(old.lines[0].type, "ERROR");
  assert.equal(old.lines[0].object.code, 410);
  assert.equal(old.lines[0].object.reason, "Expired");
  assert.match(old.lines[0].object.message, /^too old resource version: 1 \(\d+\)$/);
});

test("watch ends after timeoutSeconds and honours a single object's fieldSelector", async (t) => {
  const s = await startTestServer(t);
  const w = await s.stream(
    "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dx",
  );
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("y") });
  await s.call("POST", "/api/v1/namespaces/default/pods", { body: pod("x") });
  await w.ended;
  assert.deepEqual(
    w.lines.map((l) => [l.type, l.object.metadata.name]),
    [["ADDED", "x"]],
  );
});

test("deployments/scale reads and writes spec.replicas", async (t) => {
  const s = await startTestServer(t);
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "c", image: "nginx" }] },
      },
    },
  };
  const created = await s.call("POST", "/apis/apps/v1/namespaces/default/deployments", { body: deployment });
  assert.equal(created.status, 201, created.text);
  const scale = (await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale")).json();
  assert.equal(scale.kind, "Scale");
  assert.equal(scale.spec.replicas, 1);
  const patched = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", {
    body: { spec: { replicas: 3 } },
    headers: { "content-type": "application/merge-patch+json" },
  });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.json().spec.replicas, 3);
  const d = (await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web")).json();
  assert.equal(d.spec.replicas, 3);
});

test("errors are Status objects: bad JSON, oversized body, unknown path", async (t) => {
  const s = await startTestServer(t);
  const bad = await s.call("POST", "/api/v1/namespaces/default/pods", { body: "{nope" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json().kind, "Status");
  const big = await s.call("POST", "/api/v1/namespaces/default/configmaps", {
    body: JSON.stringify({ metadata: { name: "big" }, data: { x: "a".repeat(3 * 1024 * 1024) } }),
  });
  assert.equal(big.status, 413);
  assert.equal(big.json().reason, "RequestEntityTooLarge");
  const yaml = await s.call("POST", "/api/v1/namespaces/default/configmaps", {
    body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n",
    headers: { "content-type": "application/yaml" },
  });
  assert.equal(yaml.status, 201, yaml.text);
  const unknown = await s.call("GET", "/nothing/here");
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json().message, "the server could not find the requested resource");
});

test("closing a watch's connection unsubscribes it from the store", async (t) => {
  const s = await startTestServer(t);
  // The memory backend's listener set: one entry per open store watch.
  const listeners = (s.host.store.backend as unknown as { space: { listeners: Set<unknown> } }).space
    .listeners;
  const before = listeners.size;
  const w = await s.stream("/api/v1/namespaces/default/pods?watch=1");
  await eventually(() => listeners.size === before + 1, "the watch subscribed");
  w.close();
  await eventually(() => listeners.size === before, "the watch unsubscribed");
});

test("connection upgrades (pods/exec) are authenticated before anything else", async (t) => {
  const s = await startTestServer(t);
  const upgrade = (token: string | null, path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest({
        host: "127.0.0.1",
        port: s.server.port,
        path,
        ca: s.caCertPem,
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-protocol": "v5.channel.k8s.io",
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("upgrade", (_res, socket) => {
        socket.destroy();
        resolve(101);
      });
      req.on("error", reject);
      req.end();
    });
  const exec = "/api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true";
  assert.equal(await upgrade(null, exec), 401);
  assert.equal(await upgrade("wrong", exec), 401);
  assert.equal(await upgrade(s.token, "/api/v1/namespaces/default/pods/p/attach"), 404);
  // With the token the request reaches exec, which answers for the missing pod.
  assert.equal(await upgrade(s.token, exec), 404);
  assert.equal((await s.call("GET", "/healthz")).text, "ok");
});
