/**
 * With etcd down every request fails the same way: a 503 ServiceUnavailable Status with the store's one line, and
 * one line in the server's log per request, not a stack (review R1, finding 6).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TortieError } from "../../src/lib/index.ts";
import { startTestServer } from "./api-server-harness.ts";

const DOWN = "cannot reach etcd (http://127.0.0.1:2379: ECONNREFUSED)";

test("etcd unreachable: 503 ServiceUnavailable for the client, one line in the server's log", async (t) => {
  const s = await startTestServer(t);
  const logged: string[] = [];
  t.mock.method(console, "error", (...args: unknown[]) => {
    logged.push(args.join(" "));
  });
  // As the etcd backend fails: every read of the store.
  t.mock.method(s.host.store.backend, "get", async () => {
    throw new TortieError("Unavailable", DOWN);
  });
  t.mock.method(s.host.store.backend, "list", async () => {
    throw new TortieError("Unavailable", DOWN);
  });
  for (const path of ["/api/v1/namespaces/default/configmaps/x", "/api/v1/namespaces/default/configmaps"]) {
    const r = await s.call("GET", path);
    assert.equal(r.status, 503, r.text);
    const status = r.json();
    assert.equal(status.reason, "ServiceUnavailable");
    assert.equal(status.message, DOWN);
  }
  assert.equal(logged.length, 2);
  for (const line of logged) assert.equal(line, `tortie serve: ${DOWN}`);
});

test("an unexpected error still brings its stack to the server's log, and only its message to the client", async (t) => {
  const s = await startTestServer(t);
  const logged: string[] = [];
  t.mock.method(console, "error", (...args: unknown[]) => {
    logged.push(args.join(" "));
  });
  t.mock.method(s.host.store.backend, "list", async () => {
    throw new TypeError("a bug");
  });
  const r = await s.call("GET", "/api/v1/namespaces/default/configmaps");
  assert.equal(r.status, 500);
  assert.equal(r.json().message, "Internal error occurred: a bug");
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /^tortie serve: TypeError: a bug\n\s+at /);
});
