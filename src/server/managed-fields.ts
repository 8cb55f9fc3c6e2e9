import { mergeKeyFor } from "../api/index.ts";
import { deepEqual, isPlainObject } from "../lib/index.ts";

/**
 * Field ownership as the API server records it in `metadata.managedFields` (structured-merge-diff's FieldsV1).
 * A path is a list of elements: `f:<field>` for an object member, `k:{"name":"c"}` for an element of a list
 * merged by key. A keyed element's own entry is the path ending in `.` (the element exists because of this
 * manager). Other lists, and every scalar, are leaves: owned whole.
 */
export type FieldPath = string[];

const SELF = ".";

/** Fields the API server never tracks (fieldmanager's stripMeta): identity and server-owned metadata. */
const UNTRACKED = new Set([
  "f:apiVersion",
  "f:kind",
  "f:metadata/f:name",
  "f:metadata/f:namespace",
  "f:metadata/f:uid",
  "f:metadata/f:resourceVersion",
  "f:metadata/f:generation",
  "f:metadata/f:creationTimestamp",
  "f:metadata/f:deletionTimestamp",
  "f:metadata/f:selfLink",
  "f:metadata/f:managedFields",
]);

export function pathKey(path: FieldPath): string {
  return path.join("/");
}

/** The dotted form of a field path with Go's key elements, as conflicts print it: `.spec.ports[port=80].name`. */
export function pathText(path: FieldPath): string {
  let out = "";
  for (const e of path) {
    if (e === SELF) continue;
    if (e.startsWith("f:")) out += `.${e.slice(2)}`;
    else if (e.startsWith("k:")) {
      const key = JSON.parse(e.slice(2)) as Record<string, unknown>;
      out += `[${Object.entries(key)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(",")}]`;
    }
  }
  return out;
}

/** The dotted JSON path Kubernetes' merge keys are matched on (`spec.template.spec.containers`). */
function dottedPath(path: FieldPath): string {
  return path
    .filter((e) => e.startsWith("f:"))
    .map((e) => e.slice(2))
    .join(".");
}

function keyElement(key: string, item: Record<string, unknown>): string {
  return `k:${JSON.stringify({ [key]: item[key] })}`;
}

/** Every field path `value` sets, for a kind (its merge keys decide which lists are merged per element). */
export function fieldPathsOf(kind: string, value: unknown): Map<string, FieldPath> {
  const out = new Map<string, FieldPath>();
  const add = (p: FieldPath) => {
    if (!UNTRACKED.has(pathKey(p))) out.set(pathKey(p), p);
  };
  const walk = (v: unknown, path: FieldPath) => {
    if (isPlainObject(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) {
        const childPath = [...path, `f:${k}`];
        if (UNTRACKED.has(pathKey(childPath))) continue;
        walk(child, childPath);
      }
      return;
    }
    const key = Array.isArray(v) ? mergeKeyFor(kind, dottedPath(path)) : undefined;
    if (key && Array.isArray(v) && v.every((e) => isPlainObject(e) && e[key] !== undefined)) {
      for (const item of v as Record<string, unknown>[]) {
        const itemPath = [...path, keyElement(key, item)];
        add([...itemPath, SELF]);
        walk(item, itemPath);
      }
      return;
    }
    add(path);
  };
  walk(value, []);
  return out;
}

/** The value at a field path, or undefined. */
export function valueAt(root: unknown, path: FieldPath): unknown {
  let cur = root;
  for (const e of path) {
    if (e === SELF) return cur;
    if (e.startsWith("f:")) {
      if (!isPlainObject(cur) || !Object.hasOwn(cur, e.slice(2))) return undefined;
      cur = cur[e.slice(2)];
    } else {
      if (!Array.isArray(cur)) return undefined;
      const [[k, want]] = Object.entries(JSON.parse(e.slice(2)) as Record<string, unknown>) as [
        [string, unknown],
      ];
      cur = cur.find((item) => isPlainObject(item) && deepEqual(item[k], want));
      if (cur === undefined) return undefined;
    }
  }
  return cur;
}

/** Removes the field a path names (a keyed element when the path ends in `.`); mutates `root`. */
export function removePath(root: unknown, path: FieldPath): void {
  const elements = path[path.length - 1] === SELF ? path.slice(0, -1) : path;
  const last = elements[elements.length - 1];
  if (last === undefined) return;
  const parent = valueAt(root, elements.slice(0, -1));
  if (last.startsWith("f:")) {
    if (isPlainObject(parent)) delete parent[last.slice(2)];
    return;
  }
  if (!Array.isArray(parent)) return;
  const item = valueAt(root, elements);
  const at = parent.indexOf(item);
  if (at !== -1) parent.splice(at, 1);
}

/** FieldsV1's JSON form: one nested object member per path element, `{}` at the leaves. */
export function toFieldsV1(paths: Iterable<FieldPath>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const path of paths) {
    let node = root;
    for (const e of path) {
      if (!isPlainObject(node[e])) node[e] = {};
      node = node[e] as Record<string, unknown>;
    }
  }
  return root;
}

export function fromFieldsV1(tree: unknown): Map<string, FieldPath> {
  const out = new Map<string, FieldPath>();
  const walk = (node: unknown, path: FieldPath) => {
    if (!isPlainObject(node)) return;
    const children = Object.keys(node);
    if (children.length === 0 && path.length > 0) out.set(pathKey(path), path);
    for (const c of children) walk(node[c], [...path, c]);
  };
  walk(tree, []);
  return out;
}
