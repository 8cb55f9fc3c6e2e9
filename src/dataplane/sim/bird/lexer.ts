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

const TWO_CHAR_OPS = new Set(["!=", "!~", "<=", ">=", "&&", "||", "[=", "=]", ".."]);
const ONE_CHAR_OPS = "={}:;,.()+*/%<>~[]?!|-";
const MAX_INCLUDE_DEPTH = 8;

const IPV6 = /[0-9a-fA-F:.]*:[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/y;
const HEX_COLON = /^[0-9a-fA-F]*:/;
const DOTTED_QUAD = /^\d+\.\d+\.\d+\.\d+$/;
const NUMBER = /^(0x[0-9a-fA-F]+|\d+)$/;

function isHexOrDot(ch: string): boolean {
  return (ch >= "0" && ch <= "9") || (ch >= "a" && ch <= "f") || (ch >= "A" && ch <= "F") || ch === ".";
}

function isAlpha(ch: string): boolean {
  return (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || ch === "_";
}

function isDigit(ch: string): boolean {
  return ch >= "0" && ch <= "9";
}

function isAlnum(ch: string): boolean {
  return isAlpha(ch) || isDigit(ch);
}

/** Splits one file into tokens (no include expansion). */
function tokenize(file: string, text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (col: number, reason: string): never => {
    throw new BirdConfigError(file, line, col, reason);
  };
  const push = (kind: TokenKind, tokText: string, start: number, value = 0, quoted = false) => {
    out.push({ kind, text: tokText, value, quoted, file, line, col: start - lineStart + 1 });
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === "\n") {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\r") {
      i++;
      continue;
    }
    if (ch === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (ch === "/" && text[i + 1] === "*") {
      const startCol = i - lineStart + 1;
      const startLine = line;
      i += 2;
      for (;;) {
        if (i >= text.length) throw new BirdConfigError(file, startLine, startCol, "Unterminated comment");
        if (text[i] === "*" && text[i + 1] === "/") {
          i += 2;
          break;
        }
        if (text[i] === "/" && text[i + 1] === "*") fail(i - lineStart + 1, "Comment nesting not supported");
        if (text[i] === "\n") {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      continue;
    }
    const start = i;
    if (isAlnum(ch) || ch === ":") {
      let j = i;
      while (j < text.length && isHexOrDot(text[j] as string)) j++;
      if (text[j] === ":") {
        IPV6.lastIndex = i;
        const m = IPV6.exec(text);
        if (m && HEX_COLON.test(m[0]))
          fail(start - lineStart + 1, `IPv6 is not supported: the sim is IPv4-only (${m[0]})`);
      }
    }
    if (isDigit(ch)) {
      let j = i;
      while (j < text.length && (isAlnum(text[j] as string) || text[j] === ".")) {
        // `1.2.3.4..5` never occurs; stop before `..` so ranges `1..5` lex as NUM DDOT NUM.
        if (text[j] === "." && text[j + 1] === ".") break;
        j++;
      }
      const word = text.slice(i, j);
      if (DOTTED_QUAD.test(word)) {
        const ip = parseIpv4(word);
        if (ip === undefined) fail(start - lineStart + 1, `Invalid IPv4 address ${word}`);
        push("ip", word, start, ip);
      } else if (NUMBER.test(word)) {
        const n = Number(word);
        if (n > 0xffffffff) fail(start - lineStart + 1, "Number out of range");
        push("num", word, start, n);
      } else {
        fail(start - lineStart + 1, `syntax error, unexpected '${word}'`);
      }
      i = j;
      continue;
    }
    if (isAlpha(ch)) {
      let j = i + 1;
      while (j < text.length && isAlnum(text[j] as string)) j++;
      push("sym", text.slice(i, j), start);
      i = j;
      continue;
    }
    if (ch === "'") {
      let j = i + 1;
      while (j < text.length && (isAlnum(text[j] as string) || "-.:".includes(text[j] as string))) j++;
      if (text[j] !== "'") fail(start - lineStart + 1, "Unknown character");
      push("sym", text.slice(i + 1, j), start, 0, true);
      i = j + 1;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"' && text[j] !== "\n") j++;
      if (text[j] !== '"') fail(start - lineStart + 1, "Unterminated string");
      push("str", text.slice(i + 1, j), start);
      i = j + 1;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (TWO_CHAR_OPS.has(two)) {
      push("op", two, start);
      i += 2;
      continue;
    }
    if (ONE_CHAR_OPS.includes(ch)) {
      push("op", ch, start);
      i++;
      continue;
    }
    fail(start - lineStart + 1, "Unknown character");
  }
  out.push({ kind: "eof", text: "end of file", value: 0, quoted: false, file, line, col: i - lineStart + 1 });
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
