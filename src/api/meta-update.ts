import type { FieldProblem } from "../lib/index.ts";
import type { ApiObject } from "./object.ts";

/**
 * ValidateObjectMetaUpdate's immutable uid: an update (replace, apply, any patch) that carries a uid other than the
 * stored one is refused, as the API server refuses it. Absent (or null/empty) means "keep". A changed
 * creationTimestamp is not refused: the API server's BeforeUpdate ignores it and keeps the stored one, as
 * ResourceClient.update does.
 */
export function immutableMetaProblems(live: ApiObject, next: ApiObject): FieldProblem[] {
  const v = next.metadata?.uid as unknown;
  if (v === undefined || v === null || v === "" || v === live.metadata.uid) return [];
  return [{ path: "metadata.uid", message: `Invalid value: ${JSON.stringify(v)}: field is immutable` }];
}
