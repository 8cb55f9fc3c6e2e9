/** metav1.LabelSelector matching (matchLabels and matchExpressions), as Deployments and ReplicaSets use it. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function matchesLabelSelector(
  sel: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    if (e.operator === "In" && !inValues) return false;
    if (e.operator === "NotIn" && inValues) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/** A Service's selector: every key present with the given value (an empty selector selects nothing here). */
export function matchesMap(sel: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(sel ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}
