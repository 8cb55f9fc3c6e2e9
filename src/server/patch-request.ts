import {
  type ApiObject,
  apiVersionOf,
  jsonPatch,
  type KindDef,
  mergePatch,
  parseManifests,
  strategicMergePatch,
} from "../api/index.ts";
import { isPlainObject, isTortieError, TortieError } from "../lib/index.ts";
import { recordUpdate, type Scope, serverSideApply } from "./server-side-apply.ts";
import { StatusError } from "./status.ts";

/** One PATCH request's parts, as the router hands them over. */
export interface PatchRequest {
  contentType: string;
  def: KindDef;
  /** The stored object, or undefined when it does not exist (server-side apply then creates it). */
  current: ApiObject | undefined;
  body: string;
  /** `?fieldManager=`, or the client's user agent up to its first `/`, as the API server defaults it. */
  fieldManager?: string;
  force?: boolean;
  subresource?: "status";
  /** The name and namespace on the URL; default to the current object's. Needed when apply creates. */
  name?: string;
  namespace?: string;
  now?: Date;
}

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";
export const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";
export const APPLY_PATCH = "application/apply-patch+yaml";

/**
 * The API server offers strategic merge patch only for its own (Go-typed) kinds; a CRD's handler lists the
 * others, so kubectl falls back to a merge patch (apiextensions-apiserver's customresource_handler).
 */
export function patchTypesFor(def: KindDef): string[] {
  return isBuiltIn(def)
    ? [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    : [JSON_PATCH, MERGE_PATCH, APPLY_PATCH];
}

export function isBuiltIn(def: KindDef): boolean {
  return def.group === "" || def.group === "apps" || def.group.endsWith(".k8s.io");
}

function badRequest(message: string): StatusError {
  return new StatusError(400, "BadRequest", message);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw badRequest("invalid JSON patch");
  }
}

/** The object a PATCH request asks for; the router stores it with the current resourceVersion as precondition. */
export function patchObject(a: PatchRequest): ApiObject {
  const contentType = a.contentType.split(";")[0]!.trim().toLowerCase();
  const accepted = patchTypesFor(a.def);
  if (!accepted.includes(contentType))
    throw new StatusError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    );
  const now = a.now ?? new Date();
  const scope: Scope = a.subresource === "status" ? "status" : "main";
  const manager = a.fieldManager ?? "";
  if (contentType === APPLY_PATCH) {
    if (!manager)
      throw new StatusError(
        422,
        "Invalid",
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    const applied = parseApplied(a.body, a.def);
    const result = serverSideApply({
      def: a.def,
      current: a.current,
      applied,
      manager,
      force: a.force ?? false,
      scope,
      now,
    });
    checkIdentity(a, result);
    return result;
  }
  if (a.force)
    throw new StatusError(
      422,
      "Invalid",
      'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    );
  const current = a.current;
  if (!current)
    throw new StatusError(
      404,
      "NotFound",
      `${a.def.plural}${a.def.group ? `.${a.def.group}` : ""} "${a.name ?? ""}" not found`,
    );
  const { managedFields: owners, ...metaWithoutOwners } = current.metadata as Record<string, unknown>;
  const live = { ...current, metadata: metaWithoutOwners };
  const patch = parseJson(a.body);
  let patched: unknown;
  try {
    if (contentType === JSON_PATCH) patched = jsonPatch(live, patch);
    else if (contentType === MERGE_PATCH) patched = mergePatch(live, patch);
    else patched = strategicMergePatch(a.def.kind, live, patch);
  } catch (e) {
    throw patchFailure(contentType, patch, e);
  }
  if (!isPlainObject(patched) || !isPlainObject(patched.metadata))
    throw badRequest(
      `the name of the object () does not match the name on the URL (${a.name ?? current.metadata.name ?? ""})`,
    );
  const result = keepScope(current, patched as ApiObject, scope);
  checkIdentity(a, result);
  if (owners !== undefined) (result.metadata as Record<string, unknown>).managedFields = owners;
  if (!manager) return result;
  return recordUpdate({ def: a.def, before: current, after: result, manager, scope, now });
}

/**
 * How the API server answers a patch that fails: a JSON patch that is not a list is 400, one that does not apply
 * (a failed `test`, a missing path) is evanphx/json-patch's error wrapped as a bare 422, whose text is lost
 * (NewGenericServerResponse); more operations than allowed is 413; a merge or strategic patch that is not an
 * object is 400.
 */
function patchFailure(contentType: string, patch: unknown, e: unknown): unknown {
  if (!isTortieError(e)) return e;
  if (/maximum operations/.test(e.message)) return new StatusError(413, "RequestEntityTooLarge", e.message);
  if (contentType !== JSON_PATCH) return badRequest(e.message);
  if (!Array.isArray(patch))
    return badRequest(
      `json: cannot unmarshal ${isPlainObject(patch) ? "object" : typeof patch} into Go value of type jsonpatch.Patch`,
    );
  return new StatusError(422, "Invalid", "the server rejected our request due to an error in our request");
}

/**
 * The status subresource writes only `.status` and the main resource never does, as the API server's update
 * strategies reset the other part (PrepareForUpdate) rather than refusing the write.
 */
function keepScope(current: ApiObject, patched: ApiObject, scope: Scope): ApiObject {
  if (scope === "status") {
    const out = structuredClone(current);
    if (patched.status === undefined) delete out.status;
    else out.status = patched.status;
    return out;
  }
  const out = { ...patched };
  if (current.status === undefined) delete out.status;
  else out.status = current.status;
  return out;
}

function parseApplied(body: string, def: KindDef): ApiObject {
  let entries: ReturnType<typeof parseManifests>;
  try {
    entries = parseManifests(body, "patch");
  } catch (e) {
    throw badRequest(`error decoding patch: ${isTortieError(e) ? e.message : String(e)}`);
  }
  if (entries.length !== 1) throw badRequest("error decoding patch: the apply patch must be one object");
  const applied = entries[0]!.object;
  const want = apiVersionOf(def);
  if (applied.apiVersion !== want)
    throw badRequest(
      `Incorrect version specified in apply patch. Specified patch version: ${String(applied.apiVersion ?? "")}, expected: ${want}`,
    );
  if (applied.kind !== def.kind)
    throw badRequest(
      `Incorrect kind specified in apply patch. Specified patch kind: ${String(applied.kind ?? "")}, expected: ${def.kind}`,
    );
  if (!isPlainObject(applied.metadata)) applied.metadata = {};
  return applied;
}

/**
 * A patch cannot rename, move or re-identify an object (handlers/patch.go's applyPatch, rest.go's checkName,
 * the update's UID precondition), nor turn it into another kind. An object without a namespace takes the URL's.
 */
function checkIdentity(a: PatchRequest, result: ApiObject): void {
  const name = a.name ?? a.current?.metadata.name ?? "";
  const namespace = a.namespace ?? a.current?.metadata.namespace;
  const meta = result.metadata;
  if (namespace && meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== namespace)
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  // EnsureObjectNamespaceMatchesRequestNamespace fills an empty namespace from the request's.
  if (namespace && a.def.namespaced && !meta.namespace) meta.namespace = namespace;
  if ((meta.name ?? "") !== name)
    throw badRequest(
      `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
    );
  const uid = a.current?.metadata.uid;
  if (uid !== undefined && meta.uid !== undefined && meta.uid !== uid)
    throw new StatusError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${a.def.plural}${a.def.group ? `.${a.def.group}` : ""} "${name}": Precondition failed: UID in precondition: ${uid}, UID in object meta: ${meta.uid}`,
    );
  if (!a.current && meta.uid !== undefined)
    throw new StatusError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${a.def.plural}${a.def.group ? `.${a.def.group}` : ""} "${name}": uid mismatch: the provided object specified uid ${meta.uid}, and no existing object was found`,
    );
  for (const [field, want] of [
    ["apiVersion", apiVersionOf(a.def)],
    ["kind", a.def.kind],
  ] as const) {
    const got = result[field];
    if (got !== undefined && got !== want)
      throw new TortieError(
        "Invalid",
        `${a.def.kind} "${name}" is invalid: ${field}: Invalid value: ${JSON.stringify(got)}: field is immutable`,
      );
  }
}
