import {
  deepEqual,
  isPlainObject,
  MAX_JSON_PATCH_COPY_BYTES,
  MAX_JSON_PATCH_OPERATIONS,
  TortieError,
} from "../lib/index.ts";
import { checkPlainData } from "./yaml-guard.ts";

function invalidPatch(message: string): TortieError {
  return new TortieError("Invalid", `invalid patch: ${message}`);
}

/** A patch and its result stay plain data: bounded depth, no `__proto__` keys (lib/limits.ts). */
function checkData(value: unknown, what: string): void {
  checkPlainData(value, (m) => invalidPatch(`${what}: ${m}`));
}

/** Go's json.Unmarshal message for a value that is not the object a patch must be. */
function notAnObject(v: unknown): TortieError {
  const type = Array.isArray(v) ? "array" : typeof v === "boolean" ? "bool" : typeof v;
  return new TortieError(
    "Invalid",
    `json: cannot unmarshal ${type} into Go value of type map[string]interface {}`,
  );
}

/** Own properties only: a key like `constructor` is data, never a walk into the prototype. */
function own(o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

function merge(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(own(out, k), v);
  }
  return out;
}

/**
 * RFC 7386 JSON merge patch: objects merge, `null` deletes, everything else replaces. A patch that is not an
 * object is refused as the API server's merge (evanphx/json-patch) refuses it: "Invalid JSON Patch".
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) throw new TortieError("Invalid", "Invalid JSON Patch");
  checkData(patch, "the patch");
  const out = merge(target, patch);
  checkData(out, "the patched object");
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw invalidPatch(`path ${JSON.stringify(pointer)} must start with "/"`);
  const parts = pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (parts.includes("__proto__"))
    throw invalidPatch(`path ${JSON.stringify(pointer)}: the key "__proto__" is not allowed`);
  return parts;
}

/** One step down a JSON pointer: array elements by index, object members by own key only. */
function step(cur: unknown, p: string): unknown {
  if (Array.isArray(cur)) return /^(0|[1-9][0-9]*)$/.test(p) ? cur[Number(p)] : undefined;
  if (isPlainObject(cur)) return own(cur, p);
  return undefined;
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, parts: string[], pointer: string): [Container, string] {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    cur = step(cur, p);
    if (cur === undefined) throw invalidPatch(`path ${pointer} does not exist`);
  }
  if (!Array.isArray(cur) && !isPlainObject(cur)) throw invalidPatch(`path ${pointer} does not exist`);
  return [cur, parts[parts.length - 1]!];
}

function arrayIndex(arr: unknown[], key: string, pointer: string, forInsert: boolean): number {
  if (forInsert && key === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(key)) throw invalidPatch(`bad array index in ${pointer}`);
  const i = Number(key);
  if (i > arr.length || (!forInsert && i === arr.length))
    throw invalidPatch(`index out of range in ${pointer}`);
  return i;
}

function getAt(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const p of decodePointer(pointer)) {
    cur = step(cur, p);
    if (cur === undefined) throw invalidPatch(`path ${pointer} does not exist`);
  }
  return cur;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const parts = decodePointer(pointer);
  if (parts.length === 0) throw invalidPatch("cannot remove the whole document");
  const [parent, key] = parentOf(doc, parts, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, pointer, false), 1)[0];
  if (!Object.hasOwn(parent, key)) throw invalidPatch(`path ${pointer} does not exist`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: unknown, pointer: string, value: unknown): unknown {
  const parts = decodePointer(pointer);
  if (parts.length === 0) return value;
  const [parent, key] = parentOf(doc, parts, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, pointer, true), 0, value);
  else parent[key] = value;
  return doc;
}

/** RFC 6902 JSON patch, with the API server's bound on its operations. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw invalidPatch("a JSON patch must be a list of operations");
  if (ops.length > MAX_JSON_PATCH_OPERATIONS)
    throw new TortieError(
      "Invalid",
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`,
    );
  checkData(ops, "the patch");
  let doc = structuredClone(target);
  let copied = 0;
  for (const [i, raw] of ops.entries()) {
    if (!isPlainObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw invalidPatch(`operation ${i} needs "op" and "path"`);
    const { op, path } = raw;
    switch (op) {
      case "add":
        doc = addAt(doc, path, structuredClone(raw.value));
        break;
      case "remove":
        removeAt(doc, path);
        break;
      case "replace":
        getAt(doc, path);
        if (decodePointer(path).length === 0) doc = structuredClone(raw.value);
        else {
          removeAt(doc, path);
          doc = addAt(doc, path, structuredClone(raw.value));
        }
        break;
      case "move":
      case "copy": {
        if (typeof raw.from !== "string") throw invalidPatch(`operation ${i} (${op}) needs "from"`);
        let value: unknown;
        if (op === "move") value = removeAt(doc, raw.from);
        else {
          value = getAt(doc, raw.from);
          // evanphx/json-patch's words for its AccumulatedCopySizeLimit (lib/limits.ts).
          copied += Buffer.byteLength(JSON.stringify(value) ?? "null");
          if (copied > MAX_JSON_PATCH_COPY_BYTES)
            throw new TortieError(
              "Invalid",
              `Unable to complete the copy, the accumulated size increase of copy is ${copied}, exceeding the limit ${MAX_JSON_PATCH_COPY_BYTES}`,
            );
          value = structuredClone(value);
        }
        doc = addAt(doc, path, value);
        break;
      }
      case "test":
        if (!deepEqual(getAt(doc, path), raw.value)) throw invalidPatch(`test failed at ${path}`);
        break;
      default:
        throw invalidPatch(`unknown operation ${JSON.stringify(op)}`);
    }
  }
  checkData(doc, "the patched object");
  return doc;
}

/**
 * Lists Kubernetes merges element-wise (patchStrategy "merge") and the key each element is matched on, by the
 * path's last segments. Other lists are replaced whole, as in strategic merge patch.
 */
const MERGE_KEYS: [RegExp, string][] = [
  [/(^|\.)containers$/, "name"],
  [/(^|\.)initContainers$/, "name"],
  [/(^|\.)containers\.ports$/, "containerPort"],
  [/(^|\.)env$/, "name"],
  [/(^|\.)volumes$/, "name"],
  [/(^|\.)volumeMounts$/, "mountPath"],
  [/(^|\.)imagePullSecrets$/, "name"],
  [/^metadata\.ownerReferences$/, "uid"],
  [/(^|\.)conditions$/, "type"],
  [/^status\.addresses$/, "type"],
];

export function mergeKeyFor(kind: string, path: string): string | undefined {
  if (kind === "Service" && path === "spec.ports") return "port";
  return MERGE_KEYS.find(([re]) => re.test(path))?.[1];
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/**
 * Strategic merge patch for the Kubernetes kinds: keyed list merging plus the `$patch` directives. As the API
 * server decodes the patch into a map, `null` changes nothing and any other non-object is refused.
 */
export function strategicMergePatch(kind: string, target: unknown, patch: unknown): unknown {
  if (patch === null) return structuredClone(target);
  if (!isPlainObject(patch)) throw notAnObject(patch);
  checkData(patch, "the patch");
  const out = strategic(kind, target, patch, "");
  checkData(out, "the patched object");
  return out;
}

function strategic(kind: string, target: unknown, patch: unknown, path: string): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  const out: Record<string, unknown> = isPlainObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    const childPath = join(path, k);
    const key = mergeKeyFor(kind, childPath);
    const live = own(out, k);
    if (v === null) delete out[k];
    else if (Array.isArray(v) && key && Array.isArray(live))
      out[k] = mergeList(kind, live as unknown[], v, key, childPath);
    else if (isPlainObject(v)) out[k] = strategic(kind, live, v, childPath);
    else out[k] = structuredClone(v);
  }
  return out;
}

function mergeList(kind: string, live: unknown[], patch: unknown[], key: string, path: string): unknown[] {
  const out = structuredClone(live);
  for (const item of patch) {
    if (!isPlainObject(item) || !Object.hasOwn(item, key)) {
      out.push(structuredClone(item));
      continue;
    }
    const at = out.findIndex((e) => isPlainObject(e) && e[key] === item[key]);
    if (item.$patch === "delete") {
      if (at !== -1) out.splice(at, 1);
    } else if (at === -1) out.push(strategic(kind, {}, item, path));
    else out[at] = strategic(kind, out[at], item, path);
  }
  return out;
}

/**
 * kubectl apply's three-way merge: fields the user set last time but dropped now are removed; fields set now
 * win; fields nobody applied (defaults, controller-assigned clusterIP/nodePort, status) are kept from live.
 */
export function threeWayMerge(
  kind: string,
  lastApplied: unknown,
  desired: unknown,
  live: unknown,
  path = "",
): unknown {
  if (!isPlainObject(desired)) return structuredClone(desired);
  const out: Record<string, unknown> = isPlainObject(live) ? structuredClone(live) : {};
  const last = isPlainObject(lastApplied) ? lastApplied : {};
  for (const k of Object.keys(last)) if (!(k in desired)) delete out[k];
  for (const [k, v] of Object.entries(desired)) {
    const childPath = join(path, k);
    const key = mergeKeyFor(kind, childPath);
    if (Array.isArray(v) && key) {
      const liveList = Array.isArray(out[k]) ? (out[k] as unknown[]) : [];
      const lastList = Array.isArray(last[k]) ? (last[k] as unknown[]) : [];
      const keyOf = (e: unknown) => (isPlainObject(e) ? e[key] : undefined);
      const merged = v.map((d) => {
        const l = liveList.find((e) => keyOf(e) !== undefined && keyOf(e) === keyOf(d));
        const la = lastList.find((e) => keyOf(e) !== undefined && keyOf(e) === keyOf(d));
        return threeWayMerge(kind, la, d, l, childPath);
      });
      const kept = liveList.filter(
        (e) => !v.some((d) => keyOf(d) === keyOf(e)) && !lastList.some((la) => keyOf(la) === keyOf(e)),
      );
      out[k] = [...merged, ...kept];
    } else if (isPlainObject(v)) out[k] = threeWayMerge(kind, last[k], v, out[k], childPath);
    else out[k] = structuredClone(v);
  }
  return out;
}
