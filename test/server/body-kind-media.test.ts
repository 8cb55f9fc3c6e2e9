/**
 * A create body of another kind than the URL's, or in a media type the API server does not decode, gets the API
 * server's words (review R1, finding 8).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestServer } from "./api-server-harness.ts";

const CONFIGMAPS = "/api/v1/namespaces/default/configmaps";

test("a Secret posted to configmaps is the decoder's 400, not an API version mismatch", async (t) => {
  const s = await startTestServer(t);
  const r = await s.call("POST", CONFIGMAPS, {
    body: { apiVersion: "v1", kind: "Secret", metadata: { name: "x" } },
  });
  assert.equal(r.status, 400, r.text);
  assert.equal(
    r.json().message,
    'Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion',
  );
  const unknown = await s.call("POST", CONFIGMAPS, {
    body: { apiVersion: "v1", kind: "Bogus", metadata: { name: "x" } },
  });
  assert.equal(unknown.status, 400, unknown.text);
  assert.match(
    unknown.json().message,
    /^Bogus in version "v1" cannot be handled as a ConfigMap: no kind "Bogus"/,
  );
  // The same kind in another API version is still the API version mismatch.
  const version = await s.call("POST", CONFIGMAPS, {
    body: { apiVersion: "v2", kind: "ConfigMap", metadata: { name: "x" } },
  });
  assert.equal(version.status, 400, version.text);
  assert.match(version.json().message, /^the API version in the data \(v2\) does not match/);
});

test("a create body in text/plain is a 415 naming the accepted media types; a YAML one with parameters is taken", async (t) => {
  const s = await startTestServer(t);
  const r = await s.call("POST", CONFIGMAPS, {
    body: { metadata: { name: "plain" } },
    headers: { "content-type": "text/plain" },
  });
  assert.equal(r.status, 415, r.text);
  assert.equal(r.json().reason, "UnsupportedMediaType");
  assert.equal(
    r.json().message,
    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
  );
  assert.equal((await s.call("GET", `${CONFIGMAPS}/plain`)).status, 404, "the text/plain body was stored");
  const yaml = await s.call("POST", CONFIGMAPS, {
    body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n",
    headers: { "content-type": "application/yaml; charset=utf-8" },
  });
  assert.equal(yaml.status, 201, `yaml: ${yaml.text}`);
});
