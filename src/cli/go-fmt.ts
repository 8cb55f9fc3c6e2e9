/**
 * Go's fmt and encoding/json as kubectl's output printers apply them to decoded JSON. kubectl decodes objects
 * with apimachinery's JSON decoder, so a whole number is an int64 and any other number a float64; a Go `int`
 * (a template's integer constant, `len`, a range index) is a bigint here.
 */

/** A decoded JSON value as Go holds it (`map[string]interface{}`, `[]interface{}`, …); null is a nil interface. */
export type GoData = null | string | number | bigint | boolean | GoData[] | { [key: string]: GoData };

export function isMap(x: unknown): x is { [key: string]: GoData } {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** The Go type of a concrete value, as Go's error messages name it. */
export function goTypeName(x: GoData): string {
  if (x === null) return "<nil>";
  if (typeof x === "string") return "string";
  if (typeof x === "bigint") return "int";
  if (typeof x === "number") return Number.isInteger(x) ? "int64" : "float64";
  if (typeof x === "boolean") return "bool";
  if (Array.isArray(x)) return "[]interface {}";
  return "map[string]interface {}";
}

/** strconv.FormatFloat(f, 'g', -1, 64): the shortest digits, exponent form below 1e-4 and from 1e+06. */
export function formatFloatG(f: number): string {
  if (Number.isNaN(f)) return "NaN";
  if (f === Number.POSITIVE_INFINITY) return "+Inf";
  if (f === Number.NEGATIVE_INFINITY) return "-Inf";
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  const [mantissa, e] = f.toExponential().split("e") as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6)
    return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(f);
}

/** A number as fmt's %v prints it: int64 and int in decimal, float64 in %g form. */
function numberText(x: number | bigint): string {
  if (typeof x === "bigint") return x.toString();
  return Number.isInteger(x) && Math.abs(x) < 2 ** 63 ? BigInt(x).toString() : formatFloatG(x);
}

const sortedKeys = (m: object) => Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** fmt's %v (and %+v, the same for maps and slices) of a value. */
export function formatV(x: GoData): string {
  if (x === null) return "<nil>";
  if (typeof x === "string") return x;
  if (typeof x === "number" || typeof x === "bigint") return numberText(x);
  if (typeof x === "boolean") return String(x);
  if (Array.isArray(x)) return `[${x.map(formatV).join(" ")}]`;
  return `map[${sortedKeys(x)
    .map((k) => `${k}:${formatV(x[k]!)}`)
    .join(" ")}]`;
}

/** fmt's %#v (Go syntax) of a value held in an interface{}. */
export function formatSharpV(x: GoData): string {
  if (x === null) return "interface {}(nil)";
  if (typeof x === "string") return goQuote(x);
  if (typeof x === "number" || typeof x === "bigint") return numberText(x);
  if (typeof x === "boolean") return String(x);
  if (Array.isArray(x)) return `[]interface {}{${x.map(formatSharpV).join(", ")}}`;
  return `map[string]interface {}{${sortedKeys(x)
    .map((k) => `${goQuote(k)}:${formatSharpV(x[k]!)}`)
    .join(", ")}}`;
}

function isPrintable(cp: number): boolean {
  if (cp < 0x20 || cp === 0x7f) return false;
  if (cp >= 0x80 && cp < 0xa0) return false;
  if (cp === 0xad || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff) return false;
  if (cp >= 0x2028 && cp <= 0x202e) return false;
  return true;
}

/** strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (isPrintable(cp)) out += ch;
    else if (ch === "\x07") out += "\\a";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\v") out += "\\v";
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\U${cp.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

/** encoding/json's Marshal: compact, map keys sorted, <, > and & escaped as \u003c, \u003e, \u0026. */
export function goJson(x: GoData, indent = 0): string {
  const norm = (v: GoData): unknown => {
    if (typeof v === "bigint") return Number(v);
    if (Array.isArray(v)) return v.map(norm);
    if (isMap(v)) return Object.fromEntries(sortedKeys(v).map((k) => [k, norm(v[k]!)]));
    return v;
  };
  return JSON.stringify(norm(x), null, indent || undefined)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** fmt.Sprint: operands separated by a space when neither side is a string. */
export function sprint(args: GoData[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatV(a);
  });
  return out;
}

/** fmt.Sprintln: operands always separated by a space, then a newline. */
export function sprintln(args: GoData[]): string {
  return `${args.map(formatV).join(" ")}\n`;
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  width?: number;
  prec?: number;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || [...s].length >= spec.width) return s;
  const n = spec.width - [...s].length;
  if (spec.minus) return s + " ".repeat(n);
  if (spec.zero && numeric) {
    const sign = /^[+-]/.test(s) ? s[0]! : "";
    return sign + "0".repeat(n) + s.slice(sign.length);
  }
  return " ".repeat(n) + s;
}

function badVerb(verb: string, x: GoData): string {
  return x === null ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeName(x)}=${formatV(x)})`;
}

function isIntLike(x: GoData): x is number | bigint {
  return typeof x === "bigint" || (typeof x === "number" && Number.isInteger(x));
}

/** An integer as %c and %q print it: not a Unicode scalar value (negative, past U+10FFFF, a surrogate) → U+FFFD. */
function rune(x: number | bigint): number {
  const v = BigInt(x);
  return v < 0n || v > 0x10ffffn || (v >= 0xd800n && v <= 0xdfffn) ? 0xfffd : Number(v);
}

function formatOne(verb: string, x: GoData, spec: Spec): string {
  if (Array.isArray(x) && verb !== "v" && verb !== "T")
    return pad(`[${x.map((e) => formatOne(verb, e, { ...spec, width: undefined })).join(" ")}]`, spec, false);
  if (isMap(x) && verb !== "v" && verb !== "T")
    return pad(
      `map[${sortedKeys(x)
        .map(
          (k) =>
            `${formatOne(verb, k, { ...spec, width: undefined })}:${formatOne(verb, x[k]!, { ...spec, width: undefined })}`,
        )
        .join(" ")}]`,
      spec,
      false,
    );
  const sign = (s: string, neg: boolean) => (neg ? `-${s}` : spec.plus ? `+${s}` : spec.space ? ` ${s}` : s);
  switch (verb) {
    case "v":
      if (spec.sharp) return pad(formatSharpV(x), spec, false);
      if (typeof x === "number" || typeof x === "bigint") {
        const t = numberText(x);
        return pad(t.startsWith("-") ? t : sign(t, false), spec, true);
      }
      return pad(formatV(x), spec, false);
    case "T":
      return pad(x === null ? "<nil>" : goTypeName(x), spec, false);
    case "s":
      if (typeof x === "string")
        return pad(spec.prec !== undefined ? [...x].slice(0, spec.prec).join("") : x, spec, false);
      return badVerb(verb, x);
    case "q":
      if (typeof x === "string") return pad(goQuote(x), spec, false);
      if (isIntLike(x)) return pad(`'${String.fromCodePoint(rune(x))}'`, spec, false);
      return badVerb(verb, x);
    case "d":
      if (isIntLike(x)) {
        const v = BigInt(x);
        return pad(sign((v < 0n ? -v : v).toString(), v < 0n), spec, true);
      }
      return badVerb(verb, x);
    case "x":
    case "X": {
      let t: string | undefined;
      if (isIntLike(x)) {
        const v = BigInt(x);
        t = sign((v < 0n ? -v : v).toString(16), v < 0n);
      } else if (typeof x === "string") t = Buffer.from(x, "utf8").toString("hex");
      if (t === undefined) return badVerb(verb, x);
      return pad(verb === "X" ? t.toUpperCase() : t, spec, true);
    }
    case "o":
    case "b":
      if (isIntLike(x)) {
        const v = BigInt(x);
        return pad(sign((v < 0n ? -v : v).toString(verb === "o" ? 8 : 2), v < 0n), spec, true);
      }
      return badVerb(verb, x);
    case "U":
      if (isIntLike(x))
        return pad(
          `U+${BigInt.asUintN(64, BigInt(x)).toString(16).toUpperCase().padStart(4, "0")}`,
          spec,
          false,
        );
      return badVerb(verb, x);
    case "c":
      if (isIntLike(x)) return pad(String.fromCodePoint(rune(x)), spec, false);
      return badVerb(verb, x);
    case "t":
      if (typeof x === "boolean") return pad(String(x), spec, false);
      return badVerb(verb, x);
    case "f":
    case "F":
    case "e":
    case "E":
    case "g":
    case "G": {
      if (typeof x !== "number") return badVerb(verb, x);
      const neg = x < 0 || Object.is(x, -0);
      const a = Math.abs(x);
      let t: string;
      if (verb === "f" || verb === "F") t = toFixedHalfEven(a, spec.prec ?? 6);
      else if (verb === "e" || verb === "E") {
        const [m, e] = a.toExponential(spec.prec ?? 6).split("e") as [string, string];
        t = `${m}e${e.startsWith("-") ? "-" : "+"}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
      } else
        t = spec.prec === undefined ? formatFloatG(a) : formatFloatG(Number(a.toPrecision(spec.prec || 1)));
      if (verb === "E" || verb === "G") t = t.toUpperCase();
      return pad(sign(t, neg), spec, true);
    }
    default:
      return `%!${verb}(${x === null ? "<nil>" : `${goTypeName(x)}=${formatV(x)}`})`;
  }
}

/**
 * %.Nf as Go rounds: the exact binary value, half to even. JavaScript's toFixed rounds an exact tie
 * (2.25 → "2.3") up; Go prints "2.2".
 */
function toFixedHalfEven(a: number, prec: number): string {
  if (!Number.isFinite(a) || prec > 80) return a.toFixed(Math.min(prec, 100));
  const exact = a.toFixed(100);
  const dot = exact.indexOf(".");
  const tail = exact.slice(dot + 1 + prec);
  if (!/^50*$/.test(tail)) return a.toFixed(prec);
  const kept = exact.slice(0, dot + 1 + prec).replace(/\.$/, "");
  const lastDigit = Number(kept.replace(".", "").slice(-1));
  if (lastDigit % 2 === 0) return kept;
  return a.toFixed(prec);
}

/** fmt.Sprintf for the verbs templates use: v +v #v T s q d x X o b c t f e g, flags, width, precision. */
export function sprintf(format: string, args: GoData[]): string {
  let out = "";
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const ch = format[i]!;
    if (ch !== "%") {
      out += ch;
      i++;
      continue;
    }
    i++;
    const spec: Spec = { minus: false, plus: false, sharp: false, zero: false, space: false };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === "-") spec.minus = true;
      else if (f === "+") spec.plus = true;
      else if (f === "#") spec.sharp = true;
      else if (f === "0") spec.zero = true;
      else if (f === " ") spec.space = true;
      else break;
    }
    // fmt's parsenum: a number past 1e6 is "crazy long", and the rest of the format is consumed (NOVERB).
    const num = () => {
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      let n = 0;
      for (const d of m[0]) {
        if (n > 1e6) {
          i = format.length;
          return undefined;
        }
        n = n * 10 + Number(d);
      }
      i += m[0].length;
      return n;
    };
    spec.width = num();
    if (format[i] === ".") {
      i++;
      spec.prec = num() ?? 0;
    }
    if (i >= format.length) {
      out += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argi++]!, spec);
  }
  if (argi < args.length)
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => (a === null ? "<nil>" : `${goTypeName(a)}=${formatV(a)}`))
      .join(", ")})`;
  return out;
}
