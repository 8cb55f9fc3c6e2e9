/**
 * What the filter compiler knows while it reads a configuration: the global symbols (functions, filters,
 * constants, protocol and template names), the variables of the function or filter being compiled, and
 * the reserved words. The protocol parser shares the same scope, so a protocol cannot take a filter's name.
 */
import type { CExpr, Ctx, VType } from "./filter-runtime.ts";
import type { Token, TokenStream } from "./lexer.ts";
import type { BirdDialect, BirdFilter, FilterDecision } from "./types.ts";

/** A function's parameter or local variable: one storage cell, as BIRD keeps it on the symbol. */
export interface Variable {
  name: string;
  type: VType;
  /** For a `set` variable: its element type. */
  elem?: VType;
  value: unknown;
}

export type Outcome = FilterDecision | undefined;
export type St = (c: Ctx) => Outcome;

/** Returned by a body that executed `return`; the value is in `Ctx.ret`. */
export const RETURNED: FilterDecision = { accepted: false, file: "", line: 0, text: "return" };

export interface FunctionDef {
  name: string;
  params: Variable[];
  /** Undefined while the body is being compiled. */
  body?: St;
  /** The type of its `return` values; "void" when it returns none. */
  returnType?: VType;
  at: Token;
}

export type Symbol =
  | { kind: "function"; def: FunctionDef }
  | { kind: "filter"; filter: BirdFilter }
  | { kind: "constant"; expr: CExpr }
  | { kind: "protocol" }
  | { kind: "template" };

export interface Scope {
  dialect: BirdDialect;
  ts: TokenStream;
  globals: Map<string, Symbol>;
  /** Variables of the function or filter being compiled. */
  locals?: Map<string, Variable>;
  /** The function being compiled (for `return`). */
  fn?: FunctionDef;
}

const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "accept",
  "reject",
  "return",
  "print",
  "printn",
  "true",
  "false",
  "defined",
  "unset",
  "case",
  "filter",
  "where",
  "function",
]);

export function isKeyword(name: string): boolean {
  return KEYWORDS.has(name);
}
