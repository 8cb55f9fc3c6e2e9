import { type ApiObject, type KindDef, parseManifests, prepareObject } from "../api/index.ts";
import { isPlainObject, MAX_REQUEST_BYTES, requestTooLargeMessage, ValidationError } from "../lib/index.ts";
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from "./protobuf.ts";
import { badRequest, StatusError } from "./status.ts";

/** A request body as text, refused past the API server's 3 MiB with its 413 message. */
export async function readBodyText(request: Request): Promise<string> {
  return (await readBodyBytes(request)).toString("utf8");
}

/** A request body's bytes, refused past the API server's 3 MiB with its 413 message. */
export function readBodyBytes(request: Request): Promise<Buffer> {
  return readBounded(
    request,
    MAX_REQUEST_BYTES,
    () => new StatusError(413, "RequestEntityTooLarge", requestTooLargeMessage()),
  );
}

/** A body's bytes, refused with `tooLarge()` past `limit` bytes: by its Content-Length, or before it is all read. */
export async function readBounded(request: Request, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooLarge();
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** A create/update request's object: JSON, YAML, or (from client-go's typed clients) protobuf. */
export async function readRequestObject(request: Request): Promise<Record<string, unknown>> {
  const contentType = request.headers.get("content-type") ?? "";
  // No Content-Type is JSON, the first serializer, as the API server's NegotiateInputSerializer takes it.
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase() || "application/json";
  if (!BODY_MEDIA_TYPES.includes(mediaType))
    throw new StatusError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${BODY_MEDIA_TYPES.join(", ")}`,
    );
  const bytes = await readBodyBytes(request);
  if (mediaType === PROTOBUF_CONTENT_TYPE) return decodeProtobufObject(bytes);
  return decodeObject(bytes.toString("utf8"), mediaType);
}

/** The media types a create or update body may have, in the API server's order. */
const BODY_MEDIA_TYPES = ["application/json", "application/yaml", PROTOBUF_CONTENT_TYPE];

/** One object from a create/update body: JSON, or YAML (`application/yaml`) through api's guarded codec. */
export function decodeObject(text: string, contentType: string): Record<string, unknown> {
  let value: unknown;
  if (/^application\/yaml\b/i.test(contentType)) {
    const entries = parseManifests(text, "request body");
    if (entries.length !== 1)
      throw badRequest(`the request body must hold one object, not ${entries.length}`);
    value = entries[0]!.object;
  } else {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isPlainObject(value)) throw badRequest("the request body must be a JSON object");
  return value as Record<string, unknown>;
}

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export function fieldValidationOf(query: URLSearchParams): FieldValidation {
  const v = query.get("fieldValidation") ?? "Strict";
  if (v === "" || v === "Strict") return "Strict";
  if (v === "Warn" || v === "Ignore") return v;
  throw badRequest(`fieldValidation parameter unsupported: ${v}`);
}

/** `spec.containers[0].bogus` → ["spec", "containers", 0, "bogus"]. */
function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split(".")) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return [];
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

function removeAt(o: unknown, path: (string | number)[]): void {
  let cur = o as Record<string | number, unknown> | undefined;
  for (const seg of path.slice(0, -1)) {
    cur = cur?.[seg] as Record<string | number, unknown> | undefined;
    if (!cur || typeof cur !== "object") return;
  }
  if (cur && typeof cur === "object") delete cur[path[path.length - 1]!];
}

/**
 * tortie's schemas refuse unknown fields; the API server's `fieldValidation` says what to do with them. Strict:
 * 400, in its words (`strict decoding error: unknown field "spec.x"`). Warn: drop them and warn. Ignore: drop
 * them. Other problems are left for the store, which reports them as Invalid (422).
 */
export function applyFieldValidation(
  def: KindDef,
  o: ApiObject,
  mode: FieldValidation,
): { object: ApiObject; warnings: string[] } {
  let unknown: string[] = [];
  try {
    prepareObject(def, o);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    unknown = e.problems.filter((p) => p.message === "unknown field").map((p) => p.path);
  }
  if (unknown.length === 0) return { object: o, warnings: [] };
  const texts = unknown.map((p) => `unknown field "${p}"`);
  if (mode === "Strict")
    throw badRequest(
      `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${texts.join(", ")}`,
    );
  const cleaned = structuredClone(o);
  for (const p of unknown) removeAt(cleaned, pathSegments(p));
  return { object: cleaned, warnings: mode === "Warn" ? texts : [] };
}

/** A `Warning` header value (RFC 7234 299), as the API server sends field validation warnings. */
export function warningHeader(text: string): string {
  return `299 - ${JSON.stringify(text)}`;
}
