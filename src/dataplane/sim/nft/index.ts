export { formatDuration, parseDuration } from "./datatypes.ts";
export { traverseHook } from "./hooks.ts";
export { NftError } from "./lexer.ts";
export {
  counterEntries,
  formatChain,
  formatRuleset,
  formatSet,
  formatTable,
  priorityText,
  ruleText,
} from "./list.ts";
export type { NftChain, NftRule, NftSet, NftTable } from "./model.ts";
export { Nftables, NftLoadError } from "./ruleset.ts";
