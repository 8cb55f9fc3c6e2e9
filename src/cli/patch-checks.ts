import type { ApiObject } from "../api/index.ts";
import { isPlainObject, TortieError } from "../lib/index.ts";

/**
 * What the API server checks of a patch's result before anything else (apiserver's handlers/patch.go
 * `applyPatch`): first `rest.EnsureObjectNamespaceMatchesRequestNamespace` (the object's namespace, if set,
 * is the request's), then rest.go's `checkName` (the object still names the object the URL names). A patch
 * that removes `metadata` (`{"metadata":null}`, a JSON patch `remove /metadata`) therefore fails here with
 * the API server's words, not in the store.
 */
export function checkPatchedObject(
  patched: unknown,
  name: string,
  namespace: string | undefined,
): asserts patched is ApiObject {
  if (!isPlainObject(patched))
    throw new TortieError(
      "Invalid",
      `the name of the object () does not match the name on the URL (${name})`,
    );
  const meta = isPlainObject(patched.metadata) ? patched.metadata : {};
  const objNamespace = typeof meta.namespace === "string" ? meta.namespace : "";
  if (namespace && objNamespace !== "" && objNamespace !== namespace)
    throw new TortieError(
      "Invalid",
      "the namespace of the provided object does not match the namespace sent on the request",
    );
  const objName = typeof meta.name === "string" ? meta.name : "";
  if (objName !== name)
    throw new TortieError(
      "Invalid",
      `the name of the object (${objName}) does not match the name on the URL (${name})`,
    );
  if (!isPlainObject(patched.metadata)) patched.metadata = { name };
}
