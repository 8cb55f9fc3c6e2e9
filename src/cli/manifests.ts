import { type ApiObject, type KindDef, type ManifestEntry, prepareObject } from "../api/index.ts";
import { TortieError, ValidationError } from "../lib/index.ts";
import type { ResourceClient } from "../store/index.ts";
import { type CliContext, readManifests } from "./context.ts";

export interface PreparedEntry {
  entry: ManifestEntry;
  def: KindDef;
  object: ApiObject;
}

function pathSegments(path: string): (string | number)[] {
  return path
    .replace(/\[(\d+)\]/g, ".$1")
    .split(".")
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Prefixes an error with the manifest position of the field it is about (or of the document). */
export function locateError(entry: ManifestEntry, e: unknown): unknown {
  if (!(e instanceof TortieError)) return e;
  let pos: { line: number; column?: number } = { line: entry.line };
  if (e instanceof ValidationError && e.problems[0]) {
    const segments = pathSegments(e.problems[0].path);
    for (let n = segments.length; n > 0; n--) {
      const found = entry.locate(segments.slice(0, n));
      if (found) {
        pos = found;
        break;
      }
    }
  }
  const where = `${entry.source}:${pos.line}${pos.column ? `:${pos.column}` : ""}`;
  return new TortieError(e.code, `${where}: ${e.message}`);
}

/**
 * Resolves and validates every document before anything is written, so bad input leaves the store untouched.
 * `accept` may refuse kinds a front-end does not manage (calicoctl takes only Calico kinds).
 */
export function prepareEntries(
  store: ResourceClient,
  entries: ManifestEntry[],
  defaultNamespace: string | undefined,
  accept: (def: KindDef, entry: ManifestEntry) => void = () => {},
): PreparedEntry[] {
  return entries.map((entry) => {
    try {
      const def = store.kindOf(entry.object);
      accept(def, entry);
      const object = structuredClone(entry.object);
      if (def.namespaced) {
        if (defaultNamespace && object.metadata.namespace && object.metadata.namespace !== defaultNamespace)
          throw new TortieError(
            "Invalid",
            `the namespace from the provided object "${object.metadata.namespace}" does not match the namespace "${defaultNamespace}". You must pass '--namespace=${object.metadata.namespace}' to perform this operation.`,
          );
        object.metadata.namespace ??= defaultNamespace ?? "default";
      }
      prepareObject(def, object);
      return { entry, def, object };
    } catch (e) {
      throw locateError(entry, e);
    }
  });
}

/** Reads and validates a whole manifest, then (only then) creates the cluster's built-in namespaces. */
export async function prepareForWrite(
  ctx: CliContext,
  file: string | readonly string[],
  namespace: string | undefined,
  emptyMessage: string,
  accept?: (def: KindDef, entry: ManifestEntry) => void,
): Promise<PreparedEntry[]> {
  const store = ctx.store();
  const entries = readManifests(ctx, file);
  if (entries.length === 0) throw new TortieError("Invalid", emptyMessage);
  const prepared = prepareEntries(store, entries, namespace, accept);
  await store.ensureBuiltIns();
  return prepared;
}

export interface DeleteTarget {
  def: KindDef;
  name: string;
  namespace?: string;
}

/** `delete -f FILE`: the objects a manifest names, validated like any other input. */
export function deleteTargetsFromFile(
  ctx: CliContext,
  file: string | readonly string[],
  namespace: string | undefined,
): DeleteTarget[] {
  return prepareEntries(ctx.store(), readManifests(ctx, file), namespace).map(({ def, object }) => ({
    def,
    name: object.metadata.name!,
    namespace: object.metadata.namespace,
  }));
}
