export { MATCH_EXTENSIONS, quoteArg, RuleSyntaxError } from "./extensions.ts";
export * from "./packet.ts";
export { parseRule, type Rule, ruleSaveText, splitWords } from "./rule.ts";
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
