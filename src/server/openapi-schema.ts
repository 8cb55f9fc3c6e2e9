import { apiVersionOf, type KindDef, kindJsonSchema, mergeKeyFor } from "../api/index.ts";
import { isPlainObject } from "../lib/index.ts";
import { isBuiltIn } from "./patch-request.ts";

type Schema = Record<string, unknown>;

/**
 * The component name the API server gives a kind's schema: Go's package path for its own kinds
 * (`io.k8s.api.core.v1.Pod`), the reversed group for the others (as for CRDs: `org.projectcalico.v3.IPPool`).
 */
export function schemaName(def: KindDef): string {
  if (def.group === "") return `io.k8s.api.core.${def.version}.${def.kind}`;
  if (def.group === "apps" || def.group.endsWith(".k8s.io"))
    return `io.k8s.api.${def.group.split(".")[0]}.${def.version}.${def.kind}`;
  return `${def.group.split(".").reverse().join(".")}.${def.version}.${def.kind}`;
}

/**
 * JSON Schema (draft 2020-12, from zod) as OpenAPI 3.0's schema subset kube-openapi decodes: nullable instead of
 * `type: [T, "null"]`, int-or-string instead of the union, no `propertyNames`, no `$schema`, no closed objects
 * (the server, not the schema, refuses unknown fields: kubectl sends `fieldValidation`). A construct with no
 * OpenAPI form (a refinement zod cannot print) stays as zod's permissive `{}`.
 */
function toOpenApi(s: unknown, kind: string, path: string, builtIn: boolean): Schema {
  if (!isPlainObject(s)) return {};
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "$schema" || k === "propertyNames" || k === "additionalProperties" || k === "~standard")
      continue;
    if (k === "minimum" || k === "maximum") {
      if (Math.abs(v as number) < Number.MAX_SAFE_INTEGER) out[k] = v;
      continue;
    }
    out[k] = v;
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== "null");
    out.type = types[0];
    if (types.length < s.type.length) out.nullable = true;
  }
  if (out.type === "integer") out.format = "int64";
  const union = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) {
    const types = new Set(union.map((u) => (isPlainObject(u) ? u.type : undefined)));
    delete out.anyOf;
    delete out.oneOf;
    if (types.size === 2 && types.has("string") && (types.has("integer") || types.has("number")))
      out["x-kubernetes-int-or-string"] = true;
    else if (union.some((u) => isPlainObject(u) && u.type === "null")) {
      Object.assign(
        out,
        toOpenApi(
          union.find((u) => isPlainObject(u) && u.type !== "null"),
          kind,
          path,
          builtIn,
        ),
      );
      out.nullable = true;
    }
  }
  if (isPlainObject(s.properties)) {
    const props: Record<string, Schema> = {};
    for (const [name, child] of Object.entries(s.properties))
      props[name] = toOpenApi(child, kind, path ? `${path}.${name}` : name, builtIn);
    out.properties = props;
  }
  if (isPlainObject(s.additionalProperties))
    out.additionalProperties = toOpenApi(s.additionalProperties, kind, path, builtIn);
  if (
    s.additionalProperties === true ||
    (isPlainObject(s.additionalProperties) && Object.keys(s.additionalProperties).length === 0)
  )
    out["x-kubernetes-preserve-unknown-fields"] = true;
  if (s.type === "array") {
    out.items = toOpenApi(s.items, kind, path, builtIn);
    const key = builtIn ? mergeKeyFor(kind, path) : undefined;
    if (key) {
      out["x-kubernetes-patch-merge-key"] = key;
      out["x-kubernetes-patch-strategy"] = "merge";
      out["x-kubernetes-list-type"] = "map";
      out["x-kubernetes-list-map-keys"] = [key];
    }
  }
  return out;
}

const cache = new Map<KindDef, Schema>();

/** A kind's OpenAPI schema, tagged with its group-version-kind as the API server tags them. Built once. */
export function kindSchema(def: KindDef): Schema {
  let s = cache.get(def);
  if (!s) {
    const json = kindJsonSchema(def);
    s = {
      description: `${def.kind} (${apiVersionOf(def)}), as tortie stores and validates it.`,
      ...toOpenApi(json, def.kind, "", isBuiltIn(def)),
      "x-kubernetes-group-version-kind": [{ group: def.group, kind: def.kind, version: def.version }],
    };
    cache.set(def, s);
  }
  return s;
}
