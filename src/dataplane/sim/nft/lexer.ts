/** One word of an `nft` command, with its 1-based column span on its line (for nft's error carets). */
export interface Token {
  text: string;
  /** A quoted string: `text` is its content. */
  quoted: boolean;
  col: number;
  end: number;
}

/** An error nft reports against a span of a line: `FILE:LINE:COL-END: Error: MESSAGE`. */
export class NftError extends Error {
  constructor(
    message: string,
    readonly col = 0,
    readonly end = 0,
  ) {
    super(message);
  }
}

const PUNCT = new Set(["{", "}", ";", ","]);

/**
 * Splits a line the way nft's scanner separates what kube-proxy writes: quoted strings, the punctuation
 * `{ } ; ,` on their own, and everything else up to whitespace or punctuation (so `10.0.0.1:80`, `@set` and
 * chain names with `/` stay whole). A `#` outside a string starts a comment.
 */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "#") break;
    if (c === '"') {
      const close = line.indexOf('"', i + 1);
      if (close < 0) throw new NftError("syntax error, unterminated string", i + 1, line.length);
      out.push({ text: line.slice(i + 1, close), quoted: true, col: i + 1, end: close + 1 });
      i = close + 1;
      continue;
    }
    if (PUNCT.has(c)) {
      out.push({ text: c, quoted: false, col: i + 1, end: i + 1 });
      i++;
      continue;
    }
    let j = i;
    while (j < line.length && !/[\s{};,"#]/.test(line[j]!)) j++;
    out.push({ text: line.slice(i, j), quoted: false, col: i + 1, end: j });
    i = j;
  }
  return out;
}

/** A cursor over one command's tokens. */
export class Cursor {
  i = 0;
  constructor(
    readonly tokens: Token[],
    readonly lineEnd: number,
  ) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  /** The next word (unquoted), or undefined. */
  word(offset = 0): string | undefined {
    const t = this.tokens[this.i + offset];
    return t && !t.quoted ? t.text : undefined;
  }

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  next(what = "a word"): Token {
    const t = this.tokens[this.i];
    if (!t)
      throw new NftError(
        `syntax error, unexpected end of file, expecting ${what}`,
        this.lineEnd,
        this.lineEnd,
      );
    this.i++;
    return t;
  }

  /** Consumes `text` if it is next. */
  accept(text: string): boolean {
    const t = this.tokens[this.i];
    if (t && !t.quoted && t.text === text) {
      this.i++;
      return true;
    }
    return false;
  }

  expect(text: string): Token {
    const t = this.tokens[this.i];
    if (!t)
      throw new NftError(
        `syntax error, unexpected end of file, expecting ${text}`,
        this.lineEnd,
        this.lineEnd,
      );
    if (t.quoted || t.text !== text) throw unexpected(t, text);
    this.i++;
    return t;
  }

  string(): Token {
    const t = this.next("string");
    if (!t.quoted && !/^[\w./:-]+$/.test(t.text)) throw unexpected(t, "string");
    return t;
  }
}

export function unexpected(t: Token, expecting?: string): NftError {
  const what = t.quoted ? "quoted string" : PUNCT.has(t.text) ? `'${t.text}'` : t.text;
  return new NftError(
    `syntax error, unexpected ${what}${expecting ? `, expecting ${expecting}` : ""}`,
    t.col,
    t.end,
  );
}
