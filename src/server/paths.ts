import type { KindDef } from "../api/index.ts";
import { kindForPlural, kindsInGroupVersion } from "./discovery.ts";
import { badRequest } from "./status.ts";

/** One resource URL, taken apart: `/api/v1/namespaces/ns/pods/name/status`, `/apis/apps/v1/watch/deployments`. */
export interface ResourcePath {
  def: KindDef;
  /** Set for a namespaced request; undefined for a cluster-scoped kind or an all-namespaces list. */
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy `/watch/` prefix. */
  watchPrefix: boolean;
}

/**
 * The path of a request line's target exactly as the client sent it (`req.url`, before any URL parser resolves
 * dot segments or turns `\` into `/`), without its query.
 */
export function rawPathname(target: string): string {
  const path = target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  const query = path.indexOf("?");
  return query < 0 ? path : path.slice(0, query);
}

/** Whether a URL parser would resolve part of this raw path away: a `.` or `..` segment, spelled in any way. */
export function hasDotSegment(rawPath: string): boolean {
  return rawPath.split(/[/\\]/).some((s) => {
    const decoded = s.replace(/%2e/gi, ".");
    return decoded === "." || decoded === "..";
  });
}

/** A path's segments, each percent-decoded; undefined when one is malformed. */
function segmentsOf(pathname: string): string[] | undefined {
  try {
    return pathname
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/**
 * Resolves a resource URL to its kind, namespace, name and subresource; undefined when the path names no
 * resource tortie serves (the caller answers 404). `pathname` must be the path as the client sent it, not one a
 * URL parser normalized: that resolves `%2E%2E` segments, so `configmaps/%2E%2E` would address the namespace.
 * Throws a 400 StatusError for a name or namespace that is not one path segment.
 */
export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const segs = segmentsOf(pathname);
  if (!segs) return undefined;
  let group: string;
  let rest: string[];
  if (segs[0] === "api" && segs[1] === "v1") {
    group = "";
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs.length >= 3) {
    group = segs[1]!;
    rest = segs.slice(2);
  } else return undefined;
  const version = group === "" ? "v1" : rest.shift();
  if (!version || !kindsInGroupVersion(group, version)) return undefined;
  const watchPrefix = rest[0] === "watch";
  if (watchPrefix) rest.shift();

  let namespace: string | undefined;
  // `namespaces/<ns>/<plural>…` is a namespaced resource; `namespaces`, `namespaces/<name>` and
  // `namespaces/<name>/status` address Namespace objects themselves.
  if (
    rest[0] === "namespaces" &&
    rest.length >= 3 &&
    !(rest.length === 3 && isNamespaceSubresource(rest[2]!))
  ) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  if (!plural || extra.length > 0) return undefined;
  const def = kindForPlural(group, version, plural);
  if (!def) return undefined;
  if (namespace !== undefined && !def.namespaced) return undefined;
  if (watchPrefix && subresource !== undefined) return undefined;
  if (namespace !== undefined) checkPathSegment("Namespace", namespace);
  // `namespaces/<name>` names a Namespace: its name is the one checked.
  if (name !== undefined) checkPathSegment("Name", name);
  return { def, namespace, name, subresource, watchPrefix };
}

/**
 * A name or namespace taken from the path must address exactly one object: the API server's key functions
 * refuse `.`, `..` and names containing `/` or `%` (apimachinery path.IsValidPathSegmentName, worded by the
 * registry store's NamespaceKeyFunc: `Name parameter invalid: "..": may not be '..'`). The namespace gets the
 * same words with its own subject, so `namespaces/%2E%2E/configmaps` never lists every namespace.
 */
function checkPathSegment(subject: "Name" | "Namespace", value: string): void {
  const problems =
    value === "." || value === ".."
      ? [`may not be '${value}'`]
      : ["/", "%"].filter((c) => value.includes(c)).map((c) => `may not contain '${c}'`);
  if (problems.length > 0)
    throw badRequest(`${subject} parameter invalid: ${JSON.stringify(value)}: ${problems.join(";")}`);
}

function isNamespaceSubresource(s: string): boolean {
  return s === "status" || s === "finalize";
}
