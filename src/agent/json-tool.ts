import type { CommandResult } from "./sim-commands.ts";

/** A JSON value as Python's json module holds it: key order kept, ints and floats apart. */
type PyValue =
  | { t: "null" | "true" | "false" }
  | { t: "int"; v: bigint }
  | { t: "float"; v: number }
  | { t: "str"; v: string }
  | { t: "list"; v: PyValue[] }
  | { t: "dict"; v: Map<string, PyValue> };

class JsonDecodeError extends Error {
  constructor(msg: string, doc: string, pos: number) {
    const lineno = (doc.slice(0, pos).match(/\n/g) ?? []).length + 1;
    const colno = pos - doc.lastIndexOf("\n", pos - 1);
    super(`${msg}: line ${lineno} column ${colno} (char ${pos})`);
  }
}

const WS = /[ \t\n\r]*/y;
const NUMBER = /(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

/** Python 3's json decoder (strict mode), with its error messages and positions. */
class Decoder {
  constructor(private readonly s: string) {}

  ws(i: number): number {
    WS.lastIndex = i;
    WS.exec(this.s);
    return WS.lastIndex;
  }

  fail(msg: string, pos: number): never {
    throw new JsonDecodeError(msg, this.s, pos);
  }

  value(i: number): [PyValue, number] {
    const s = this.s;
    const c = s[i];
    if (c === '"') return this.string(i + 1);
    if (c === "{") return this.object(i + 1);
    if (c === "[") return this.array(i + 1);
    if (s.startsWith("null", i)) return [{ t: "null" }, i + 4];
    if (s.startsWith("true", i)) return [{ t: "true" }, i + 4];
    if (s.startsWith("false", i)) return [{ t: "false" }, i + 5];
    NUMBER.lastIndex = i;
    const m = c === undefined ? null : NUMBER.exec(s);
    if (m) {
      const end = i + m[0].length;
      if (m[2] || m[3]) return [{ t: "float", v: Number(m[0]) }, end];
      return [{ t: "int", v: BigInt(m[1]!) }, end];
    }
    if (s.startsWith("NaN", i)) return [{ t: "float", v: Number.NaN }, i + 3];
    if (s.startsWith("Infinity", i)) return [{ t: "float", v: Number.POSITIVE_INFINITY }, i + 8];
    if (s.startsWith("-Infinity", i)) return [{ t: "float", v: Number.NEGATIVE_INFINITY }, i + 9];
    return this.fail("Expecting value", i);
  }

  string(start: number): [PyValue, number] {
    const s = this.s;
    let out = "";
    let i = start;
    for (;;) {
      if (i >= s.length) this.fail("Unterminated string starting at", start - 1);
      const c = s[i]!;
      if (c === '"') return [{ t: "str", v: out }, i + 1];
      if (c.charCodeAt(0) < 0x20) this.fail("Invalid control character at", i);
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = s[i + 1];
      if (e === undefined) this.fail("Unterminated string starting at", start - 1);
      if (e === "u") {
        const hex = s.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("Invalid \\uXXXX escape", i + 1);
        out += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
      } else if (ESCAPES[e] !== undefined) {
        out += ESCAPES[e];
        i += 2;
      } else this.fail("Invalid \\escape", i);
    }
  }

  object(start: number): [PyValue, number] {
    const s = this.s;
    const map = new Map<string, PyValue>();
    let i = this.ws(start);
    if (s[i] === "}") return [{ t: "dict", v: map }, i + 1];
    for (;;) {
      if (s[i] !== '"') this.fail("Expecting property name enclosed in double quotes", i);
      const [key, afterKey] = this.string(i + 1);
      i = this.ws(afterKey);
      if (s[i] !== ":") this.fail("Expecting ':' delimiter", i);
      const [v, afterValue] = this.value(this.ws(i + 1));
      map.set((key as { v: string }).v, v);
      i = this.ws(afterValue);
      if (s[i] === "}") return [{ t: "dict", v: map }, i + 1];
      if (s[i] !== ",") this.fail("Expecting ',' delimiter", i);
      i = this.ws(i + 1);
    }
  }

  array(start: number): [PyValue, number] {
    const s = this.s;
    const list: PyValue[] = [];
    let i = this.ws(start);
    if (s[i] === "]") return [{ t: "list", v: list }, i + 1];
    for (;;) {
      const [v, after] = this.value(i);
      list.push(v);
      i = this.ws(after);
      if (s[i] === "]") return [{ t: "list", v: list }, i + 1];
      if (s[i] !== ",") this.fail("Expecting ',' delimiter", i);
      i = this.ws(i + 1);
    }
  }

  document(): PyValue {
    const [v, end] = this.value(this.ws(0));
    const rest = this.ws(end);
    if (rest !== this.s.length) this.fail("Extra data", rest);
    return v;
  }
}

/** Python's float repr: the shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace(/^-/, "").replace(".", "");
  if (exp >= -5 + 1 && exp < 16) {
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    const frac = digits.slice(exp + 1);
    return `${sign}${int}.${frac || "0"}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

/** json.dumps(ensure_ascii=True): non-ASCII and control characters as \uXXXX (lower-case hex). */
function pyString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (code < 0x20 || code > 0x7e) {
      for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return `${out}"`;
}

function dump(v: PyValue, indent: number, level: number, sortKeys: boolean): string {
  const pad = (n: number) => `\n${" ".repeat(indent * n)}`;
  const sep = ",";
  switch (v.t) {
    case "null":
    case "true":
    case "false":
      return v.t;
    case "int":
      return v.v.toString();
    case "float":
      return pyFloat(v.v);
    case "str":
      return pyString(v.v);
    case "list":
      if (v.v.length === 0) return "[]";
      return `[${v.v.map((x) => pad(level + 1) + dump(x, indent, level + 1, sortKeys)).join(sep)}${pad(level)}]`;
    case "dict": {
      if (v.v.size === 0) return "{}";
      let entries = [...v.v];
      if (sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, x]) => `${pad(level + 1)}${pyString(k)}: ${dump(x, indent, level + 1, sortKeys)}`).join(sep)}${pad(level)}}`;
    }
  }
}

/** `python3 -m json.tool [--sort-keys] [--indent N]` reading standard input (Python 3.11's output and errors). */
export function pythonJsonTool(args: string[], input: string): CommandResult {
  let sortKeys = false;
  let indent = 4;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--sort-keys") sortKeys = true;
    else if (a === "--indent" && /^\d+$/.test(args[i + 1] ?? "")) indent = Number(args[++i]);
    else
      return { stdout: "", stderr: `not supported yet: python -m json.tool ${a} in tortie shell\n`, code: 2 };
  }
  try {
    const doc = new Decoder(input).document();
    return { stdout: `${dump(doc, indent, 0, sortKeys)}\n`, stderr: "", code: 0 };
  } catch (e) {
    if (e instanceof JsonDecodeError) return { stdout: "", stderr: `${e.message}\n`, code: 1 };
    throw e;
  }
}
