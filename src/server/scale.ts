import type { ApiObject, KindDef } from "../api/index.ts";

/** The label selector of a workload as the Scale subresource's `status.selector` string carries it. */
function selectorString(sel: unknown): string {
  if (!sel || typeof sel !== "object") return "";
  const s = sel as {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
  // A plain map (a ReplicationController's selector) has neither field: treat it as matchLabels.
  const labels = s.matchLabels ?? (s.matchExpressions ? {} : (sel as Record<string, string>));
  const parts: [key: string, text: string][] = Object.entries(labels).map(([k, v]) => [k, `${k}=${v}`]);
  for (const e of s.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(",");
    if (e.operator === "Exists") parts.push([e.key, e.key]);
    else if (e.operator === "DoesNotExist") parts.push([e.key, `!${e.key}`]);
    else if (e.operator === "In") parts.push([e.key, `${e.key} in (${values})`]);
    else if (e.operator === "NotIn") parts.push([e.key, `${e.key} notin (${values})`]);
  }
  // labels.Selector.String(): requirements sorted by key.
  parts.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return parts.map(([, text]) => text).join(",");
}

/**
 * A workload's `scale` subresource: autoscaling/v1 Scale, named and versioned as its object (so an update of the
 * Scale conflicts like an update of the object would).
 */
export function toScale(def: KindDef, o: ApiObject): object {
  const metadata: Record<string, unknown> = {
    name: o.metadata.name,
    namespace: def.namespaced ? o.metadata.namespace : undefined,
    uid: o.metadata.uid,
    resourceVersion: o.metadata.resourceVersion,
    creationTimestamp: o.metadata.creationTimestamp,
  };
  for (const k of Object.keys(metadata)) if (metadata[k] === undefined) delete metadata[k];
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata,
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector: selectorString(o.spec?.selector) },
  };
}

/** The object with `spec.replicas` set, as writing a Scale does; the input is not changed. */
export function withReplicas(o: ApiObject, replicas: number): ApiObject {
  return { ...o, spec: { ...(o.spec ?? {}), replicas } };
}
