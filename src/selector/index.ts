export type { Labels, SelectorNode } from "./ast.ts";
export { canonicalString, evaluate } from "./ast.ts";
export { LabelIndex } from "./label-index.ts";
export { withLabelPrefix } from "./label-prefix.ts";
export { parseLabelSelector } from "./label-selector-text.ts";
export {
  parseSelector,
  Selector,
  type SelectorParseResult,
  selectorUsesGlobal,
  tryParseSelector,
} from "./selector.ts";
export { MAX_LABEL_LENGTH, SelectorSyntaxError, tokenize } from "./tokenizer.ts";
