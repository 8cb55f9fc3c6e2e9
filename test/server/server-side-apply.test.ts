import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ApiObject, findKind, toYaml } from "../../src/api/index.ts";
import { fieldPathsOf, fromFieldsV1, pathText, toFieldsV1 } from "../../src/server/managed-fields.ts";
import { patchObject } from "../../src/server/patch-request.ts";
import { StatusError } from "../../src/server/status.ts";

const DEPLOYMENT = findKind("apps/v1", "Deployment")!;
const APPLY = "application/apply-patch+yaml";
const T1 = new Date("2026-01-02T03:04:05Z");
const T2 = new Date("2026-01-02T03:05:00Z");

function deployment(spec: Record<string, unknown>, labels?: Record<string, string>): ApiObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "default", ...(labels ? { labels } : {}) },
    spec,
  };
}

const template = (containers: object[]) => ({
  selector: { matchLabels: { app: "web" } },
  template: { metadata: { labels: { app: "web" } }, spec: { containers } },
});

function apply(
  current: ApiObject | undefined,
  applied: ApiObject,
  manager: string,
  more: { force?: boolean; now?: Date } = {},
): ApiObject {
  const stored = patchObject({
    contentType: APPLY,
    def: DEPLOYMENT,
    current,
    body: toYaml(applied),
    fieldManager: manager,
    name: "web",
    namespace: "default",
    now: more.now ?? T1,
    ...(more.force ? { force: true } : {}),
  });
  // What the store adds on create: the server-owned identity.
  stored.metadata.uid ??= "uid-1";
  return stored;
}

function managers(o: ApiObject): string[] {
  return (
    (o.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? []
  ).map((e) => `${e.manager}/${e.operation}`);
}

function conflict(f: () => unknown): StatusError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof StatusError);
    assert.equal(e.code, 409);
    return e;
  }
  assert.fail("no conflict");
}

describe("server-side apply", () => {
  it("creates the object and records the manager's fields as FieldsV1", () => {
    const o = apply(
      undefined,
      deployment({ replicas: 2, ...template([{ name: "a", image: "nginx:1" }]) }),
      "alice",
    );
    assert.equal(o.spec.replicas, 2);
    const [entry] = (o.metadata as { managedFields: Record<string, unknown>[] }).managedFields;
    assert.deepEqual(
      { ...entry, fieldsV1: undefined },
      {
        manager: "alice",
        operation: "Apply",
        apiVersion: "apps/v1",
        time: "2026-01-02T03:04:05Z",
        fieldsType: "FieldsV1",
        fieldsV1: undefined,
      },
    );
    const fields = entry!.fieldsV1 as Record<string, Record<string, Record<string, unknown>>>;
    assert.deepEqual(fields["f:spec"]!["f:replicas"], {});
    const containers = (
      fields["f:spec"]!["f:template"] as Record<string, Record<string, Record<string, unknown>>>
    )["f:spec"]!["f:containers"]!;
    assert.deepEqual(containers['k:{"name":"a"}'], { ".": {}, "f:name": {}, "f:image": {} });
    assert.equal(fields["f:metadata"], undefined, "name and namespace are never tracked");
  });

  it("re-applying without a field removes it; fields nobody applied stay", () => {
    const first = apply(
      undefined,
      deployment({ replicas: 2, paused: false, ...template([{ name: "a" }]) }, { x: "1", y: "2" }),
      "alice",
    );
    first.spec.revisionHistoryLimit = 10; // a default the server set, owned by nobody
    const second = apply(
      first,
      deployment({ replicas: 3, ...template([{ name: "a" }]) }, { x: "1" }),
      "alice",
    );
    assert.equal(second.spec.replicas, 3);
    assert.equal("paused" in second.spec, false);
    assert.deepEqual(second.metadata.labels, { x: "1" });
    assert.equal(second.spec.revisionHistoryLimit, 10);
    assert.equal(second.metadata.uid, "uid-1");
  });

  it("merges containers by name between managers and removes only the dropped one", () => {
    const a = apply(undefined, deployment(template([{ name: "a", image: "nginx:1" }])), "alice");
    const ab = apply(a, deployment(template([{ name: "b", image: "redis:7" }])), "bob");
    assert.deepEqual(
      ab.spec.template.spec.containers.map((c: { name: string }) => c.name),
      ["a", "b"],
    );
    const b = apply(ab, deployment({ selector: { matchLabels: { app: "web" } } }), "alice");
    assert.deepEqual(
      b.spec.template.spec.containers.map((c: { name: string }) => c.name),
      ["b"],
    );
    assert.deepEqual(managers(b), ["alice/Apply", "bob/Apply"]);
  });

  it("a field another manager set to another value is a 409 conflict, as the API server words it", () => {
    const a = apply(
      undefined,
      deployment({ replicas: 2, ...template([{ name: "a", image: "nginx:1" }]) }),
      "alice",
    );
    const e = conflict(() => apply(a, deployment({ replicas: 5 }), "bob"));
    assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas');
    assert.deepEqual(e.details?.causes, [
      { reason: "FieldManagerConflict", message: 'conflict with "alice"', field: ".spec.replicas" },
    ]);
    const two = conflict(() =>
      apply(a, deployment({ replicas: 5, ...template([{ name: "a", image: "nginx:2" }]) }), "bob"),
    );
    assert.equal(
      two.message,
      'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n- .spec.template.spec.containers[name="a"].image',
    );
    // The same value is shared ownership, not a conflict.
    const shared = apply(a, deployment({ replicas: 2 }), "bob");
    assert.deepEqual(managers(shared), ["alice/Apply", "bob/Apply"]);
  });

  it("force takes the field over: the value changes and the other manager no longer owns it", () => {
    const a = apply(undefined, deployment({ replicas: 2, ...template([{ name: "a" }]) }), "alice");
    const b = apply(a, deployment({ replicas: 5 }), "bob", { force: true });
    assert.equal(b.spec.replicas, 5);
    // alice re-applies without replicas: bob owns it, so it stays.
    const c = apply(b, deployment(template([{ name: "a" }])), "alice");
    assert.equal(c.spec.replicas, 5);
  });

  it("an update by another client (a merge patch) takes ownership; apply then conflicts with it, naming when", () => {
    const a = apply(undefined, deployment({ replicas: 2, ...template([{ name: "a" }]) }), "alice");
    const patched = patchObject({
      contentType: "application/merge-patch+json",
      def: DEPLOYMENT,
      current: a,
      body: JSON.stringify({ spec: { replicas: 4 } }),
      fieldManager: "kubectl-patch",
      now: T2,
    });
    assert.deepEqual(managers(patched), ["alice/Apply", "kubectl-patch/Update"]);
    const e = conflict(() =>
      apply(patched, deployment({ replicas: 2, ...template([{ name: "a" }]) }), "alice"),
    );
    assert.equal(
      e.message,
      'Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1 at 2026-01-02T03:05:00Z: .spec.replicas',
    );
  });

  it("takes the URL's namespace when the applied object has none", () => {
    const { namespace: _, ...meta } = deployment({}).metadata;
    const o = apply(undefined, { ...deployment({ replicas: 1 }), metadata: meta }, "alice");
    assert.equal(o.metadata.namespace, "default");
  });

  it("on the status subresource applies only .status, recorded with subresource status", () => {
    const a = apply(undefined, deployment({ replicas: 1 }), "alice");
    const o = patchObject({
      contentType: APPLY,
      def: DEPLOYMENT,
      current: a,
      body: toYaml({ ...deployment({ replicas: 9 }, { x: "1" }), status: { readyReplicas: 1 } }),
      fieldManager: "ctrl",
      subresource: "status",
      now: T2,
    });
    assert.equal(o.spec.replicas, 1);
    assert.equal(o.metadata.labels, undefined);
    assert.deepEqual(o.status, { readyReplicas: 1 });
    const entries = (o.metadata as { managedFields: { manager: string; subresource?: string }[] })
      .managedFields;
    assert.deepEqual(
      entries.map((e) => `${e.manager}:${e.subresource ?? ""}`),
      ["alice:", "ctrl:status"],
    );
  });

  it("refuses an apply without a field manager, or of another kind", () => {
    assert.throws(
      () => patchObject({ contentType: APPLY, def: DEPLOYMENT, current: undefined, body: "{}" }),
      /fieldManager: Required value: is required for apply patch/,
    );
    assert.throws(
      () => apply(undefined, { ...deployment({}), apiVersion: "apps/v2" }, "alice"),
      /Incorrect version specified in apply patch. Specified patch version: apps\/v2, expected: apps\/v1/,
    );
  });
});

describe("FieldsV1 paths", () => {
  it("round-trips and prints keyed paths as structured-merge-diff does", () => {
    const paths = fieldPathsOf("Service", {
      spec: { ports: [{ port: 80, name: "http" }], type: "ClusterIP" },
    });
    assert.deepEqual(new Set(fromFieldsV1(toFieldsV1(paths.values())).keys()), new Set(paths.keys()));
    assert.deepEqual([...paths.values()].map(pathText).sort(), [
      ".spec.ports[port=80]",
      ".spec.ports[port=80].name",
      ".spec.ports[port=80].port",
      ".spec.type",
    ]);
  });
});
