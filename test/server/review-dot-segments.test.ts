/**
 * Review (issue 18, R1): a name or namespace spelled with percent-encoded dots (`%2E%2E`, `%2E`) must not address
 * another resource. The URL parser the server's adaptor uses removes dot segments after decoding them, so
 * `DELETE …/configmaps/%2E%2E` became `DELETE /api/v1/namespaces/victim` (the namespace is deleted) and
 * `DELETE …/configmaps/%2E` a delete of the whole collection. The API server answers 400: its key functions refuse
 * such names (`Name parameter invalid: "..": may not be '..'`, path.IsValidPathSegmentName).
 */
import assert from "node:assert/strict";
import { request as httpsRequest } from "node:https";
import { test } from "node:test";
import { startTestServer, type TestServer } from "./api-server-harness.ts";

/** A request whose path is sent exactly as written (node:https does not normalize it; the server must not either). */
function raw(s: TestServer, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        method,
        host: "127.0.0.1",
        port: s.server.port,
        path,
        ca: s.caCertPem,
        headers: { authorization: `Bearer ${s.token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function withVictim(s: TestServer): Promise<void> {
  assert.equal(
    (await s.call("POST", "/api/v1/namespaces", { body: { metadata: { name: "victim" } } })).status,
    201,
  );
  for (const name of ["keep-1", "keep-2"])
    assert.equal(
      (
        await s.call("POST", "/api/v1/namespaces/victim/configmaps", {
          body: { metadata: { name }, data: { a: "b" } },
        })
      ).status,
      201,
    );
}

test("DELETE of a configmap named %2E%2E is a 400 and leaves its namespace alone", async (t) => {
  const s = await startTestServer(t);
  await withVictim(s);
  const r = await raw(s, "DELETE", "/api/v1/namespaces/victim/configmaps/%2E%2E");
  assert.equal(r.status, 400, r.body);
  assert.match(JSON.parse(r.body).message, /Name parameter invalid: "\.\.": may not be '\.\.'/);
  assert.equal((await s.call("GET", "/api/v1/namespaces/victim")).status, 200);
});

test("DELETE of a configmap named %2E is a 400, not a delete of the collection", async (t) => {
  const s = await startTestServer(t);
  await withVictim(s);
  const r = await raw(s, "DELETE", "/api/v1/namespaces/victim/configmaps/%2E");
  assert.equal(r.status, 400, r.body);
  const left = (await s.call("GET", "/api/v1/namespaces/victim/configmaps")).json();
  assert.deepEqual(
    left.items.map((o: { metadata: { name: string } }) => o.metadata.name),
    ["keep-1", "keep-2"],
  );
});

test("a list in the namespace %2E%2E does not list every namespace", async (t) => {
  const s = await startTestServer(t);
  await withVictim(s);
  const r = await raw(s, "GET", "/api/v1/namespaces/%2E%2E/configmaps");
  // The API server lists an (empty) namespace ".." or refuses the name; it never answers for all namespaces.
  if (r.status === 200) assert.deepEqual(JSON.parse(r.body).items, []);
  else assert.equal(r.status, 400, r.body);
});

test("names with a slash are refused with the API server's 400, as kubectl's client refuses them", async (t) => {
  const s = await startTestServer(t);
  await withVictim(s);
  const r = await raw(s, "GET", "/api/v1/namespaces/victim/configmaps/keep-1%2Fx");
  assert.equal(r.status, 400, r.body);
  assert.match(JSON.parse(r.body).message, /Name parameter invalid: "keep-1\/x": may not contain '\/'/);
});

test("an exec upgrade to a pod named %2E%2E is refused with the same 400", async (t) => {
  const s = await startTestServer(t);
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest({
      method: "GET",
      host: "127.0.0.1",
      port: s.server.port,
      path: "/api/v1/namespaces/victim/pods/%2E%2E/exec?command=ls&stdout=true",
      ca: s.caCertPem,
      headers: {
        authorization: `Bearer ${s.token}`,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-protocol": "v5.channel.k8s.io",
      },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(status.status, 400, status.body);
  assert.match(JSON.parse(status.body).message, /Name parameter invalid: "\.\.": may not be '\.\.'/);
});
