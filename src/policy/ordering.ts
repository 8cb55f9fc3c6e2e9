/** Felix's policy_sorter: how tiers and the policies inside a tier are ordered. */
import type { Policy, Tier } from "./model.ts";

function compareOrder(a: number | undefined, b: number | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a - b;
}

const lexical = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** TierLess: existing tiers first, then order (unset last), then name. */
export function sortTiers(tiers: Tier[]): Tier[] {
  return [...tiers].sort(
    (a, b) =>
      Number(b.exists) - Number(a.exists) || compareOrder(a.order, b.order) || lexical(a.name, b.name),
  );
}

/** v3.31's tie-break key: the v1 name, `<namespace>/<name>` for namespaced policies. */
export function policyKey(p: Policy): string {
  return p.namespace ? `${p.namespace}/${p.name}` : p.name;
}

/** PolKVLess: order ascending (unset = +∞), ties by the v1 name. */
export function sortPolicies(policies: Policy[]): Policy[] {
  return [...policies].sort((a, b) => compareOrder(a.order, b.order) || lexical(policyKey(a), policyKey(b)));
}
