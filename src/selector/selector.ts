import { createHash } from "node:crypto";
import { canonicalString, evaluate, type Labels, type SelectorNode } from "./ast.ts";
import { parseSelectorAst } from "./parser.ts";
import { SelectorSyntaxError } from "./tokenizer.ts";

/** A parsed selector: evaluate it against labels, print it canonically, or identify it by a stable hash. */
export class Selector {
  readonly ast: SelectorNode;
  readonly source: string;
  private canonical: string | undefined;

  constructor(source: string, ast: SelectorNode) {
    this.source = source;
    this.ast = ast;
  }

  matches(labels: Labels): boolean {
    return evaluate(this.ast, labels);
  }

  toString(): string {
    this.canonical ??= canonicalString(this.ast);
    return this.canonical;
  }

  /** `s:` + base64url(SHA-224(`s:` + canonical)), as libcalico-go's hash.MakeUniqueID. */
  uniqueId(): string {
    return `s:${createHash("sha224").update(`s:${this.toString()}`).digest("base64url")}`;
  }
}

export interface SelectorParseResult {
  selector?: Selector;
  error?: string;
}

/** Parses without throwing; `error` is a short reason. */
export function tryParseSelector(source: string): SelectorParseResult {
  try {
    return { selector: new Selector(source, parseSelectorAst(source)) };
  } catch (e) {
    if (e instanceof SelectorSyntaxError) return { error: e.message };
    throw e;
  }
}

export function parseSelector(source: string): Selector {
  const r = tryParseSelector(source);
  if (!r.selector) throw new SelectorSyntaxError(`invalid selector ${JSON.stringify(source)}: ${r.error}`);
  return r.selector;
}

export function selectorUsesGlobal(node: SelectorNode): boolean {
  switch (node.op) {
    case "global":
      return true;
    case "not":
      return selectorUsesGlobal(node.operand);
    case "and":
    case "or":
      return node.operands.some(selectorUsesGlobal);
    default:
      return false;
  }
}
