// Loading the API builds no zod schema (start-up cost): the shared field schemas and each kind's body are built
// on first validation, and then validate as before. This file runs in its own process (node:test), so the
// module state checked here is fresh.
import assert from "node:assert/strict";
import { test } from "node:test";
import { allKinds, prepareObject, resolveKubectlResource } from "../src/api/index.ts";
import * as helpers from "../src/api/schema-helpers.ts";

test("importing the API and resolving kinds builds no schema; the first validation builds them", () => {
  assert.equal(helpers.str, undefined, "schema helpers built at import");
  assert.ok(allKinds.length > 30);
  assert.equal(resolveKubectlResource("pods")?.kind, "Pod");
  assert.equal(helpers.str, undefined, "schema helpers built by a kind lookup");

  const def = resolveKubectlResource("configmaps")!;
  const o = prepareObject(def, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "a", namespace: "default" },
    data: { k: "v" },
  });
  assert.deepEqual(o.data, { k: "v" });
  assert.notEqual(helpers.str, undefined);
  assert.throws(
    () =>
      prepareObject(def, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "a", namespace: "default" },
        data: { k: 1 },
      } as never),
    /data\.k/,
  );
});

/** Fails on a field whose schema is undefined (a helper read before ensureSchemaHelpers assigned it), at any depth. */
function assertNoHoles(schema: unknown, path: string): void {
  // zod 4's definition: an object's shape, an optional's inner type, an array's element, a record's key and
  // value types, a union's options.
  const d = (schema as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
  assert.ok(d, `${path}: no schema`);
  for (const [k, v] of Object.entries((d.shape as Record<string, unknown> | undefined) ?? {}))
    assertNoHoles(v, `${path}.${k}`);
  for (const inner of [d.innerType, d.element, d.keyType, d.valueType, ...((d.options as unknown[]) ?? [])])
    if (inner !== undefined) assertNoHoles(inner, path);
}

test("every kind's body builds, with only known helper schemas", () => {
  for (const def of allKinds) {
    const body = def.body();
    assert.ok(Object.keys(body).length > 0, def.kind);
    for (const [field, schema] of Object.entries(body)) assertNoHoles(schema, `${def.kind}.${field}`);
  }
});
