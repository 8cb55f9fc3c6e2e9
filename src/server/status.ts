import type { KindDef } from "../api/index.ts";
import { TortieError, ValidationError } from "../lib/index.ts";
import { ResourceError } from "../store/index.ts";

/** The API server's `Status` reasons (apimachinery metav1.StatusReason) tortie answers with. */
export type StatusReason =
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Invalid"
  | "BadRequest"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "UnsupportedMediaType"
  | "RequestEntityTooLarge"
  | "Expired"
  | "Gone"
  | "ServiceUnavailable"
  | "InternalError";

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** A failure as the API server writes it: a `Status` object with its HTTP code. */
export class StatusError extends Error {
  readonly code: number;
  readonly reason: StatusReason;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: StatusReason, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

export function statusBody(e: StatusError): object {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: e.message,
    reason: e.reason,
    ...(e.details ? { details: e.details } : {}),
    code: e.code,
  };
}

export function notFoundPath(): StatusError {
  return new StatusError(404, "NotFound", "the server could not find the requested resource");
}

export function badRequest(message: string): StatusError {
  return new StatusError(400, "BadRequest", message);
}

/** `the server does not allow this method on the requested resource`, the API server's 405. */
export function methodNotAllowed(): StatusError {
  return new StatusError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
  );
}

const CODE_OF: Record<string, [number, StatusReason]> = {
  NotFound: [404, "NotFound"],
  AlreadyExists: [409, "AlreadyExists"],
  Conflict: [409, "Conflict"],
  Invalid: [422, "Invalid"],
  Parse: [400, "BadRequest"],
  Usage: [400, "BadRequest"],
  Unsupported: [405, "MethodNotAllowed"],
  Compacted: [410, "Expired"],
  Locked: [500, "InternalError"],
  Unavailable: [503, "ServiceUnavailable"],
  Internal: [500, "InternalError"],
};

function detailsFor(def: KindDef, name: string | undefined): StatusDetails {
  return { ...(name !== undefined ? { name } : {}), group: def.group, kind: def.plural };
}

/**
 * Any error a handler throws, as a Status. tortie's typed errors carry the API server's messages already (the
 * store words NotFound/Conflict/AlreadyExists as it does, and `tortie kubectl` prints the same text); anything
 * else is an internal error whose message, never its stack, is returned.
 */
export function toStatusError(e: unknown, subject?: { def: KindDef; name?: string }): StatusError {
  if (e instanceof StatusError) return e;
  if (e instanceof TortieError) {
    const [code, reason] = CODE_OF[e.code] ?? [500, "InternalError"];
    const about = e instanceof ResourceError ? { def: e.subject.def, name: e.subject.name } : subject;
    const details: StatusDetails | undefined = about ? detailsFor(about.def, about.name) : undefined;
    if (e instanceof ValidationError) {
      const causes = e.problems.map((p) => ({
        reason: p.message.startsWith("Required value") ? "FieldValueRequired" : "FieldValueInvalid",
        message: p.message,
        field: p.path,
      }));
      return new StatusError(code, reason, e.message, { ...details, causes });
    }
    return new StatusError(code, reason, e.message, details);
  }
  const message = e instanceof Error ? e.message : String(e);
  const internal = new StatusError(500, "InternalError", `Internal error occurred: ${message}`);
  // Kept for the server's log, which shows an unexpected error's stack (app.ts); the client gets the message.
  internal.cause = e;
  return internal;
}
