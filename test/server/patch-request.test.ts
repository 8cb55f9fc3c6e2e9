import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ApiObject, findKind, type KindDef } from "../../src/api/index.ts";
import { type PatchRequest, patchObject } from "../../src/server/patch-request.ts";
import { StatusError } from "../../src/server/status.ts";

const POD = findKind("v1", "Pod")!;
const IPPOOL = findKind("projectcalico.org/v3", "IPPool")!;
const NOW = new Date("2026-01-02T03:04:05.678Z");

function pod(): ApiObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "u-1", resourceVersion: "7", labels: { app: "web" } },
    spec: {
      containers: [
        { name: "a", image: "nginx:1", ports: [{ containerPort: 80 }] },
        { name: "b", image: "redis:7" },
      ],
    },
    status: { phase: "Running" },
  };
}

function pool(): ApiObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "IPPool",
    metadata: { name: "p", uid: "u-2" },
    spec: { cidr: "10.0.0.0/16", natOutgoing: true },
  };
}

function run(contentType: string, body: unknown, more: Partial<PatchRequest> = {}, def: KindDef = POD) {
  return patchObject({
    contentType,
    def,
    current: def === POD ? pod() : pool(),
    body: typeof body === "string" ? body : JSON.stringify(body),
    now: NOW,
    ...more,
  });
}

/** Runs `f`, expecting a Status failure with this HTTP code; returns it. */
function failure(f: () => unknown, code: number): StatusError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof StatusError, `not a StatusError: ${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail("no error");
}

const MERGE = "application/merge-patch+json";
const JSONP = "application/json-patch+json";
const SMP = "application/strategic-merge-patch+json";

describe("merge patch (RFC 7386)", () => {
  it("merges objects, deletes with null, replaces lists whole", () => {
    const out = run(MERGE, {
      metadata: { labels: { app: null, tier: "x" } },
      spec: { containers: [{ name: "c" }] },
    });
    assert.deepEqual(out.metadata.labels, { tier: "x" });
    assert.deepEqual(out.spec.containers, [{ name: "c" }]);
  });
  it("accepts a charset parameter on the content type", () => {
    const out = run(`${MERGE}; charset=utf-8`, { metadata: { labels: { b: "1" } } });
    assert.equal(out.metadata.labels?.b, "1");
  });
  it("refuses a patch that is not an object, and one that is not JSON", () => {
    assert.equal(failure(() => run(MERGE, [1]), 400).message, "Invalid JSON Patch");
    assert.equal(failure(() => run(MERGE, "{not json"), 400).message, "invalid JSON patch");
  });
  it("is refused for a kind that does not exist (no upsert)", () => {
    failure(() => run(MERGE, {}, { current: undefined, name: "web" }), 404);
  });
});

describe("JSON patch (RFC 6902)", () => {
  it("applies add, replace, remove, move, copy and a passing test", () => {
    const out = run(JSONP, [
      { op: "test", path: "/spec/containers/0/name", value: "a" },
      { op: "add", path: "/metadata/labels/x~1y", value: "1" },
      { op: "replace", path: "/spec/containers/1/image", value: "redis:8" },
      { op: "copy", from: "/spec/containers/1/image", path: "/metadata/labels/img" },
      { op: "move", from: "/metadata/labels/img", path: "/metadata/labels/moved" },
      { op: "remove", path: "/metadata/labels/app" },
    ]);
    assert.deepEqual(out.metadata.labels, { "x/y": "1", moved: "redis:8" });
    assert.equal(out.spec.containers[1].image, "redis:8");
  });
  it("answers a failed test or a missing path with the API server's bare 422", () => {
    for (const ops of [
      [{ op: "test", path: "/spec/containers/0/name", value: "zzz" }],
      [{ op: "remove", path: "/spec/nothing" }],
      [{ op: "replace", path: "/spec/containers/5/name", value: "q" }],
    ]) {
      const e = failure(() => run(JSONP, ops), 422);
      assert.equal(e.message, "the server rejected our request due to an error in our request");
    }
  });
  it("refuses a patch that is not a list as Go's decoder does", () => {
    const e = failure(() => run(JSONP, { op: "add" }), 400);
    assert.equal(e.message, "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  });
});

describe("strategic merge patch", () => {
  it("merges containers by name and ports by containerPort, deletes with $patch", () => {
    const out = run(SMP, {
      spec: {
        containers: [
          { name: "b", image: "redis:8" },
          { name: "a", $patch: "delete" },
          { name: "c", image: "x" },
        ],
      },
    });
    assert.deepEqual(
      out.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`),
      ["b=redis:8", "c=x"],
    );
  });
  it("is 415 for projectcalico.org kinds, listing the types the server takes (kubectl then uses merge)", () => {
    const e = failure(() => run(SMP, { spec: { natOutgoing: false } }, {}, IPPOOL), 415);
    assert.equal(e.reason, "UnsupportedMediaType");
    assert.equal(
      e.message,
      "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    );
    assert.equal(run(MERGE, { spec: { natOutgoing: false } }, {}, IPPOOL).spec.natOutgoing, false);
  });
  it("is 415 for an unknown content type on a built-in kind", () => {
    const e = failure(() => run("application/json", {}), 415);
    assert.match(e.message, /application\/strategic-merge-patch\+json, application\/apply-patch\+yaml$/);
  });
});

describe("scope and identity", () => {
  it("the status subresource changes only .status", () => {
    const out = run(
      MERGE,
      { metadata: { labels: { x: "1" } }, spec: { nodeName: "n" }, status: { phase: "Failed" } },
      {
        subresource: "status",
      },
    );
    assert.equal(out.status.phase, "Failed");
    assert.equal(out.spec.nodeName, undefined);
    assert.deepEqual(out.metadata.labels, { app: "web" });
  });
  it("the main resource does not change .status", () => {
    const out = run(MERGE, { spec: { nodeName: "n" }, status: { phase: "Failed" } });
    assert.equal(out.status.phase, "Running");
    assert.equal(out.spec.nodeName, "n");
  });
  it("refuses renaming, moving, re-identifying or re-kinding the object", () => {
    assert.equal(
      failure(() => run(MERGE, { metadata: { name: "other" } }), 400).message,
      "the name of the object (other) does not match the name on the URL (web)",
    );
    assert.equal(
      failure(() => run(MERGE, { metadata: { namespace: "kube-system" } }), 400).message,
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    assert.match(
      failure(() => run(MERGE, { metadata: { uid: "u-9" } }), 409).message,
      /Precondition failed: UID in precondition: u-1, UID in object meta: u-9$/,
    );
    assert.throws(
      () => run(MERGE, { kind: "Service" }),
      /kind: Invalid value: "Service": field is immutable/,
    );
    assert.throws(
      () => run(JSONP, [{ op: "replace", path: "/apiVersion", value: "v2" }]),
      /apiVersion: Invalid value/,
    );
  });
  it("refuses force on a patch that is not an apply", () => {
    assert.match(failure(() => run(MERGE, {}, { force: true }), 422).message, /force: Forbidden/);
  });
});
