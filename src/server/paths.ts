import type { KindDef } from "../api/index.ts";
import { kindForPlural, kindsInGroupVersion } from "./discovery.ts";

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
 * resource tortie serves (the caller answers 404).
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
  return { def, namespace, name, subresource, watchPrefix };
}

function isNamespaceSubresource(s: string): boolean {
  return s === "status" || s === "finalize";
}
