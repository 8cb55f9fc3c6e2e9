import type { FieldProblem } from "../lib/index.ts";
import type { ApiObject } from "./object.ts";

/**
 * ValidateObjectMetaUpdate's immutable fields that a client can send: an update (replace, apply, any patch) that
 * carries a uid or creationTimestamp other than the stored one is refused, as the API server refuses it. Absent
 * (or null, as `kubectl get -o yaml` prints a fresh object's timestamp) means "keep".
 */
export function immutableMetaProblems(live: ApiObject, next: ApiObject): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const field of ["uid", "creationTimestamp"] as const) {
    const v = next.metadata?.[field] as unknown;
    if (v === undefined || v === null || v === "") continue;
    if (v !== live.metadata[field])
      out.push({
        path: `metadata.${field}`,
        message: `Invalid value: ${JSON.stringify(v)}: field is immutable`,
      });
  }
  return out;
}
