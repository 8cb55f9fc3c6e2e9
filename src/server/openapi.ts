import { createHash } from "node:crypto";
import { allKinds, type KindDef } from "../api/index.ts";
import { kindSchema, schemaName } from "./openapi-schema.ts";
import { APPLY_PATCH, JSON_PATCH, MERGE_PATCH } from "./patch-request.ts";

/**
 * The OpenAPI documents kubectl reads. v3 (one document per group-version) is what kubectl 1.32 uses: `explain`
 * renders from it, and `apply`/`create` look in it for a PATCH operation of the kind with a `fieldValidation`
 * query parameter; finding one, they leave field validation to the server instead of validating against the
 * protobuf v2 document. v2 is served as JSON only (kubectl asks for protobuf; not supported yet), and kubectl
 * then falls back to its built-in types for client-side apply's strategic merge patches.
 *
 * The PATCH operations list no strategic merge patch body on purpose: kubectl would then compute its patches from
 * these schemas, which model only the fields tortie checks; from its built-in types it computes them exactly.
 */
const INFO = { title: "Kubernetes", version: "v1.32.4" };

const PATCH_SCHEMA_NAME = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const STATUS_SCHEMA_NAME = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

function groupVersionPath(def: Pick<KindDef, "group" | "version">): string {
  return def.group ? `apis/${def.group}/${def.version}` : `api/${def.version}`;
}

function byGroupVersion(): Map<string, KindDef[]> {
  const out = new Map<string, KindDef[]>();
  for (const def of allKinds) {
    const key = groupVersionPath(def);
    out.set(key, [...(out.get(key) ?? []), def]);
  }
  return out;
}

const queryParam = (name: string, description: string) => ({
  name,
  in: "query",
  description,
  schema: { type: "string", uniqueItems: true },
});

const PATCH_PARAMETERS = [
  queryParam("dryRun", "When present, indicates that modifications should not be persisted."),
  queryParam("fieldManager", "A name associated with the actor or entity that is making these changes."),
  queryParam(
    "fieldValidation",
    "How the server handles fields the schema does not know: Ignore, Warn or Strict (tortie refuses them).",
  ),
  {
    ...queryParam("force", "Force is going to force Apply requests."),
    schema: { type: "boolean", uniqueItems: true },
  },
];

function ref(name: string): object {
  return { $ref: `#/components/schemas/${name}` };
}

function response(schemaRef: string) {
  return { description: "OK", content: { "application/json": { schema: ref(schemaRef) } } };
}

function operations(def: KindDef, verbPrefix: string) {
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  const own = schemaName(def);
  const op = (action: string, id: string, extra: object = {}) => ({
    description: `${action} the specified ${def.kind}`,
    operationId: `${id}${verbPrefix}${def.kind}`,
    responses: { "200": response(own), "401": { description: "Unauthorized" } },
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    ...extra,
  });
  return {
    get: op("get", "read"),
    put: op("put", "replace", {
      parameters: PATCH_PARAMETERS.slice(0, 3),
      requestBody: { content: { "application/json": { schema: ref(own) } }, required: true },
    }),
    patch: op("patch", "patch", {
      parameters: PATCH_PARAMETERS,
      requestBody: {
        content: Object.fromEntries(
          [JSON_PATCH, MERGE_PATCH, APPLY_PATCH].map((t) => [t, { schema: ref(PATCH_SCHEMA_NAME) }]),
        ),
        required: true,
      },
    }),
    delete: op("delete", "delete", { responses: { "200": response(STATUS_SCHEMA_NAME) } }),
  };
}

const pathParam = (name: string) => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string", uniqueItems: true },
});

function pathsFor(def: KindDef): Record<string, object> {
  const base = `/${groupVersionPath(def)}`;
  const collection = def.namespaced
    ? `${base}/namespaces/{namespace}/${def.plural}`
    : `${base}/${def.plural}`;
  const scope = def.namespaced ? "Namespaced" : "";
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  const params = def.namespaced ? [pathParam("name"), pathParam("namespace")] : [pathParam("name")];
  return {
    [collection]: {
      get: {
        description: `list or watch objects of kind ${def.kind}`,
        operationId: `list${scope}${def.kind}`,
        responses: { "200": { description: "OK" } },
        "x-kubernetes-action": "list",
        "x-kubernetes-group-version-kind": gvk,
      },
      post: {
        description: `create a ${def.kind}`,
        operationId: `create${scope}${def.kind}`,
        parameters: PATCH_PARAMETERS.slice(0, 3),
        requestBody: { content: { "application/json": { schema: ref(schemaName(def)) } }, required: true },
        responses: { "201": response(schemaName(def)) },
        "x-kubernetes-action": "post",
        "x-kubernetes-group-version-kind": gvk,
      },
      ...(def.namespaced ? { parameters: [pathParam("namespace")] } : {}),
    },
    [`${collection}/{name}`]: { ...operations(def, scope), parameters: params },
  };
}

function buildDocument(defs: KindDef[]): object {
  const schemas: Record<string, object> = {
    [PATCH_SCHEMA_NAME]: {
      description: "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
      type: "object",
    },
    [STATUS_SCHEMA_NAME]: {
      description: "Status is a return value for calls that don't return other objects.",
      type: "object",
    },
  };
  let paths: Record<string, object> = {};
  for (const def of defs) {
    schemas[schemaName(def)] = kindSchema(def);
    paths = { ...paths, ...pathsFor(def) };
  }
  return { openapi: "3.0.0", info: INFO, paths, components: { schemas } };
}

let v3: Map<string, { doc: object; hash: string }> | undefined;

function v3Documents(): Map<string, { doc: object; hash: string }> {
  if (!v3) {
    v3 = new Map();
    for (const [path, defs] of byGroupVersion()) {
      const doc = buildDocument(defs);
      v3.set(path, {
        doc,
        hash: createHash("sha512").update(JSON.stringify(doc)).digest("hex").toUpperCase(),
      });
    }
  }
  return v3;
}

/** GET /openapi/v3: one entry per group-version; the hash changes when the document does (clients cache by URL). */
export function openApiV3Paths(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [path, { hash }] of v3Documents())
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
  return { paths };
}

/** GET /openapi/v3/<path> (`api/v1`, `apis/apps/v1`); undefined for a group-version tortie does not serve. */
export function openApiV3Document(path: string): object | undefined {
  return v3Documents().get(path.split("?")[0]!.replace(/^\/+|\/+$/g, ""))?.doc;
}

let v2: object | undefined;

/** GET /openapi/v2 (Swagger 2.0, JSON): the same kinds under `definitions`, with their PATCH operations. */
export function openApiV2(): object {
  if (!v2) {
    const definitions: Record<string, object> = {};
    const paths: Record<string, object> = {};
    for (const def of allKinds) {
      definitions[schemaName(def)] = swagger2(kindSchema(def));
      for (const [p, item] of Object.entries(pathsFor(def))) paths[p] = swagger2Operations(item);
    }
    v2 = { swagger: "2.0", info: INFO, paths, definitions };
  }
  return v2;
}

/** OpenAPI 3 schemas refer to `#/components/schemas/`; Swagger 2.0 to `#/definitions/`. */
function swagger2(schema: object): object {
  return JSON.parse(JSON.stringify(schema).replaceAll("#/components/schemas/", "#/definitions/"));
}

function swagger2Operations(item: object): object {
  const out: Record<string, unknown> = {};
  for (const [method, op] of Object.entries(item)) {
    if (method === "parameters") {
      out.parameters = (op as { name: string; in: string }[]).map((p) => ({
        name: p.name,
        in: p.in,
        required: true,
        type: "string",
        uniqueItems: true,
      }));
      continue;
    }
    const { requestBody: _, responses: __, parameters, ...rest } = op as Record<string, unknown>;
    out[method] = {
      ...rest,
      consumes: method === "patch" ? [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] : ["*/*"],
      produces: ["application/json"],
      parameters: (
        (parameters as { name: string; in: string; schema: { type: string } }[] | undefined) ?? []
      ).map((p) => ({ name: p.name, in: p.in, type: p.schema.type, uniqueItems: true })),
      responses: { "200": { description: "OK" } },
    };
  }
  return out;
}
