/**
 * BIRD's configuration lexer (conf/cf-lex.l): numbers, IPv4 addresses, "strings", symbols (plain or
 * 'quoted'), the two-character operators, `#` and C comments, and `include "file";` spliced in place. Every
 * token keeps its file, line and column so the parser and the filters can name them as BIRD does.
 */
import { type Ipv4Prefix, maskOf, parseIpv4 } from "../ipv4.ts";
import { BirdConfigError } from "./types.ts";

export type TokenKind = "num" | "ip" | "str" | "sym" | "op" | "eof";

export interface Token {
  kind: TokenKind;
  /** The text as written (a string's contents, a quoted symbol without its quotes). */
  text: string;
  /** For `num` and `ip`: the value as an unsigned 32-bit number. */
  value: number;
  /** A 'quoted' symbol: never a keyword. */
  quoted: boolean;
  file: string;
  line: number;
  col: number;
}

const MAX_INCLUDE_DEPTH = 8;

const IPV6 = /[0-9a-fA-F:.]*:[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/y;
const HEX_COLON = /^[0-9a-fA-F]*:/;

// Character classes by code, so the lexer reads each character once with charCodeAt and builds no strings
// but the tokens' own text.
const ALPHA = 1; // a-z A-Z _
const DIGIT = 2; // 0-9
const HEX = 4; // 0-9 a-f A-F
const OP = 8; // one-character operators
const CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CLASS[c] = DIGIT | HEX;
for (let c = 65; c <= 90; c++) CLASS[c] = ALPHA | (c <= 70 ? HEX : 0);
for (let c = 97; c <= 122; c++) CLASS[c] = ALPHA | (c <= 102 ? HEX : 0);
CLASS[95] = ALPHA;
for (const ch of "={}:;,.()+*/%<>~[]?!|-") {
  const c = ch.charCodeAt(0);
  CLASS[c] = CLASS[c]! | OP;
}

function cls(c: number): number {
  return c < 128 ? CLASS[c]! : 0;
}

const DOT = 46;
const COLON = 58;
const NL = 10;

/** The two-character operators: `!= !~ <= >= && || [= =] ..`. */
function isTwoCharOp(a: number, b: number): boolean {
  switch (a) {
    case 33: // !
      return b === 61 || b === 126;
    case 60: // <
    case 62: // >
      return b === 61;
    case 38: // &
      return b === 38;
    case 124: // |
      return b === 124;
    case 91: // [
      return b === 61;
    case 61: // =
      return b === 93;
    case DOT:
      return b === DOT;
    default:
      return false;
  }
}

/** `\d+\.\d+\.\d+\.\d+` over text[start, end). */
function isDottedQuad(text: string, start: number, end: number): boolean {
  let dots = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0) return false;
      dots++;
      digits = 0;
    } else if (c >= 48 && c <= 57) digits++;
    else return false;
  }
  return dots === 3 && digits > 0;
}

/** `0x[0-9a-fA-F]+` or `\d+` over text[start, end). */
function isNumber(text: string, start: number, end: number): boolean {
  if (end - start > 2 && text.charCodeAt(start) === 48 && text.charCodeAt(start + 1) === 120) {
    for (let i = start + 2; i < end; i++) if (!(cls(text.charCodeAt(i)) & HEX)) return false;
    return true;
  }
  for (let i = start; i < end; i++) if (!(cls(text.charCodeAt(i)) & DIGIT)) return false;
  return end > start;
}

function token(
  kind: TokenKind,
  text: string,
  value: number,
  quoted: boolean,
  file: string,
  line: number,
  col: number,
): Token {
  return { kind, text, value, quoted, file, line, col };
}

/** Splits one file into tokens (no include expansion). */
function tokenize(file: string, text: string): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === NL) {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (ch === 32 || ch === 9 || ch === 13) {
      i++;
      continue;
    }
    if (ch === 35 /* # */) {
      while (i < n && text.charCodeAt(i) !== NL) i++;
      continue;
    }
    const start = i;
    const col = start - lineStart + 1;
    if (ch === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      const startLine = line;
      i += 2;
      for (;;) {
        if (i >= n) throw new BirdConfigError(file, startLine, col, "Unterminated comment");
        const c = text.charCodeAt(i);
        if (c === 42 && text.charCodeAt(i + 1) === 47) {
          i += 2;
          break;
        }
        if (c === 47 && text.charCodeAt(i + 1) === 42)
          throw new BirdConfigError(file, line, i - lineStart + 1, "Comment nesting not supported");
        if (c === NL) {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      continue;
    }
    const k = cls(ch);
    if (k & (ALPHA | DIGIT) || ch === COLON) {
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (!(cls(c) & HEX) && c !== DOT) break;
        j++;
      }
      if (text.charCodeAt(j) === COLON) {
        IPV6.lastIndex = i;
        const m = IPV6.exec(text);
        if (m && HEX_COLON.test(m[0]))
          throw new BirdConfigError(file, line, col, `IPv6 is not supported: the sim is IPv4-only (${m[0]})`);
      }
    }
    if (k & DIGIT) {
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === DOT) {
          // `1.2.3.4..5` never occurs; stop before `..` so ranges `1..5` lex as NUM DDOT NUM.
          if (text.charCodeAt(j + 1) === DOT) break;
        } else if (!(cls(c) & (ALPHA | DIGIT))) break;
        j++;
      }
      const word = text.slice(i, j);
      if (isDottedQuad(text, i, j)) {
        const ip = parseIpv4(word);
        if (ip === undefined) throw new BirdConfigError(file, line, col, `Invalid IPv4 address ${word}`);
        out.push(token("ip", word, ip, false, file, line, col));
      } else if (isNumber(text, i, j)) {
        const v = Number(word);
        if (v > 0xffffffff) throw new BirdConfigError(file, line, col, "Number out of range");
        out.push(token("num", word, v, false, file, line, col));
      } else {
        throw new BirdConfigError(file, line, col, `syntax error, unexpected '${word}'`);
      }
      i = j;
      continue;
    }
    if (k & ALPHA) {
      let j = i + 1;
      while (j < n && cls(text.charCodeAt(j)) & (ALPHA | DIGIT)) j++;
      out.push(token("sym", text.slice(i, j), 0, false, file, line, col));
      i = j;
      continue;
    }
    if (ch === 39 /* ' */) {
      let j = i + 1;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (!(cls(c) & (ALPHA | DIGIT)) && c !== 45 && c !== DOT && c !== COLON) break;
        j++;
      }
      if (text.charCodeAt(j) !== 39) throw new BirdConfigError(file, line, col, "Unknown character");
      out.push(token("sym", text.slice(i + 1, j), 0, true, file, line, col));
      i = j + 1;
      continue;
    }
    if (ch === 34 /* " */) {
      let j = i + 1;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === 34 || c === NL) break;
        j++;
      }
      if (text.charCodeAt(j) !== 34) throw new BirdConfigError(file, line, col, "Unterminated string");
      out.push(token("str", text.slice(i + 1, j), 0, false, file, line, col));
      i = j + 1;
      continue;
    }
    if (i + 1 < n && isTwoCharOp(ch, text.charCodeAt(i + 1))) {
      out.push(token("op", text.slice(i, i + 2), 0, false, file, line, col));
      i += 2;
      continue;
    }
    if (k & OP) {
      out.push(token("op", text[i]!, 0, false, file, line, col));
      i++;
      continue;
    }
    throw new BirdConfigError(file, line, col, "Unknown character");
  }
  out.push(token("eof", "end of file", 0, false, file, line, i - lineStart + 1));
  return out;
}

/**
 * The tokens of `main` with every `include "name";` replaced by the tokens of `files[name]`. As in BIRD's
 * lexer, an include is a line of its own (`^include "…";`); elsewhere the parser refuses the word.
 */
export function tokenizeWithIncludes(files: Record<string, string>, main: string): Token[] {
  const expand = (file: string, depth: number, chain: string[]): Token[] => {
    const text = files[file];
    if (text === undefined)
      throw new BirdConfigError(file, 1, 1, `Unable to open configuration file ${file}`);
    const toks = tokenize(file, text);
    const out: Token[] = [];
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i] as Token;
      const name = toks[i + 1];
      const semi = toks[i + 2];
      if (
        t.kind === "sym" &&
        !t.quoted &&
        t.text === "include" &&
        (i === 0 || (toks[i - 1] as Token).line !== t.line) &&
        name?.kind === "str" &&
        name.line === t.line &&
        semi?.kind === "op" &&
        semi.text === ";" &&
        semi.line === t.line
      ) {
        if (name.text === "") throw new BirdConfigError(file, t.line, t.col, "Include with empty argument");
        if (/[*?[]/.test(name.text)) {
          throw new BirdConfigError(file, t.line, t.col, "not supported yet: include with wildcards");
        }
        if (depth + 1 >= MAX_INCLUDE_DEPTH || chain.includes(name.text)) {
          throw new BirdConfigError(file, t.line, t.col, "Max include depth reached");
        }
        if (files[name.text] === undefined) {
          throw new BirdConfigError(file, t.line, t.col, `Unable to open included file ${name.text}`);
        }
        const inner = expand(name.text, depth + 1, [...chain, name.text]);
        for (let k = 0; k < inner.length - 1; k++) out.push(inner[k] as Token); // without its eof
        i += 2;
        continue;
      }
      out.push(t);
    }
    return out;
  };
  return expand(main, 0, [main]);
}

/** A cursor over the tokens, with BIRD-style errors. */
export class TokenStream {
  pos = 0;
  private readonly lineCache = new Map<string, string[]>();

  constructor(
    private readonly toks: Token[],
    private readonly files: Record<string, string>,
  ) {}

  peek(offset = 0): Token {
    return this.toks[Math.min(this.pos + offset, this.toks.length - 1)] as Token;
  }

  next(): Token {
    const t = this.peek();
    if (this.pos < this.toks.length - 1) this.pos++;
    return t;
  }

  /** An operator, or an unquoted word (keywords are words). */
  is(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return (t.kind === "op" || (t.kind === "sym" && !t.quoted)) && t.text === text;
  }

  accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.next();
    return true;
  }

  expect(text: string): Token {
    if (!this.is(text)) this.unexpected(this.peek(), `'${text}' expected`);
    return this.next();
  }

  error(at: Token, reason: string): never {
    throw new BirdConfigError(at.file, at.line, at.col, reason);
  }

  /** The network `ip/len`, refused as BIRD does when the length is over 32 or host bits are set. */
  prefix(ip: Token, len: number): Ipv4Prefix {
    const mask = len > 32 ? 0 : maskOf(len);
    if (len > 32 || (ip.value & ~mask) !== 0) this.error(ip, `Invalid network prefix: ${ip.text}/${len}.`);
    return { addr: ip.value, len, mask };
  }

  unexpected(at: Token, hint?: string): never {
    const what = at.kind === "eof" ? "end of file" : at.kind === "str" ? `"${at.text}"` : `'${at.text}'`;
    this.error(at, `syntax error, unexpected ${what}${hint ? ` (${hint})` : ""}`);
  }

  /** The line a token is on, trimmed and without its `#` comment: what `tortie bgp routes` prints. */
  lineText(at: Token): string {
    let lines = this.lineCache.get(at.file);
    if (!lines) {
      lines = (this.files[at.file] ?? "").split("\n");
      this.lineCache.set(at.file, lines);
    }
    const raw = lines[at.line - 1] ?? "";
    let inString = false;
    let end = raw.length;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === '"') inString = !inString;
      else if (raw[i] === "#" && !inString) {
        end = i;
        break;
      }
    }
    return raw.slice(0, end).trim();
  }
}
