import { deepEqual, isPlainObject, TortieError } from "../lib/index.ts";

/** RFC 7386 JSON merge patch: objects merge, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function invalidPatch(message: string): TortieError {
  return new TortieError("Invalid", `invalid patch: ${message}`);
}

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw invalidPatch(`path ${JSON.stringify(pointer)} must start with "/"`);
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, parts: string[], pointer: string): [Container, string] {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isPlainObject(cur)) cur = cur[p];
    else cur = undefined;
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
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isPlainObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw invalidPatch(`path ${pointer} does not exist`);
  }
  return cur;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const parts = decodePointer(pointer);
  if (parts.length === 0) throw invalidPatch("cannot remove the whole document");
  const [parent, key] = parentOf(doc, parts, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, pointer, false), 1)[0];
  if (!(key in parent)) throw invalidPatch(`path ${pointer} does not exist`);
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

/** RFC 6902 JSON patch. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw invalidPatch("a JSON patch must be a list of operations");
  let doc = structuredClone(target);
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
        const value = op === "move" ? removeAt(doc, raw.from) : structuredClone(getAt(doc, raw.from));
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

/** Strategic merge patch for the Kubernetes kinds: keyed list merging plus the `$patch` directives. */
export function strategicMergePatch(kind: string, target: unknown, patch: unknown, path = ""): unknown {
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
    if (v === null) delete out[k];
    else if (Array.isArray(v) && key && Array.isArray(out[k]))
      out[k] = mergeList(kind, out[k] as unknown[], v, key, childPath);
    else if (isPlainObject(v)) out[k] = strategicMergePatch(kind, out[k], v, childPath);
    else out[k] = structuredClone(v);
  }
  return out;
}

function mergeList(kind: string, live: unknown[], patch: unknown[], key: string, path: string): unknown[] {
  const out = structuredClone(live);
  for (const item of patch) {
    if (!isPlainObject(item) || !(key in item)) {
      out.push(structuredClone(item));
      continue;
    }
    const at = out.findIndex((e) => isPlainObject(e) && e[key] === item[key]);
    if (item.$patch === "delete") {
      if (at !== -1) out.splice(at, 1);
    } else if (at === -1) out.push(strategicMergePatch(kind, {}, item, path));
    else out[at] = strategicMergePatch(kind, out[at], item, path);
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
