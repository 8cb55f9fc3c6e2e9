/**
 * The values a kubectl go-template works on (reflect.Value's distinctions that show in Go's messages) and
 * its functions: text/template's builtins (and, or, not, index, slice, len, print, printf, println, html,
 * js, urlquery, call, eq, ne, lt, le, gt, ge) plus kubectl's `exists` and `base64decode`.
 */
import { formatV, type GoData, goTypeName, isMap, sprint, sprintf, sprintln } from "./go-fmt.ts";

/** A reflect.Value: absent (invalid), or a value that may sit in an interface{} (a map's or slice's element). */
export type OkRV = { ok: true; x: GoData; iface: boolean };
export type RV = { ok: false } | OkRV;
export const INVALID: RV = { ok: false };
export const val = (x: GoData, iface = false): OkRV => ({ ok: true, x, iface });
export const MISSING = Symbol("missing");
export type Final = RV | typeof MISSING;

/** The declared parameter type of a builtin: reflect.Value, interface{}, or string. */
export type Param = "value" | "any" | "string";
export interface Builtin {
  params: Param[];
  variadic: boolean;
  fn: (args: unknown[]) => RV;
}

export class CallError extends Error {}
export class Break {}
export class Continue {}

export function typeOf(v: RV): string {
  if (!v.ok) return "<invalid reflect.Value>";
  return v.iface ? "interface {}" : goTypeName(v.x);
}

/** indirectInterface: the concrete value inside an interface, or invalid for a nil one. */
export function concrete(v: RV): RV {
  if (!v.ok) return v;
  if (v.iface) return v.x === null ? INVALID : val(v.x);
  return v;
}

export function isTrue(v: RV): boolean {
  const c = concrete(v);
  if (!c.ok) return false;
  const x = c.x;
  if (typeof x === "string" || Array.isArray(x)) return x.length > 0;
  if (isMap(x)) return Object.keys(x).length > 0;
  if (typeof x === "boolean") return x;
  if (typeof x === "number") return x !== 0;
  if (typeof x === "bigint") return x !== 0n;
  return false;
}

type Kind = "invalid" | "bool" | "int" | "float" | "string";
function basicKind(v: RV): Kind {
  if (!v.ok) return "invalid";
  const x = v.x;
  if (typeof x === "boolean") return "bool";
  if (typeof x === "bigint" || (typeof x === "number" && Number.isInteger(x))) return "int";
  if (typeof x === "number") return "float";
  if (typeof x === "string") return "string";
  return "invalid";
}

function eq(a: RV, bs: RV[]): RV {
  const a1 = concrete(a);
  if (bs.length === 0) throw new CallError("missing argument for comparison");
  const k1 = basicKind(a1);
  for (const b of bs) {
    const b1 = concrete(b);
    const k2 = basicKind(b1);
    let truth = false;
    if (k1 !== k2) {
      if (a1.ok && b1.ok) throw new CallError("incompatible types for comparison");
    } else if (k1 === "int") truth = BigInt((a1 as { x: number }).x) === BigInt((b1 as { x: number }).x);
    else if (k1 === "invalid") {
      if (a1.ok && b1.ok) {
        const bad = isMap(a1.x) || Array.isArray(a1.x) ? a1 : b1;
        throw new CallError(`non-comparable type ${formatV((bad as { x: GoData }).x)}: ${typeOf(bad)}`);
      }
      truth = !a1.ok && !b1.ok;
    } else truth = (a1 as { x: GoData }).x === (b1 as { x: GoData }).x;
    if (truth) return val(true);
  }
  return val(false);
}

function eqb(a: RV, b: RV): boolean {
  return (eq(a, [b]) as { x: boolean }).x;
}

function lt(a: RV, b: RV): boolean {
  const a1 = concrete(a);
  const b1 = concrete(b);
  const k1 = basicKind(a1);
  const k2 = basicKind(b1);
  if (k1 === "invalid" || k2 === "invalid") throw new CallError("invalid type for comparison");
  if (k1 !== k2) throw new CallError("incompatible types for comparison");
  if (k1 === "bool") throw new CallError("invalid type for comparison");
  const x = (a1 as { x: GoData }).x;
  const y = (b1 as { x: GoData }).x;
  if (k1 === "int") return BigInt(x as number) < BigInt(y as number);
  return (x as number | string) < (y as number | string);
}

function indexArg(index: RV, cap: number): number {
  const c = concrete(index);
  if (!c.ok) throw new CallError("cannot index slice/array with nil");
  if (basicKind(c) !== "int") throw new CallError(`cannot index slice/array with type ${goTypeName(c.x)}`);
  const x = BigInt(c.x as number);
  if (x < 0n || x > BigInt(cap)) throw new CallError(`index out of range: ${x}`);
  return Number(x);
}

function index(item: RV, indexes: RV[]): RV {
  let cur = concrete(item);
  if (!cur.ok) throw new CallError("index of untyped nil");
  for (const ix of indexes) {
    const i = concrete(ix);
    if (cur.ok && cur.iface) {
      if (cur.x === null) throw new CallError("index of nil pointer");
      cur = val(cur.x);
    }
    const x: GoData = (cur as { x: GoData }).x;
    if (Array.isArray(x) || typeof x === "string") {
      const len: number = typeof x === "string" ? Buffer.byteLength(x) : x.length;
      const n = indexArg(i, len);
      if (n === len) throw new CallError(`index out of range: ${n}`);
      cur = typeof x === "string" ? val(BigInt(Buffer.from(x)[n]!)) : val(x[n]!, true);
    } else if (isMap(x)) {
      if (!i.ok) throw new CallError("value is nil; should be of type string");
      if (typeof i.x !== "string") throw new CallError(`value has type ${goTypeName(i.x)}; should be string`);
      cur = Object.hasOwn(x, i.x) ? val(x[i.x]!, true) : val(null, true);
    } else throw new CallError(`can't index item of type ${typeOf(cur)}`);
  }
  return cur;
}

function exists(item: GoData, indices: GoData[]): boolean {
  let cur: GoData = item;
  for (const i of indices) {
    if (cur === null) return false;
    if (Array.isArray(cur) || typeof cur === "string") {
      if (!(typeof i === "bigint" || (typeof i === "number" && Number.isInteger(i)))) return false;
      const n = Number(i);
      const len = typeof cur === "string" ? Buffer.byteLength(cur) : cur.length;
      if (n < 0 || n >= len) return false;
      cur = typeof cur === "string" ? BigInt(Buffer.from(cur)[n]!) : cur[n]!;
    } else if (isMap(cur)) {
      if (typeof i !== "string") return false;
      cur = Object.hasOwn(cur, i) ? cur[i]! : null;
    } else return false;
  }
  return cur !== null;
}

function length(item: RV): RV {
  if (item.ok && item.iface && item.x === null) throw new CallError("len of nil pointer");
  if (!item.ok) throw new CallError("reflect: call of reflect.Value.Type on zero Value");
  const x = item.x;
  if (typeof x === "string") return val(BigInt(Buffer.byteLength(x)));
  if (Array.isArray(x)) return val(BigInt(x.length));
  if (isMap(x)) return val(BigInt(Object.keys(x).length));
  throw new CallError(`len of type ${goTypeName(x)}`);
}

function slice(item: RV, indexes: RV[]): RV {
  const c = concrete(item);
  if (!c.ok) throw new CallError("slice of untyped nil");
  if (indexes.length > 3) throw new CallError(`too many slice indexes: ${indexes.length}`);
  const x = c.x;
  if (typeof x === "string") {
    if (indexes.length === 3) throw new CallError("cannot 3-index slice a string");
    const bytes = Buffer.from(x);
    const ix = [0, bytes.length];
    indexes.forEach((v, k) => {
      ix[k] = indexArg(v, bytes.length);
    });
    if (ix[0]! > ix[1]!) throw new CallError(`invalid slice index: ${ix[0]} > ${ix[1]}`);
    return val(bytes.subarray(ix[0], ix[1]).toString());
  }
  if (Array.isArray(x)) {
    const ix = [0, x.length, x.length];
    indexes.forEach((v, k) => {
      ix[k] = indexArg(v, x.length);
    });
    if (ix[0]! > ix[1]!) throw new CallError(`invalid slice index: ${ix[0]} > ${ix[1]}`);
    return val(x.slice(ix[0], ix[1]));
  }
  throw new CallError(`can't slice item of type ${goTypeName(x)}`);
}

function htmlEscape(s: string): string {
  return s.replace(/["'&<>\0]/g, (c) =>
    c === '"'
      ? "&#34;"
      : c === "'"
        ? "&#39;"
        : c === "&"
          ? "&amp;"
          : c === "<"
            ? "&lt;"
            : c === ">"
              ? "&gt;"
              : "\uFFFD",
  );
}

function jsEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === "<") out += "\\u003C";
    else if (ch === ">") out += "\\u003E";
    else if (ch === "&") out += "\\u0026";
    else if (ch === "=") out += "\\u003D";
    else if (cp < 0x20) out += `\\u00${cp.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += ch;
  }
  return out;
}

/** Go's evalArgs for html/js/urlquery: one string as is, otherwise fmt.Sprint of the arguments. */
function evalArgs(args: GoData[]): string {
  if (args.length === 1 && typeof args[0] === "string") return args[0];
  return sprint(args);
}

function base64decode(s: string): string {
  const bad = /[^A-Za-z0-9+/=]/.exec(s);
  const padOk = /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;
  if (bad || !padOk) {
    const at = bad ? bad.index : s.length % 4 === 0 ? s.indexOf("=") : s.length - (s.length % 4);
    throw new CallError(`base64 decode failed: illegal base64 data at input byte ${Math.max(at, 0)}`);
  }
  return Buffer.from(s, "base64").toString("utf8");
}

const b = (params: Param[], variadic: boolean, fn: (args: unknown[]) => RV): Builtin => ({
  params,
  variadic,
  fn,
});
const rest = (args: unknown[], from: number) => args.slice(from) as GoData[];

export const BUILTINS: Record<string, Builtin> = {
  and: b(["value", "value"], true, () => INVALID),
  or: b(["value", "value"], true, () => INVALID),
  not: b(["value"], false, (a) => val(!isTrue(a[0] as RV))),
  index: b(["value", "value"], true, (a) => index(a[0] as RV, a.slice(1) as RV[])),
  slice: b(["value", "value"], true, (a) => slice(a[0] as RV, a.slice(1) as RV[])),
  len: b(["value"], false, (a) => length(a[0] as RV)),
  print: b(["any"], true, (a) => val(sprint(rest(a, 0)))),
  printf: b(["string", "any"], true, (a) => val(sprintf(a[0] as string, rest(a, 1)))),
  println: b(["any"], true, (a) => val(sprintln(rest(a, 0)))),
  html: b(["any"], true, (a) => val(htmlEscape(evalArgs(rest(a, 0))))),
  js: b(["any"], true, (a) => val(jsEscape(evalArgs(rest(a, 0))))),
  urlquery: b(["any"], true, (a) =>
    val(
      encodeURIComponent(evalArgs(rest(a, 0)))
        .replace(/%20/g, "+")
        .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    ),
  ),
  call: b(["value", "value"], true, (a) => {
    throw new CallError(`non-function of type ${typeOf(a[0] as RV)}`);
  }),
  eq: b(["value", "value"], true, (a) => eq(a[0] as RV, a.slice(1) as RV[])),
  ne: b(["value", "value"], false, (a) => val(!eqb(a[0] as RV, a[1] as RV))),
  lt: b(["value", "value"], false, (a) => val(lt(a[0] as RV, a[1] as RV))),
  le: b(["value", "value"], false, (a) => val(lt(a[0] as RV, a[1] as RV) || eqb(a[0] as RV, a[1] as RV))),
  gt: b(["value", "value"], false, (a) => val(!(lt(a[0] as RV, a[1] as RV) || eqb(a[0] as RV, a[1] as RV)))),
  ge: b(["value", "value"], false, (a) => val(!lt(a[0] as RV, a[1] as RV))),
  // kubectl's own
  exists: b(["any", "any"], true, (a) => val(exists(a[0] as GoData, rest(a, 1)))),
  base64decode: b(["string"], false, (a) => val(base64decode(a[0] as string))),
};

/** The function names a kubectl go-template may call. */
export const TEMPLATE_FUNCS: ReadonlySet<string> = new Set(Object.keys(BUILTINS));
