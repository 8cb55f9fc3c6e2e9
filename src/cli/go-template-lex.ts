/**
 * Go's text/template lexer (Go 1.22+): text, actions with `{{-`/`-}}` trimming, comments, and items
 * with their byte positions and lines, as the parser in go-template-parse.ts consumes them.
 */

export class TemplateError extends Error {}

export type ItemType =
  | "error"
  | "bool"
  | "char"
  | "charConstant"
  | "assign"
  | "declare"
  | "eof"
  | "field"
  | "identifier"
  | "leftDelim"
  | "leftParen"
  | "number"
  | "pipe"
  | "rawString"
  | "rightDelim"
  | "rightParen"
  | "space"
  | "string"
  | "text"
  | "variable"
  // keywords
  | "block"
  | "break"
  | "continue"
  | "dot"
  | "define"
  | "else"
  | "end"
  | "if"
  | "nil"
  | "range"
  | "template"
  | "with";

export interface Item {
  typ: ItemType;
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS = new Set<ItemType>([
  "block",
  "break",
  "continue",
  "dot",
  "define",
  "else",
  "end",
  "if",
  "nil",
  "range",
  "template",
  "with",
]);
const KEY: Record<string, ItemType> = {
  ".": "dot",
  block: "block",
  break: "break",
  continue: "continue",
  define: "define",
  else: "else",
  end: "end",
  if: "if",
  range: "range",
  nil: "nil",
  template: "template",
  with: "with",
};

/** Go's %q of a string, enough for item text (printable ASCII mostly). */
export function quoteItem(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

export function itemString(i: Item): string {
  if (i.typ === "eof") return "EOF";
  if (i.typ === "error") return i.val;
  if (KEYWORDS.has(i.typ)) return `<${i.val}>`;
  if ([...i.val].length > 10) return `${quoteItem([...i.val].slice(0, 10).join(""))}...`;
  return quoteItem(i.val);
}

/** `%#U`: U+007D '}'. */
export function formatU(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return cp >= 0x20 && cp !== 0x7f ? `${hex} '${ch}'` : hex;
}

const SPACE = " \t\r\n";
const isSpace = (r: string) => r !== "" && SPACE.includes(r);
const isAlphaNumeric = (r: string) => r === "_" || /^[\p{L}\p{Nd}]$/u.test(r);
const EOF = "";

/** Lexes the whole template up front: the lexer's states never depend on the parser. */
export function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;
  let width = 0;
  const next = (): string => {
    if (pos >= input.length) {
      width = 0;
      return EOF;
    }
    const ch = String.fromCodePoint(input.codePointAt(pos)!);
    width = ch.length;
    pos += width;
    if (ch === "\n") line++;
    return ch;
  };
  const backup = () => {
    pos -= width;
    if (width === 1 && input[pos] === "\n") line--;
  };
  const peek = () => {
    const r = next();
    backup();
    return r;
  };
  const emit = (typ: ItemType) => {
    items.push({ typ, pos: start, val: input.slice(start, pos), line: startLine });
    start = pos;
    startLine = line;
  };
  const ignore = () => {
    line += countNewlines(input.slice(start, pos));
    start = pos;
    startLine = line;
  };
  const errorf = (msg: string): null => {
    items.push({ typ: "error", pos: start, val: msg, line: startLine });
    return null;
  };
  const hasLeftTrimMarker = (s: string) => s.length >= 2 && s[0] === "-" && isSpace(s[1]!);
  const hasRightTrimMarker = (s: string) => s.length >= 2 && isSpace(s[0]!) && s[1] === "-";
  const atRightDelim = (): [boolean, boolean] => {
    if (hasRightTrimMarker(input.slice(pos)) && input.startsWith("}}", pos + 2)) return [true, true];
    if (input.startsWith("}}", pos)) return [true, false];
    return [false, false];
  };
  const atTerminator = () => {
    const r = peek();
    if (isSpace(r)) return true;
    if ([EOF, ".", ",", "|", ":", ")", "("].includes(r)) return true;
    return input.startsWith("}}", pos);
  };
  const trimLeftLength = (s: string) => s.length - s.replace(/^[ \t\r\n]+/, "").length;
  const trimRightLength = (s: string) => s.length - s.replace(/[ \t\r\n]+$/, "").length;

  type State = () => State | null;
  const lexText: State = () => {
    const x = input.indexOf("{{", pos);
    if (x >= 0) {
      if (x > pos) {
        pos = x;
        const trim = hasLeftTrimMarker(input.slice(x + 2)) ? trimRightLength(input.slice(start, pos)) : 0;
        pos -= trim;
        line += countNewlines(input.slice(start, pos));
        const text = input.slice(start, pos);
        const item: Item = { typ: "text", pos: start, val: text, line: startLine };
        start = pos;
        startLine = line;
        pos += trim;
        ignore();
        if (text.length > 0) items.push(item);
      }
      return lexLeftDelim;
    }
    pos = input.length;
    if (pos > start) {
      line += countNewlines(input.slice(start, pos));
      emit("text");
    }
    emit("eof");
    return null;
  };
  const lexLeftDelim: State = () => {
    pos += 2;
    const trim = hasLeftTrimMarker(input.slice(pos));
    const after = trim ? 2 : 0;
    if (input.startsWith("/*", pos + after)) {
      pos += after;
      ignore();
      return lexComment;
    }
    emit("leftDelim");
    pos += after;
    ignore();
    parenDepth = 0;
    return lexInsideAction;
  };
  const lexComment: State = () => {
    pos += 2;
    const x = input.indexOf("*/", pos);
    if (x < 0) return errorf("unclosed comment");
    pos = x + 2;
    const [delim, trim] = atRightDelim();
    if (!delim) return errorf("comment ends before closing delimiter");
    if (trim) pos += 2;
    pos += 2;
    if (trim) pos += trimLeftLength(input.slice(pos));
    ignore();
    return lexText;
  };
  const lexRightDelim: State = () => {
    const [, trim] = atRightDelim();
    if (trim) {
      pos += 2;
      ignore();
    }
    pos += 2;
    emit("rightDelim");
    if (trim) {
      pos += trimLeftLength(input.slice(pos));
      ignore();
    }
    return lexText;
  };
  const lexInsideAction: State = () => {
    const [delim] = atRightDelim();
    if (delim) {
      if (parenDepth === 0) return lexRightDelim;
      return errorf("unclosed left paren");
    }
    const r = next();
    if (r === EOF) return errorf("unclosed action");
    if (isSpace(r)) {
      backup();
      return lexSpace;
    }
    switch (r) {
      case "=":
        emit("assign");
        return lexInsideAction;
      case ":":
        if (next() !== "=") return errorf("expected :=");
        emit("declare");
        return lexInsideAction;
      case "|":
        emit("pipe");
        return lexInsideAction;
      case '"':
        return lexQuote;
      case "`":
        return lexRawQuote;
      case "$":
        return lexVariable;
      case "'":
        return lexChar;
      case "(":
        emit("leftParen");
        parenDepth++;
        return lexInsideAction;
      case ")":
        parenDepth--;
        if (parenDepth < 0) return errorf("unexpected right paren");
        emit("rightParen");
        return lexInsideAction;
    }
    if (r === ".") {
      if (pos < input.length) {
        const c = input[pos]!;
        if (c < "0" || c > "9") return lexField;
      }
      backup();
      return lexNumber;
    }
    if (r === "+" || r === "-" || (r >= "0" && r <= "9")) {
      backup();
      return lexNumber;
    }
    if (isAlphaNumeric(r)) {
      backup();
      return lexIdentifier;
    }
    const cp = r.codePointAt(0)!;
    if (cp >= 0x20 && cp < 0x7f) {
      emit("char");
      return lexInsideAction;
    }
    return errorf(`unrecognized character in action: ${formatU(r)}`);
  };
  const lexSpace: State = () => {
    let n = 0;
    while (isSpace(peek())) {
      next();
      n++;
    }
    if (hasRightTrimMarker(input.slice(pos - 1)) && input.startsWith("}}", pos - 1 + 2)) {
      backup();
      if (n === 1) return lexRightDelim;
    }
    emit("space");
    return lexInsideAction;
  };
  const lexIdentifier: State = () => {
    for (;;) {
      const r = next();
      if (isAlphaNumeric(r)) continue;
      backup();
      const word = input.slice(start, pos);
      if (!atTerminator()) return errorf(`bad character ${formatU(r)}`);
      const kw = KEY[word];
      if (kw && KEYWORDS.has(kw)) emit(kw);
      else if (word[0] === ".") emit("field");
      else if (word === "true" || word === "false") emit("bool");
      else emit("identifier");
      return lexInsideAction;
    }
  };
  const lexFieldOrVariable = (typ: "field" | "variable"): State | null => {
    if (atTerminator()) {
      emit(typ === "variable" ? "variable" : "dot");
      return lexInsideAction;
    }
    let r: string;
    for (;;) {
      r = next();
      if (!isAlphaNumeric(r)) {
        backup();
        break;
      }
    }
    if (!atTerminator()) return errorf(`bad character ${formatU(r)}`);
    emit(typ);
    return lexInsideAction;
  };
  const lexField: State = () => lexFieldOrVariable("field");
  const lexVariable: State = () => {
    if (atTerminator()) {
      emit("variable");
      return lexInsideAction;
    }
    return lexFieldOrVariable("variable");
  };
  const lexChar: State = () => {
    for (;;) {
      const r = next();
      if (r === "\\") {
        const r2 = next();
        if (r2 !== EOF && r2 !== "\n") continue;
        return errorf("unterminated character constant");
      }
      if (r === EOF || r === "\n") return errorf("unterminated character constant");
      if (r === "'") break;
    }
    emit("charConstant");
    return lexInsideAction;
  };
  const lexNumber: State = () => {
    const accept = (valid: string) => {
      const r = next();
      if (r !== EOF && valid.includes(r)) return true;
      backup();
      return false;
    };
    const acceptRun = (valid: string) => {
      for (;;) {
        const r = next();
        if (r === EOF || !valid.includes(r)) break;
      }
      backup();
    };
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    acceptRun(digits);
    if (accept(".")) acceptRun(digits);
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (isAlphaNumeric(peek())) {
      next();
      return errorf(`bad number syntax: ${quoteItem(input.slice(start, pos))}`);
    }
    emit("number");
    return lexInsideAction;
  };
  const lexQuote: State = () => {
    for (;;) {
      const r = next();
      if (r === "\\") {
        const r2 = next();
        if (r2 !== EOF && r2 !== "\n") continue;
        return errorf("unterminated quoted string");
      }
      if (r === EOF || r === "\n") return errorf("unterminated quoted string");
      if (r === '"') break;
    }
    emit("string");
    return lexInsideAction;
  };
  const lexRawQuote: State = () => {
    for (;;) {
      const r = next();
      if (r === EOF) return errorf("unterminated raw quoted string");
      if (r === "`") break;
    }
    emit("rawString");
    return lexInsideAction;
  };

  let state: State | null = lexText;
  while (state) state = state();
  return items;
}

function countNewlines(s: string): number {
  let n = 0;
  for (const c of s) if (c === "\n") n++;
  return n;
}
