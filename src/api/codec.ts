import { isMap, isSeq, LineCounter, stringify } from "yaml";
import { isPlainObject, MAX_REQUEST_BYTES, ParseError, requestTooLargeMessage } from "../lib/index.ts";
import type { ApiObject } from "./object.ts";
import {
  checkAliasWork,
  checkKeys,
  checkPlainData,
  documentToJs,
  jsonOver,
  parseDocumentsBounded,
} from "./yaml-guard.ts";

/** One resource read from a manifest, with enough context to point at the line a problem came from. */
export interface ManifestEntry {
  object: ApiObject;
  source: string;
  /** 1-based line of the document (or list item) the object came from. */
  line: number;
  /** Line:column of a field inside this object, e.g. ["spec", "cidr"], when it can be found. */
  locate(path: readonly (string | number)[]): { line: number; column: number } | undefined;
}

function objectsOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (
    isPlainObject(value) &&
    typeof value.kind === "string" &&
    value.kind.endsWith("List") &&
    Array.isArray(value.items)
  )
    return value.items;
  return [value];
}

/**
 * Parses multi-document YAML or JSON (JSON is YAML 1.2), expanding `kind: List` and top-level sequences.
 * Every error names `source:line:column`. The input's size, documents, depth and aliases are bounded
 * (lib/limits.ts, yaml-guard.ts), and so is each object's size as a request.
 */
export function parseManifests(text: string, source: string): ManifestEntry[] {
  const lineCounter = new LineCounter();
  const docList = parseDocumentsBounded(text, source, lineCounter);
  const out: ManifestEntry[] = [];
  for (const doc of docList) {
    const err = doc.errors[0];
    if (err) {
      const pos = lineCounter.linePos(err.pos[0]);
      throw new ParseError(source, `invalid YAML: ${err.message.split("\n")[0]}`, pos.line, pos.col);
    }
    const docLine = lineCounter.linePos(doc.range[0]).line;
    checkAliasWork(doc, source, docLine);
    checkKeys(doc, source, lineCounter);
    const value = documentToJs(doc, source, docLine);
    checkPlainData(value, (m) => new ParseError(source, `invalid YAML: ${m}`, docLine));
    if (value === null || value === undefined) continue;
    const contents = doc.contents;
    const items = objectsOf(value);
    const nodes =
      items === value && isSeq(contents)
        ? contents.items
        : isMap(contents) && Array.isArray((value as { items?: unknown }).items) && items !== value
          ? (contents.get("items", true) as { items?: unknown[] } | undefined)?.items
          : [contents];
    items.forEach((item, index) => {
      const node = (nodes?.[index] ?? contents) as { range?: [number, number, number] } | null;
      const start = node?.range?.[0] ?? 0;
      const line = lineCounter.linePos(start).line;
      if (!isPlainObject(item))
        throw new ParseError(source, "expected a resource (a mapping with apiVersion and kind)", line);
      if (typeof item.apiVersion !== "string" || item.apiVersion === "")
        throw new ParseError(source, "resource has no apiVersion", line);
      if (typeof item.kind !== "string" || item.kind === "")
        throw new ParseError(source, "resource has no kind", line);
      if (item.metadata !== undefined && !isPlainObject(item.metadata))
        throw new ParseError(source, "metadata must be a mapping", line);
      const object = { ...item, metadata: (item.metadata ?? {}) as ApiObject["metadata"] } as ApiObject;
      // kubectl sends each object as its own request, so the API server's body limit applies per object.
      if (jsonOver(object, MAX_REQUEST_BYTES)) throw new ParseError(source, requestTooLargeMessage(), line);
      out.push({
        object,
        source,
        line,
        locate(path) {
          const base = isSeq(contents) || items !== value ? node : contents;
          let cur: unknown = base;
          for (const key of path) {
            if (isMap(cur) || isSeq(cur))
              cur = (cur as { get(k: unknown, keep: boolean): unknown }).get(key, true);
            else return undefined;
          }
          const range = (cur as { range?: [number, number, number] } | undefined)?.range;
          if (!range) return undefined;
          const pos = lineCounter.linePos(range[0]);
          return { line: pos.line, column: pos.col };
        },
      });
    });
  }
  return out;
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = sortKeysDeep(v[k]);
    return out;
  }
  return v;
}

/**
 * YAML as kubectl and calicoctl print it: keys sorted (they marshal through JSON maps), sequences not indented
 * under their key, no line folding, and YAML 1.1 quoting (so "446283" and timestamps stay strings).
 */
export function toYaml(value: unknown): string {
  return stringify(sortKeysDeep(value), {
    version: "1.1",
    indentSeq: false,
    lineWidth: 0,
    minContentWidth: 0,
  });
}

/** JSON with sorted keys, as kubectl prints it (4-space indent) or calicoctl (2-space). */
export function toJson(value: unknown, indent: number): string {
  return JSON.stringify(sortKeysDeep(value), null, indent);
}

export { sortKeysDeep };
