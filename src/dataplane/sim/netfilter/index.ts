/**
 * The sim's iptables: `Netfilter` restores, traverses, lists and saves the four tables of one namespace.
 *
 * Counters without save text: `nf.countedRules()` lists only the rules (and built-in chain policies) whose
 * counters are not zero, each keyed by (table, chain, `iptables -S` text, occurrence of that text in the
 * chain; `text` undefined for a policy); `nf.setCounters(table, chain, keys)` puts them back after the same
 * ruleset is restored again. Rule text is computed (and then kept on the rule) only for chains with counts.
 */
export type { CounterEntry, CounterKey } from "./counters.ts";
export { MATCH_EXTENSIONS, quoteArg, RuleSyntaxError } from "./extensions.ts";
export * from "./packet.ts";
export { clearRuleMemo, parseRule, parseRuleText, type Rule, ruleSaveText, splitWords } from "./rule.ts";
export {
  type Chain,
  type Hook,
  Netfilter,
  RestoreError,
  type RuleHit,
  TABLE_HOOKS,
  type TableName,
  type TraversalResult,
} from "./tables.ts";
export type { TargetAction } from "./targets.ts";
