import type { ApiObject } from "../api/index.ts";

/** Whether `o.status.conditions` has `type` (case-insensitive, as kubectl wait matches) with status True. */
export function conditionIsTrue(o: ApiObject | undefined, type: string): boolean {
  const want = type.toLowerCase();
  return ((o?.status?.conditions ?? []) as { type: string; status: string }[]).some(
    (c) => c.type.toLowerCase() === want && c.status === "True",
  );
}
