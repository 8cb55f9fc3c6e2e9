import type { ApiObject, KindDef } from "../api/index.ts";
import { isTortieError } from "../lib/index.ts";
import { parseLabelSelector } from "../selector/index.ts";
import { badRequest } from "./status.ts";

/** Which objects a list or watch returns: `labelSelector` and `fieldSelector` together. */
export type ObjectFilter = (o: ApiObject) => boolean;

/** A field's value as the API server's field label conversion gives it (strings; booleans as "true"/"false"). */
type FieldGetter = (o: ApiObject) => string | undefined;

const str = (v: unknown): string | undefined =>
  v === undefined || v === null ? "" : typeof v === "string" ? v : String(v);

const metadataFields: Record<string, FieldGetter> = {
  "metadata.name": (o) => o.metadata.name ?? "",
  "metadata.namespace": (o) => o.metadata.namespace ?? "",
};

/**
 * Field selectors each kind supports, as the API server registers them (pkg/registry/<kind>/strategy.go
 * `ToSelectableFields` and the field label conversion funcs); every kind has metadata.name and metadata.namespace.
 */
const kindFields: Record<string, Record<string, FieldGetter>> = {
  "/Pod": {
    "spec.nodeName": (o) => str(o.spec?.nodeName),
    "spec.restartPolicy": (o) => str(o.spec?.restartPolicy),
    "spec.schedulerName": (o) => str(o.spec?.schedulerName),
    "spec.serviceAccountName": (o) => str(o.spec?.serviceAccountName),
    "spec.hostNetwork": (o) => String(o.spec?.hostNetwork === true),
    "status.phase": (o) => str(o.status?.phase),
    "status.podIP": (o) => str(o.status?.podIP),
    "status.nominatedNodeName": (o) => str(o.status?.nominatedNodeName),
  },
  "/Node": { "spec.unschedulable": (o) => String(o.spec?.unschedulable === true) },
  "/Namespace": { "status.phase": (o) => str(o.status?.phase) },
  "/Secret": { type: (o) => str((o as { type?: unknown }).type) },
  "apps/ReplicaSet": { "status.replicas": (o) => String(o.status?.replicas ?? 0) },
  "/Event": {
    "involvedObject.kind": (o) => str((o as { involvedObject?: { kind?: unknown } }).involvedObject?.kind),
    "involvedObject.namespace": (o) =>
      str((o as { involvedObject?: { namespace?: unknown } }).involvedObject?.namespace),
    "involvedObject.name": (o) => str((o as { involvedObject?: { name?: unknown } }).involvedObject?.name),
    "involvedObject.uid": (o) => str((o as { involvedObject?: { uid?: unknown } }).involvedObject?.uid),
    "involvedObject.apiVersion": (o) =>
      str((o as { involvedObject?: { apiVersion?: unknown } }).involvedObject?.apiVersion),
    "involvedObject.resourceVersion": (o) =>
      str((o as { involvedObject?: { resourceVersion?: unknown } }).involvedObject?.resourceVersion),
    "involvedObject.fieldPath": (o) =>
      str((o as { involvedObject?: { fieldPath?: unknown } }).involvedObject?.fieldPath),
    reason: (o) => str((o as { reason?: unknown }).reason),
    source: (o) => str((o as { source?: { component?: unknown } }).source?.component),
    type: (o) => str((o as { type?: unknown }).type),
  },
};

/**
 * The API server's field selector (apimachinery fields.ParseSelector): `f=v`, `f==v`, `f!=v`, comma-separated,
 * on the fields the kind supports. An unsupported field is 400 with the API server's message.
 */
export function parseFieldSelector(def: KindDef, text: string): ObjectFilter {
  if (text.trim() === "") return () => true;
  const supported = { ...metadataFields, ...(kindFields[`${def.group}/${def.kind}`] ?? {}) };
  const tests = text.split(",").map((raw) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(raw);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${raw}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get = Object.hasOwn(supported, field) ? supported[field] : undefined;
    // kubectl adds `Unable to find "<resource>" that match label selector …:` in front of this itself.
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return op === "!=" ? (o: ApiObject) => get(o) !== value : (o: ApiObject) => get(o) === value;
  });
  return (o) => tests.every((t) => t(o));
}

/** The list/watch filter of a request's query, or 400 for a malformed selector. */
export function filterFromQuery(def: KindDef, query: URLSearchParams): ObjectFilter {
  let labels: ReturnType<typeof parseLabelSelector>;
  try {
    labels = parseLabelSelector(query.get("labelSelector") ?? "");
  } catch (e) {
    throw isTortieError(e) ? badRequest(e.message) : e;
  }
  const fields = parseFieldSelector(def, query.get("fieldSelector") ?? "");
  return (o) => labels(o.metadata.labels) && fields(o);
}
