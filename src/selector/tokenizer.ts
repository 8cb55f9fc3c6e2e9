/**
 * Calico's selector tokenizer (libcalico-go/lib/selector/tokenizer): only space and TAB are whitespace,
 * word operators are recognised only right after a label, and string literals have no escapes.
 */
export type Token =
  | { kind: "label"; value: string }
  | { kind: "string"; value: string }
  | { kind: "has"; value: string }
  | {
      kind:
        | "all"
        | "global"
        | "eq"
        | "ne"
        | "in"
        | "notin"
        | "contains"
        | "startswith"
        | "endswith"
        | "not"
        | "and"
        | "or"
        | "lparen"
        | "rparen"
        | "lbrace"
        | "rbrace"
        | "comma"
        | "eof";
    };

export const MAX_LABEL_LENGTH = 512;

export class SelectorSyntaxError extends Error {}

const isSpace = (c: string | undefined) => c === " " || c === "\t";
const isIdent = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_./-]/.test(c);

function skipSpace(s: string, i: number): number {
  while (isSpace(s[i])) i++;
  return i;
}

function readIdent(s: string, i: number): number {
  let j = i;
  while (isIdent(s[j])) j++;
  return j;
}

/** Matches `word1 ws* word2 ...` at i; returns the index after the last word, or -1. */
function matchWords(s: string, i: number, words: string[]): number {
  let j = i;
  for (let w = 0; w < words.length; w++) {
    if (w > 0) j = skipSpace(s, j);
    if (!s.startsWith(words[w]!, j)) return -1;
    j += words[w]!.length;
  }
  return j;
}

const WORD_OPERATORS: { words: string[]; kind: "contains" | "startswith" | "endswith" | "notin" | "in" }[] = [
  { words: ["contains"], kind: "contains" },
  { words: ["starts", "with"], kind: "startswith" },
  { words: ["ends", "with"], kind: "endswith" },
  { words: ["not", "in"], kind: "notin" },
  { words: ["in"], kind: "in" },
];

function checkedLabel(value: string): string {
  if (value.length > MAX_LABEL_LENGTH)
    throw new SelectorSyntaxError(`label too long: ${value.slice(0, 20)}...`);
  return value;
}

export function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const s = input;
  while (true) {
    i = skipSpace(s, i);
    if (i >= s.length) break;
    const c = s[i]!;
    if (c === '"' || c === "'") {
      const end = s.indexOf(c, i + 1);
      if (end === -1) throw new SelectorSyntaxError("unterminated string");
      out.push({ kind: "string", value: s.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const punct: Record<string, Token["kind"]> = {
      "(": "lparen",
      ")": "rparen",
      "{": "lbrace",
      "}": "rbrace",
      ",": "comma",
    };
    if (punct[c]) {
      out.push({ kind: punct[c] } as Token);
      i++;
      continue;
    }
    if (s.startsWith("==", i)) {
      out.push({ kind: "eq" });
      i += 2;
      continue;
    }
    if (s.startsWith("!=", i)) {
      out.push({ kind: "ne" });
      i += 2;
      continue;
    }
    if (c === "!") {
      out.push({ kind: "not" });
      i++;
      continue;
    }
    if (s.startsWith("&&", i)) {
      out.push({ kind: "and" });
      i += 2;
      continue;
    }
    if (s.startsWith("||", i)) {
      out.push({ kind: "or" });
      i += 2;
      continue;
    }
    if (s.startsWith("has(", i)) {
      const start = skipSpace(s, i + 4);
      const end = readIdent(s, start);
      const close = skipSpace(s, end);
      if (end === start || s[close] !== ")") throw new SelectorSyntaxError("bad has()");
      out.push({ kind: "has", value: checkedLabel(s.slice(start, end)) });
      i = close + 1;
      continue;
    }
    if (s.startsWith("all(", i) || s.startsWith("global(", i)) {
      const kind = s.startsWith("all(", i) ? "all" : "global";
      const close = skipSpace(s, i + kind.length + 1);
      if (s[close] !== ")") throw new SelectorSyntaxError(`bad ${kind}()`);
      out.push({ kind });
      i = close + 1;
      continue;
    }
    if (isIdent(c)) {
      const end = readIdent(s, i);
      out.push({ kind: "label", value: checkedLabel(s.slice(i, end)) });
      i = skipSpace(s, end);
      // After a label, an identifier character can only start a word operator.
      if (i < s.length && isIdent(s[i])) {
        let matched = false;
        for (const op of WORD_OPERATORS) {
          let j = matchWords(s, i, op.words);
          if (j === -1) continue;
          if (op.words.length > 1) j = skipSpace(s, j);
          if (j < s.length && isIdent(s[j])) continue;
          out.push({ kind: op.kind });
          i = j;
          matched = true;
          break;
        }
        if (!matched) throw new SelectorSyntaxError(`unexpected characters after label: ${s.slice(i)}`);
      }
      continue;
    }
    throw new SelectorSyntaxError(`unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: "eof" });
  return out;
}
