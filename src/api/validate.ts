import * as z from "zod";
import { type FieldProblem, ValidationError } from "../lib/index.ts";
import { apiVersionOf, type KindDef } from "./kind.ts";
import { checkLabels, checkName, objectMetaSchema } from "./meta.ts";
import type { ApiObject } from "./object.ts";
import { calicoIssueMessage, ensureSchemaHelpers } from "./schema-helpers.ts";

const schemas = new WeakMap<KindDef, z.ZodType>();

function schemaFor(def: KindDef): z.ZodType {
  let s = schemas.get(def);
  if (!s) {
    ensureSchemaHelpers();
    s = z.strictObject({
      apiVersion: z.string(),
      kind: z.string(),
      metadata: objectMetaSchema(),
      ...def.body(),
    });
    schemas.set(def, s);
  }
  return s;
}

/**
 * A kind's whole-object schema as JSON Schema (draft 2020-12), the source of the API server's OpenAPI documents.
 * What JSON Schema cannot say (refinements: CIDRs, selectors) comes out as the plain type or `{}`.
 */
export function kindJsonSchema(def: KindDef): Record<string, unknown> {
  return z.toJSONSchema(schemaFor(def), { unrepresentable: "any", io: "input", cycles: "ref" }) as Record<
    string,
    unknown
  >;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

function issueToProblems(issue: z.core.$ZodIssue): FieldProblem[] {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({ path: path ? `${path}.${k}` : k, message: "unknown field" }));
  }
  if (issue.code === "invalid_union") {
    return [{ path, message: "Invalid value" }];
  }
  const calico = issue.code === "custom" ? calicoIssueMessage(issue) : undefined;
  return [{ path, message: calico ?? issue.message }];
}

export function describeObject(
  def: KindDef,
  o: { metadata?: { name?: string; namespace?: string } },
): string {
  const name = o.metadata?.name ?? "";
  return `${def.kind} "${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${name}"`;
}

/**
 * Decodes, defaults and validates one object the way the API server does: strict structure first, then
 * defaulting, then semantic rules. Returns the defaulted copy; throws ValidationError listing every problem.
 */
export function prepareObject(def: KindDef, given: ApiObject): ApiObject {
  // Go decodes `spec:` with no value (null) into the zero struct: an empty spec.
  const input = given.spec === null ? { ...given, spec: {} } : given;
  const subject = describeObject(def, input);
  const early: FieldProblem[] = [];
  def.precheck?.(input, early);
  if (early.length > 0) throw new ValidationError(subject, early);
  const parsed = schemaFor(def).safeParse(input);
  if (!parsed.success) throw new ValidationError(subject, parsed.error.issues.flatMap(issueToProblems));
  const o = structuredClone(input);
  o.apiVersion = apiVersionOf(def);
  const problems: FieldProblem[] = [];
  const meta = o.metadata;
  checkName(meta.name, def.nameRule ?? "any", problems);
  if (def.fixedNames && meta.name && !def.fixedNames.includes(meta.name))
    problems.push({
      path: "metadata.name",
      message: `${def.kind} must be named ${def.fixedNames.join(" or ")}`,
    });
  if (def.namespaced && !meta.namespace)
    problems.push({ path: "metadata.namespace", message: "namespace is required" });
  if (!def.namespaced && meta.namespace)
    problems.push({
      path: "metadata.namespace",
      message: `${def.kind} is not namespaced; remove metadata.namespace`,
    });
  checkLabels(meta.labels, "metadata.labels", problems);
  if (problems.length > 0) throw new ValidationError(subject, problems);
  def.defaults?.(o);
  def.check?.(o, problems);
  if (problems.length > 0) throw new ValidationError(subject, problems);
  return o;
}
