import { crc32 } from "node:zlib";
import { TortieError } from "../lib/index.ts";

/**
 * The on-disk formats of the file store, and how each piece is checked when read.
 *
 * A *sealed* JSON object carries a CRC-32 of its own text as its last field: `{...,"s":"1a2b3c4d"}`. The
 * checksum covers the UTF-8 bytes of the object without that field (the same text with `,"s":"…"` removed),
 * so a line stays one JSON object (greppable, readable by `jq`) and verifying it needs no re-serialisation.
 *
 * Log format 2 (`{"base":N,"format":2}` header): every record is sealed. Log format 1 (`{"base":N}`, written
 * by tortie before checksums): records may be unsealed; tortie keeps appending to such a log, sealing each new
 * record, and starts a format-2 log at its next compaction. Once a sealed record appears in a format-1 log, every
 * later one must be sealed too. Snapshot format 2 is sealed; format 1 is not.
 */

/** `,"s":"xxxxxxxx"}`: the seal's fixed-length tail. */
const SEAL_LENGTH = 16;
const SEAL_RE = /^,"s":"([0-9a-f]{8})"\}$/;

const LOG_FORMAT = 2;
const SNAPSHOT_FORMAT = 2;

/** How to get out of a damaged store; ends every refusal. */
export const RECOVERY =
  "nothing was changed; restore a backup with `tortie store restore FILE`, or move the state dir aside";

function checksum(text: string): string {
  return crc32(text).toString(16).padStart(8, "0");
}

/** Appends the seal to the JSON text of an object (which must end with `}` and have at least one field). */
export function seal(json: string): string {
  return `${json.slice(0, -1)},"s":"${checksum(json)}"}`;
}

export type Opened = { ok: true; value: unknown; sealed: boolean } | { ok: false; why: string };

/** Parses one line (or file), checking its seal when it has one. */
export function openSealed(data: Buffer): Opened {
  // Only the fixed-length tail is looked at (a snapshot is one long line), and the checksum is computed over the
  // bytes before the seal plus the closing brace, without copying them.
  const m =
    data.length > SEAL_LENGTH ? SEAL_RE.exec(data.toString("latin1", data.length - SEAL_LENGTH)) : null;
  if (m) {
    const want = crc32("}", crc32(data.subarray(0, -SEAL_LENGTH)))
      .toString(16)
      .padStart(8, "0");
    if (want !== m[1]) return { ok: false, why: `checksum mismatch (stored ${m[1]}, computed ${want})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(data.toString("utf8"));
  } catch (e) {
    return { ok: false, why: `not valid JSON (${(e as Error).message})` };
  }
  if (m) delete (value as { s?: unknown }).s;
  return { ok: true, value, sealed: m !== null };
}

/** One write in the log. `c` is the key's create revision (puts only). */
export interface LogRecord {
  r: number;
  t: "put" | "delete";
  k: string;
  v?: unknown;
  c?: number;
}

export interface LogHeader {
  base: number;
  format: 1 | 2;
}

export function encodeHeader(base: number): string {
  return `${JSON.stringify({ base, format: LOG_FORMAT })}\n`;
}

export function encodeRecord(rec: LogRecord): string {
  return `${seal(JSON.stringify(rec))}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isRevision = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Checks a header line's shape; returns the header or why not. */
export function checkHeader(value: unknown): LogHeader | string {
  if (!isObject(value) || !("base" in value)) return 'the first line is not a header ({"base":N,"format":2})';
  for (const k of Object.keys(value))
    if (k !== "base" && k !== "format") return `the header has an unknown field "${k}"`;
  if (!isRevision(value.base)) return "the header's base is not a revision number";
  if (value.format !== undefined && value.format !== 2)
    return `unknown log format ${JSON.stringify(value.format)}`;
  return { base: value.base, format: value.format === 2 ? 2 : 1 };
}

/** Checks a record's shape and that it is the revision that must come next; returns the record or why not. */
export function checkRecord(value: unknown, expectedRevision: number): LogRecord | string {
  if (!isObject(value)) return "the record is not a JSON object";
  for (const k of Object.keys(value))
    if (k !== "r" && k !== "t" && k !== "k" && k !== "v" && k !== "c")
      return `the record has an unknown field "${k}"`;
  const { r, t, k, c } = value;
  if (!isRevision(r) || r === 0) return "the record's revision is not a revision number";
  if (r !== expectedRevision)
    return r < expectedRevision
      ? `revision ${r} is not after the previous record's ${expectedRevision - 1}`
      : `revision ${r} skips ${expectedRevision === r - 1 ? `revision ${expectedRevision}` : `revisions ${expectedRevision}–${r - 1}`}`;
  if (t !== "put" && t !== "delete")
    return `the record's type is ${JSON.stringify(t)}, not "put" or "delete"`;
  if (typeof k !== "string" || k === "") return "the record's key is not a non-empty string";
  if (t === "put") {
    if (!("v" in value)) return "the put record has no value";
    if (c !== undefined && (!isRevision(c) || c === 0 || c > r))
      return "the record's create revision is not a revision number up to its own";
  } else if ("v" in value || "c" in value) return "the delete record carries a value";
  return value as unknown as LogRecord;
}

export interface Snapshot {
  format: 1 | 2;
  revision: number;
  /** [key, createRevision, modRevision, value] */
  entries: [string, number, number, unknown][];
}

/** The sealed snapshot's bytes (built as a Buffer: a snapshot can be tens of MB, and is checksummed once). */
export function encodeSnapshot(revision: number, entries: Snapshot["entries"]): Buffer {
  const json = Buffer.from(JSON.stringify({ format: SNAPSHOT_FORMAT, revision, entries }));
  const tail = Buffer.from(`,"s":"${crc32(json).toString(16).padStart(8, "0")}"}`);
  return Buffer.concat([json.subarray(0, -1), tail]);
}

/** Parses and checks a snapshot file's text; throws one line naming the file and the problem. */
export function decodeSnapshot(
  text: Buffer,
  path: string,
  what: "snapshot" | "backup" = "snapshot",
): Snapshot {
  const bad = (why: string) =>
    new TortieError(
      "Internal",
      what === "snapshot"
        ? `store snapshot ${path} is damaged: ${why}; ${RECOVERY}`
        : `backup ${path} is damaged: ${why}; it cannot be restored, and nothing was changed`,
    );
  if (text.length === 0) throw bad("the file is empty");
  const opened = openSealed(text);
  if (!opened.ok) throw bad(opened.why);
  const snap = opened.value;
  if (!isObject(snap)) throw bad("it is not a JSON object");
  if (snap.format !== 1 && snap.format !== 2)
    throw bad(`unknown snapshot format ${JSON.stringify(snap.format)}`);
  if (snap.format === 2 && !opened.sealed) throw bad("it has no checksum");
  if (!isRevision(snap.revision)) throw bad("its revision is not a revision number");
  if (!Array.isArray(snap.entries)) throw bad("its entries are not an array");
  const seen = new Set<string>();
  const revision = snap.revision;
  snap.entries.forEach((e: unknown, i: number) => {
    if (!Array.isArray(e) || e.length !== 4)
      throw bad(`entry ${i} is not [key, createRevision, modRevision, value]`);
    const [key, c, m] = e as unknown[];
    if (typeof key !== "string" || key === "") throw bad(`entry ${i}'s key is not a non-empty string`);
    if (!isRevision(c) || !isRevision(m) || c === 0 || c > m || m > revision)
      throw bad(
        `entry ${i} (${key}) has revisions ${JSON.stringify(c)}/${JSON.stringify(m)} outside 1–${revision}`,
      );
    if (seen.has(key)) throw bad(`key ${key} appears twice`);
    seen.add(key);
  });
  return snap as unknown as Snapshot;
}
