import { type ApiObject, apiVersionOf, type KindDef, mergeKeyFor } from "../api/index.ts";
import { deepEqual, isPlainObject } from "../lib/index.ts";
import {
  type FieldPath,
  fieldPathsOf,
  fromFieldsV1,
  pathKey,
  pathText,
  removePath,
  toFieldsV1,
  valueAt,
} from "./managed-fields.ts";
import { type StatusCause, StatusError } from "./status.ts";

/** One `metadata.managedFields` entry, as the API server writes it. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

interface Owner {
  entry: ManagedFieldsEntry;
  paths: Map<string, FieldPath>;
}

/** Which part of an object a write may touch: the main resource never writes status, `/status` writes only it. */
export type Scope = "main" | "status";

function ownersOf(o: ApiObject | undefined): Owner[] {
  const raw = (o?.metadata as { managedFields?: unknown } | undefined)?.managedFields;
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((e): e is ManagedFieldsEntry => isPlainObject(e) && typeof e.manager === "string")
    .map((entry) => ({ entry, paths: fromFieldsV1(entry.fieldsV1) }));
}

function sameManager(e: ManagedFieldsEntry, manager: string, operation: string, scope: Scope): boolean {
  return (
    e.manager === manager &&
    e.operation === operation &&
    (e.subresource ?? "") === (scope === "status" ? "status" : "")
  );
}

/** Only the fields a scope writes: `.status` for the status subresource, everything else otherwise. */
function inScope(path: FieldPath, scope: Scope): boolean {
  return (path[0] === "f:status") === (scope === "status");
}

function writeOwners(o: ApiObject, owners: Owner[]): void {
  const entries = owners
    .filter((w) => w.paths.size > 0)
    .map((w) => ({ ...w.entry, fieldsV1: toFieldsV1(w.paths.values()) }));
  const meta = o.metadata as { managedFields?: unknown };
  if (entries.length > 0) meta.managedFields = entries;
  else delete meta.managedFields;
}

function ownerFor(
  owners: Owner[],
  def: KindDef,
  manager: string,
  operation: "Apply" | "Update",
  scope: Scope,
  now: Date,
): Owner {
  let owner = owners.find((w) => sameManager(w.entry, manager, operation, scope));
  if (!owner) {
    owner = {
      entry: {
        manager,
        operation,
        apiVersion: apiVersionOf(def),
        time: "",
        fieldsType: "FieldsV1",
        fieldsV1: {},
        ...(scope === "status" ? { subresource: "status" } : {}),
      },
      paths: new Map(),
    };
    owners.push(owner);
  }
  owner.entry = { ...owner.entry, apiVersion: apiVersionOf(def), time: rfc3339(now) };
  return owner;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** How the API server names a manager in a conflict (fieldmanager's printManager). */
function describeManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === "Update") s += ` using ${e.apiVersion}${e.time ? ` at ${e.time}` : ""}`;
  return s;
}

/**
 * Records an update (PUT, or a merge/JSON/strategic PATCH) by `manager`: the fields it changed become its own and
 * stop being anyone else's, as the API server's field manager does. Returns `after` with managedFields set.
 */
export function recordUpdate(a: {
  def: KindDef;
  before: ApiObject | undefined;
  after: ApiObject;
  manager: string;
  scope?: Scope;
  now: Date;
}): ApiObject {
  const scope = a.scope ?? "main";
  const owners = ownersOf(a.before);
  const beforePaths = fieldPathsOf(a.def.kind, a.before ?? {});
  const afterPaths = fieldPathsOf(a.def.kind, a.after);
  const changed: FieldPath[] = [];
  for (const [k, p] of afterPaths)
    if (!beforePaths.has(k) || !deepEqual(valueAt(a.before, p), valueAt(a.after, p))) changed.push(p);
  const removed = [...beforePaths].filter(([k]) => !afterPaths.has(k)).map(([, p]) => p);
  const out = structuredClone(a.after);
  if (changed.length > 0 || removed.length > 0) {
    for (const w of owners) for (const p of [...changed, ...removed]) w.paths.delete(pathKey(p));
    const mine = ownerFor(owners, a.def, a.manager, "Update", scope, a.now);
    for (const p of changed) if (inScope(p, scope)) mine.paths.set(pathKey(p), p);
  }
  writeOwners(out, owners);
  return out;
}

/** An applied configuration merged into the live object: keyed lists per element, other lists replaced whole. */
function mergeApplied(kind: string, live: unknown, applied: unknown, path: string): unknown {
  if (isPlainObject(applied) && isPlainObject(live)) {
    const out: Record<string, unknown> = structuredClone(live);
    for (const [k, v] of Object.entries(applied)) {
      const childPath = path ? `${path}.${k}` : k;
      out[k] = mergeApplied(kind, Object.hasOwn(out, k) ? out[k] : undefined, v, childPath);
    }
    return out;
  }
  const key = Array.isArray(applied) ? mergeKeyFor(kind, path) : undefined;
  if (key && Array.isArray(applied) && Array.isArray(live)) {
    const out = structuredClone(live);
    for (const item of applied) {
      const at = isPlainObject(item)
        ? out.findIndex((e) => isPlainObject(e) && deepEqual(e[key], item[key]))
        : -1;
      if (at === -1) out.push(structuredClone(item));
      else out[at] = mergeApplied(kind, out[at], item, path);
    }
    return out;
  }
  return structuredClone(applied);
}

function withoutFields(o: Record<string, unknown>, scope: Scope): Record<string, unknown> {
  const out = structuredClone(o);
  if (scope === "status") return out.status === undefined ? {} : { status: out.status };
  delete out.status;
  return out;
}

/**
 * Server-side apply (`application/apply-patch+yaml`): `applied` is the manager's whole intent. Fields it set
 * before and omits now are removed unless another manager owns them; a field another manager owns with a
 * different value is a conflict (409) unless `force` takes it over.
 */
export function serverSideApply(a: {
  def: KindDef;
  current: ApiObject | undefined;
  applied: ApiObject;
  manager: string;
  force: boolean;
  scope: Scope;
  now: Date;
}): ApiObject {
  const kind = a.def.kind;
  const applied = withoutFields(a.applied, a.scope);
  const owners = ownersOf(a.current);
  const mine = ownerFor(owners, a.def, a.manager, "Apply", a.scope, a.now);
  const wanted = new Map([...fieldPathsOf(kind, applied)].filter(([, p]) => inScope(p, a.scope)));
  const causes: StatusCause[] = [];
  const lines = new Map<string, string[]>();
  for (const [k, p] of wanted) {
    if (p[p.length - 1] === ".") continue;
    for (const other of owners) {
      if (other === mine || !other.paths.has(k)) continue;
      const live = valueAt(a.current, p);
      if (live === undefined || deepEqual(live, valueAt(applied, p))) continue;
      if (a.force) {
        other.paths.delete(k);
        continue;
      }
      const who = describeManager(other.entry);
      causes.push({ reason: "FieldManagerConflict", message: `conflict with ${who}`, field: pathText(p) });
      lines.set(who, [...(lines.get(who) ?? []), pathText(p)]);
    }
  }
  if (causes.length > 0) throw applyConflict(causes, lines);

  const base = structuredClone(a.current ?? { apiVersion: a.applied.apiVersion, kind, metadata: {} });
  const merged = mergeApplied(kind, base, applied, "") as ApiObject;
  const ownedByOthers = (k: string) => owners.some((w) => w !== mine && w.paths.has(k));
  // Whole keyed elements first (removing their fields first would lose the key they are found by), then fields.
  const isElement = (p: FieldPath) => p[p.length - 1] === ".";
  const dropped = [...mine.paths]
    .filter(([k]) => !wanted.has(k))
    .sort(([, x], [, y]) => Number(isElement(y)) - Number(isElement(x)) || x.length - y.length);
  for (const [k, p] of dropped) {
    if (ownedByOthers(k)) continue;
    if (isElement(p)) {
      const prefix = `${pathKey(p.slice(0, -1))}/`;
      if (owners.some((w) => w !== mine && [...w.paths.keys()].some((o) => o.startsWith(prefix)))) continue;
    }
    removePath(merged, p);
  }
  mine.paths = wanted;
  writeOwners(merged, owners);
  return merged;
}

function applyConflict(causes: StatusCause[], lines: Map<string, string[]>): StatusError {
  let message: string;
  if (causes.length === 1)
    message = `Apply failed with 1 conflict: ${causes[0]!.message}: ${causes[0]!.field}`;
  else {
    const parts = [...lines.keys()]
      .sort()
      .flatMap((who) => [`conflicts with ${who}:`, ...lines.get(who)!.map((f) => `- ${f}`)]);
    message = `Apply failed with ${causes.length} conflicts: ${parts.join("\n")}`;
  }
  return new StatusError(409, "Conflict", message, { causes });
}
