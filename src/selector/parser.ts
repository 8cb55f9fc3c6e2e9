import { MAX_SELECTOR_DEPTH } from "../lib/index.ts";
import type { SelectorNode } from "./ast.ts";
import { SelectorSyntaxError, type Token, tokenize } from "./tokenizer.ts";

/**
 * Recursive-descent parser for Calico's selector grammar (libcalico-go/lib/selector/parser):
 * `||` binds loosest, then `&&`, then a run of `!` applying to one operation.
 */
export function parseSelectorAst(input: string): SelectorNode {
  const tokens = tokenize(input);
  let pos = 0;
  let depth = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;

  if (peek().kind === "eof") return { op: "all" };

  function orExpr(): SelectorNode {
    const operands = [andExpr()];
    while (peek().kind === "or") {
      next();
      operands.push(andExpr());
    }
    return operands.length === 1 ? operands[0]! : { op: "or", operands };
  }

  function andExpr(): SelectorNode {
    const operands = [operation()];
    while (peek().kind === "and") {
      next();
      operands.push(operation());
    }
    return operands.length === 1 ? operands[0]! : { op: "and", operands };
  }

  function stringValue(): string {
    const t = next();
    if (t.kind !== "string") throw new SelectorSyntaxError("expected string");
    return t.value;
  }

  function setLiteral(): string[] {
    if (next().kind !== "lbrace") throw new SelectorSyntaxError("expected set literal");
    const values = new Set<string>();
    if (peek().kind === "rbrace") {
      next();
      return [];
    }
    while (true) {
      values.add(stringValue());
      const t = next();
      if (t.kind === "rbrace") break;
      if (t.kind !== "comma") throw new SelectorSyntaxError("expected }");
      if (peek().kind === "rbrace") {
        next();
        break;
      }
    }
    return [...values].sort();
  }

  function operation(): SelectorNode {
    let negations = 0;
    while (peek().kind === "not") {
      next();
      negations++;
    }
    const inner = positive();
    return negations % 2 === 1 ? { op: "not", operand: inner } : inner;
  }

  function positive(): SelectorNode {
    const t = next();
    switch (t.kind) {
      case "all":
        return { op: "all" };
      case "global":
        return { op: "global" };
      case "has":
        return { op: "has", label: t.value };
      case "lparen": {
        // Bounded so a hostile selector fails with a syntax error, not a stack overflow (lib/limits.ts).
        if (++depth > MAX_SELECTOR_DEPTH)
          throw new SelectorSyntaxError(`exceeded max depth of ${MAX_SELECTOR_DEPTH} parentheses`);
        const inner = orExpr();
        depth--;
        if (next().kind !== "rparen") throw new SelectorSyntaxError("expected )");
        return inner;
      }
      case "label": {
        const op = next();
        switch (op.kind) {
          case "eq":
          case "ne":
          case "contains":
          case "startswith":
          case "endswith":
            return { op: op.kind, label: t.value, value: stringValue() };
          case "in":
          case "notin":
            return { op: op.kind, label: t.value, values: setLiteral() };
          case "eof":
            throw new SelectorSyntaxError("unexpected end of string looking for op");
          default:
            throw new SelectorSyntaxError(`expected == or != not: ${op.kind}`);
        }
      }
      default:
        throw new SelectorSyntaxError(`unexpected token: ${t.kind}`);
    }
  }

  const root = orExpr();
  if (peek().kind !== "eof") throw new SelectorSyntaxError("unexpected content at end of selector");
  return root;
}
