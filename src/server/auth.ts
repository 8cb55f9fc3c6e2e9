import { createHash, timingSafeEqual } from "node:crypto";
import { StatusError } from "./status.ts";

/** The API server's 401 for a request without valid credentials. */
export function unauthorized(): StatusError {
  return new StatusError(401, "Unauthorized", "Unauthorized");
}

/**
 * Whether an `Authorization` header carries the server's bearer token. Both sides are hashed first so the
 * comparison takes the same time whatever the given token's length or content.
 */
export function hasValidToken(header: string | null | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}
