import { type ApiObject, apiVersionOf, describeObject, type KindDef } from "../api/index.ts";
import { type FieldProblem, isPlainObject, ValidationError } from "../lib/index.ts";

/**
 * A patch may not turn an object into another kind. The API server decodes a patch's result as the kind the URL
 * names, so a patched `kind` or `apiVersion` cannot take effect; tortie refuses it rather than printing "patched"
 * while keeping the old values. (uid and creationTimestamp are checked on every update, in the store.)
 */
export function checkPatchedKind(def: KindDef, live: ApiObject, patched: unknown): void {
  if (!isPlainObject(patched)) return;
  const problems: FieldProblem[] = [];
  const want = { apiVersion: apiVersionOf(def), kind: def.kind };
  for (const field of ["apiVersion", "kind"] as const) {
    const v = patched[field];
    if (v !== undefined && v !== want[field])
      problems.push({ path: field, message: `Invalid value: ${JSON.stringify(v)}: field is immutable` });
  }
  if (problems.length > 0) throw new ValidationError(describeObject(def, live), problems);
}
