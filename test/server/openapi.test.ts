import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allKinds, apiVersionOf } from "../../src/api/index.ts";
import { openApiV2, openApiV3Document, openApiV3Paths } from "../../src/server/openapi.ts";

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        "x-kubernetes-group-version-kind"?: object;
        parameters?: { name: string; in: string }[];
        requestBody?: { content: Record<string, unknown> };
      }
    >
  >;
  components: {
    schemas: Record<
      string,
      { "x-kubernetes-group-version-kind"?: object[]; properties?: Record<string, unknown> }
    >;
  };
};

const gvPath = (apiVersion: string) =>
  apiVersion.includes("/") ? `apis/${apiVersion}` : `api/${apiVersion}`;

describe("OpenAPI v3", () => {
  const index = JSON.parse(JSON.stringify(openApiV3Paths())) as {
    paths: Record<string, { serverRelativeURL: string }>;
  };

  it("lists every group-version with a hashed URL", () => {
    for (const def of allKinds) {
      const entry = index.paths[gvPath(apiVersionOf(def))];
      assert.ok(entry, apiVersionOf(def));
      assert.match(entry.serverRelativeURL, /^\/openapi\/v3\/apis?\/.+\?hash=[0-9A-F]{128}$/);
    }
  });

  it("gives every kind a GVK-tagged schema and a PATCH operation with fieldValidation", () => {
    for (const def of allKinds) {
      const url = index.paths[gvPath(apiVersionOf(def))]!.serverRelativeURL;
      const doc = JSON.parse(JSON.stringify(openApiV3Document(url.slice("/openapi/v3/".length)))) as Doc;
      const gvk = { group: def.group, version: def.version, kind: def.kind };
      const schema = Object.values(doc.components.schemas).find((s) =>
        (s["x-kubernetes-group-version-kind"] ?? []).some(
          (g) =>
            JSON.stringify(g) === JSON.stringify({ group: def.group, kind: def.kind, version: def.version }),
        ),
      );
      assert.ok(schema?.properties?.metadata, `${def.kind}: schema`);
      const patch = Object.values(doc.paths)
        .map((p) => p.patch)
        .find((op) => JSON.stringify(op?.["x-kubernetes-group-version-kind"]) === JSON.stringify(gvk));
      assert.ok(patch, `${def.kind}: PATCH operation`);
      assert.ok(patch.parameters?.some((p) => p.name === "fieldValidation" && p.in === "query"));
      assert.ok(patch.requestBody?.content["application/apply-patch+yaml"]);
    }
  });

  it("is OpenAPI 3.0: no JSON Schema 2020 type lists or $schema", () => {
    const text = JSON.stringify(openApiV3Document("api/v1"));
    assert.doesNotMatch(text, /"type":\[/);
    assert.doesNotMatch(text, /\$schema|propertyNames/);
    const pod = (openApiV3Document("api/v1") as Doc).components.schemas["io.k8s.api.core.v1.Pod"]!;
    const spec = pod.properties!.spec as { properties: Record<string, Record<string, unknown>> };
    assert.equal(spec.properties.containers!["x-kubernetes-patch-merge-key"], "name");
  });

  it("answers undefined for a group-version tortie does not serve", () => {
    assert.equal(openApiV3Document("apis/batch/v1"), undefined);
  });
});

describe("OpenAPI v2", () => {
  it("is Swagger 2.0 JSON with a definition per kind", () => {
    const doc = JSON.parse(JSON.stringify(openApiV2())) as {
      swagger: string;
      definitions: Record<string, object>;
    };
    assert.equal(doc.swagger, "2.0");
    assert.equal(Object.keys(doc.definitions).length, allKinds.length);
    assert.doesNotMatch(JSON.stringify(doc), /#\/components\//);
  });
});
