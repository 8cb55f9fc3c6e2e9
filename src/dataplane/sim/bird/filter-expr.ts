/**
 * BIRD filter expressions (filter/config.Y `term`), parsed and compiled in one pass into typed closures.
 * Precedence as BIRD's grammar: `&&`/`||` (one level, left), comparisons (non-associative), `+ -`,
 * `* /`, prefix `!`, postfix `.len`/`.first`/…; types are checked at compile time, so a filter that would
 * always fail at run time is refused with its position instead.
 */
import { maskOf } from "../ipv4.ts";
import { attribute } from "./filter-attrs.ts";
import { listOp } from "./filter-lists.ts";
import { parsePathMask, parseSet } from "./filter-literals.ts";
import {
  type CExpr,
  type Ctx,
  communityValue,
  compareValues,
  type Ev,
  FilterTermination,
  konst,
  type MaskItem,
  ORIGIN_VALUES,
  type PrefixPattern,
  pathMatches,
  patmatch,
  prefixSetMatches,
  RTD_VALUES_BIRD1,
  RTD_VALUES_BIRD2,
  RTS_VALUES,
  runtime,
  sameKind,
  sameValues,
  setHas,
  type ValueSet,
  type VType,
} from "./filter-runtime.ts";
import { isKeyword, RETURNED, type Scope, type St, type Variable } from "./filter-scope.ts";
import type { Token, TokenStream } from "./lexer.ts";

const ENUMS: Record<string, VType> = {};
for (const n of RTS_VALUES) ENUMS[n] = "rts";
for (const n of ORIGIN_VALUES) ENUMS[n] = "origin";

function enumType(sc: Scope, name: string): VType | undefined {
  if (ENUMS[name]) return ENUMS[name];
  const rtd = sc.dialect === "bird1" ? RTD_VALUES_BIRD1 : RTD_VALUES_BIRD2;
  return rtd.includes(name) ? "rtd" : undefined;
}

const DUMMY_CTX = {} as Ctx;

/** Marks `e` constant when its operands are, evaluating it now (errors stay for run time). */
function folded(e: CExpr, ...operands: CExpr[]): CExpr {
  if (!operands.every((o) => o.constant)) return e;
  try {
    return { ...e, constant: { value: e.fn(DUMMY_CTX) } };
  } catch {
    return e;
  }
}

function typeName(t: VType): string {
  return t === "rts" || t === "rtd" || t === "origin" ? "enum" : t;
}

function intOperands(sc: Scope, a: CExpr, b: CExpr, op: string): void {
  if (a.type !== "int" || b.type !== "int") {
    sc.ts.error(
      a.at,
      `Can't operate with values of types ${typeName(a.type)} and ${typeName(b.type)} ('${op}')`,
    );
  }
}

const COMPARABLE = new Set<VType>([
  "int",
  "bool",
  "ip",
  "quad",
  "pair",
  "string",
  "prefix",
  "lc",
  "rts",
  "rtd",
  "origin",
]);

function binary(sc: Scope, op: string, a: CExpr, b: CExpr, at: Token): CExpr {
  const fa = a.fn;
  const fb = b.fn;
  const incompatible = (x: unknown, y: unknown) => x === undefined || y === undefined;
  switch (op) {
    case "+":
    case "-":
    case "*":
    case "/": {
      intOperands(sc, a, b, op);
      const calc =
        op === "+"
          ? (x: number, y: number) => (x + y) >>> 0
          : op === "-"
            ? (x: number, y: number) => (x - y) >>> 0
            : op === "*"
              ? (x: number, y: number) => Math.imul(x, y) >>> 0
              : (x: number, y: number) => {
                  if (y === 0) runtime(at, "Mother told me not to divide by 0");
                  return Math.floor(x / y) >>> 0;
                };
      const fn: Ev = (c) => {
        const x = fa(c);
        const y = fb(c);
        if (incompatible(x, y)) runtime(at, "Can't operate with values of incompatible types");
        return calc(x as number, y as number);
      };
      return folded({ type: "int", fn, at }, a, b);
    }
    case "&&":
    case "||": {
      if (a.type !== "bool" || b.type !== "bool")
        sc.ts.error(at, "Can't do boolean operation on non-booleans");
      const isOr = op === "||";
      const fn: Ev = (c) => {
        const x = fa(c);
        if (typeof x !== "boolean") runtime(at, "Can't do boolean operation on non-booleans");
        if (x === isOr) return x;
        const y = fb(c);
        if (typeof y !== "boolean") runtime(at, "Can't do boolean operation on non-booleans");
        return y;
      };
      return folded({ type: "bool", fn, at }, a, b);
    }
    case "=":
    case "!=": {
      const eqTypes =
        sameKind(a.type, b.type) && (COMPARABLE.has(a.type) || ["path", "clist", "lclist"].includes(a.type));
      if (!eqTypes)
        sc.ts.error(at, `Can't compare values of types ${typeName(a.type)} and ${typeName(b.type)}`);
      const t = a.type;
      const want = op === "=";
      return folded({ type: "bool", fn: (c) => sameValues(t, fa(c), fb(c)) === want, at }, a, b);
    }
    case "<":
    case ">":
    case "<=":
    case ">=": {
      if (!sameKind(a.type, b.type) || !COMPARABLE.has(a.type)) {
        sc.ts.error(at, `Can't compare values of types ${typeName(a.type)} and ${typeName(b.type)}`);
      }
      const t = a.type;
      // BIRD compiles `a > b` as `b < a`: with a void operand, `undefined < 5` holds and `5 > undefined` does not.
      const fn: Ev =
        op === "<"
          ? (c) => compareValues(t, fa(c), fb(c)) === -1
          : op === ">"
            ? (c) => compareValues(t, fb(c), fa(c)) === -1
            : op === "<="
              ? (c) => compareValues(t, fa(c), fb(c)) !== 1
              : (c) => compareValues(t, fb(c), fa(c)) !== 1;
      return folded({ type: "bool", fn, at }, a, b);
    }
    case "~":
    case "!~":
      return match(sc, a, b, op === "~", at);
    default:
      return sc.ts.error(at, `syntax error, unexpected '${op}'`);
  }
}

/** `~`: membership, pattern, prefix, path mask and community tests (val_in_range). */
function match(sc: Scope, a: CExpr, b: CExpr, want: boolean, at: Token): CExpr {
  const fa = a.fn;
  const fb = b.fn;
  const name = want ? "~" : "!~";
  let test: ((x: unknown, y: unknown, c: Ctx) => boolean) | undefined;
  const L = a.type;
  const R = b.type;
  if (L === "path" && R === "pmask") test = (x, y, c) => pathMatches(y as MaskItem[], c, x as number[]);
  else if (L === "int" && R === "path") test = (x, y) => (y as number[]).includes(x as number);
  else if ((L === "pair" || L === "quad" || L === "ip") && R === "clist") {
    test = (x, y) => {
      const v = x as number;
      const list = y as [number, number][];
      for (let i = 0; i < list.length; i++) {
        const e = list[i] as [number, number];
        if (e[0] === v >>> 16 && e[1] === (v & 0xffff)) return true;
      }
      return false;
    };
  } else if (L === "lc" && R === "lclist") {
    test = (x, y) => {
      const v = x as number[];
      const list = y as number[][];
      for (let i = 0; i < list.length; i++) {
        const e = list[i] as number[];
        if (e[0] === v[0] && e[1] === v[1] && e[2] === v[2]) return true;
      }
      return false;
    };
  } else if (L === "string" && R === "string") test = (x, y) => patmatch(y as string, x as string);
  else if (L === "ip" && R === "prefix") {
    test = (x, y) => {
      const p = y as { addr: number; mask: number };
      return ((x as number) & p.mask) >>> 0 === p.addr;
    };
  } else if (L === "prefix" && R === "prefix") {
    test = (x, y) => {
      const n = x as { addr: number; len: number };
      const p = y as { addr: number; len: number; mask: number };
      return n.len >= p.len && (n.addr & p.mask) >>> 0 === p.addr;
    };
  } else if (L === "prefix" && R === "pset")
    test = (x, y) => prefixSetMatches(y as PrefixPattern[], x as never);
  else if (R === "set") {
    const elem = b.elem as VType;
    // Loops, not `.some(…)`: a closure over `y` would be allocated on every run.
    if (sameKind(L, elem)) test = (x, y) => setHas(y as ValueSet, x);
    else if (L === "clist" && (elem === "pair" || elem === "quad")) {
      test = (x, y) => {
        const list = x as [number, number][];
        for (let i = 0; i < list.length; i++)
          if (setHas(y as ValueSet, communityValue(list[i] as [number, number]))) return true;
        return false;
      };
    } else if ((L === "lclist" && elem === "lc") || (L === "path" && elem === "int")) {
      test = (x, y) => {
        const list = x as unknown[];
        for (let i = 0; i < list.length; i++) if (setHas(y as ValueSet, list[i])) return true;
        return false;
      };
    }
  }
  if (!test) sc.ts.error(at, `${name} applied on unknown type pair (${typeName(L)}, ${typeName(R)})`);
  const t = test;
  const fn: Ev = (c) => {
    const x = fa(c);
    const y = fb(c);
    if (x === undefined || y === undefined) runtime(at, `${name} applied on unknown type pair`);
    return t(x, y, c) === want;
  };
  return folded({ type: "bool", fn, at }, a, b);
}

const BINARY_PREC: Record<string, number> = {
  "&&": 1,
  "||": 1,
  "=": 2,
  "!=": 2,
  "<": 2,
  ">": 2,
  "<=": 2,
  ">=": 2,
  "~": 2,
  "!~": 2,
  "+": 3,
  "-": 3,
  "*": 4,
  "/": 4,
};

function binaryOp(sc: Scope): string | undefined {
  const t = sc.ts.peek();
  if (t.kind !== "op") return undefined;
  // `- empty -` is a literal, not a subtraction; `=]` ends a path mask.
  return BINARY_PREC[t.text] !== undefined ? t.text : undefined;
}

/** A whole `term`. */
export function parseExpr(sc: Scope): CExpr {
  return parseBinary(sc, 1);
}

function parseBinary(sc: Scope, minPrec: number): CExpr {
  let left = parseUnary(sc);
  for (;;) {
    const op = binaryOp(sc);
    if (!op) return left;
    const prec = BINARY_PREC[op] as number;
    if (prec < minPrec) return left;
    const at = sc.ts.next();
    const right = parseBinary(sc, prec + 1);
    left = binary(sc, op, left, right, at);
    if (prec === 2) {
      const again = binaryOp(sc);
      if (again && BINARY_PREC[again] === 2) sc.ts.unexpected(sc.ts.peek());
    }
  }
}

function parseUnary(sc: Scope): CExpr {
  const ts: TokenStream = sc.ts;
  if (ts.is("!")) {
    const at = ts.next();
    const a = parseUnary(sc);
    if (a.type !== "bool") ts.error(at, "Not applied to non-boolean");
    const fa = a.fn;
    return folded(
      {
        type: "bool",
        fn: (c) => {
          const v = fa(c);
          if (typeof v !== "boolean") runtime(at, "Not applied to non-boolean");
          return !v;
        },
        at,
      },
      a,
    );
  }
  let e = parsePrimary(sc);
  while (ts.is(".")) {
    ts.next();
    e = member(sc, e, ts.next());
  }
  return e;
}

/** `.len`, `.ip`, `.first`, `.last`, `.mask(n)`. */
function member(sc: Scope, e: CExpr, name: Token): CExpr {
  const f = e.fn;
  const at = name;
  switch (name.text) {
    case "len": {
      if (!["prefix", "path", "clist", "lclist"].includes(e.type))
        sc.ts.error(at, "Prefix, path, clist or eclist expected");
      const isPrefix = e.type === "prefix";
      return {
        type: "int",
        fn: (c) => {
          const v = f(c);
          if (v === undefined) runtime(at, "Prefix, path, clist or eclist expected");
          return isPrefix ? (v as { len: number }).len : (v as unknown[]).length;
        },
        at,
      };
    }
    case "ip":
      if (e.type !== "prefix") sc.ts.error(at, "Prefix expected");
      return {
        type: "ip",
        fn: (c) => {
          const v = f(c) as { addr: number } | undefined;
          if (v === undefined) runtime(at, "Prefix expected");
          return v.addr;
        },
        at,
      };
    case "first":
    case "last": {
      if (e.type !== "path") sc.ts.error(at, "AS path expected");
      const first = name.text === "first";
      return {
        type: "int",
        fn: (c) => {
          const p = f(c) as number[] | undefined;
          if (p === undefined) runtime(at, "AS path expected");
          return p.length === 0 ? 0 : first ? p[0] : p[p.length - 1];
        },
        at,
      };
    }
    case "mask": {
      if (e.type !== "ip") sc.ts.error(at, "You can mask only IP addresses");
      sc.ts.expect("(");
      const n = parseExpr(sc);
      sc.ts.expect(")");
      if (n.type !== "int") sc.ts.error(n.at, "Integer expected");
      const fnN = n.fn;
      return {
        type: "ip",
        fn: (c) => {
          const ip = f(c);
          const len = fnN(c);
          if (typeof len !== "number") runtime(at, "Integer expected");
          if (typeof ip !== "number") runtime(at, "You can mask only IP addresses");
          return (ip & maskOf(Math.min(len, 32))) >>> 0;
        },
        at,
      };
    }
    default:
      return sc.ts.error(at, `not supported yet: .${name.text}`);
  }
}

function parsePrimary(sc: Scope): CExpr {
  const ts: TokenStream = sc.ts;
  const t = ts.peek();
  if (t.kind === "num") {
    ts.next();
    return konst("int", t.value, t);
  }
  if (t.kind === "ip") {
    ts.next();
    if (ts.is("/") && ts.peek(1).kind === "num") {
      ts.next();
      return konst("prefix", ts.prefix(t, ts.next().value), t);
    }
    return konst("ip", t.value, t);
  }
  if (t.kind === "str") {
    ts.next();
    return konst("string", t.text, t);
  }
  if (t.kind === "op") {
    if (t.text === "(") return parseParen(sc);
    if (t.text === "[") return parseSet(ts, () => parseBinary(sc, 3));
    if (t.text === "[=") return parsePathMask(ts, () => parsePrimary(sc));
    if (t.text === "+" && ts.is("empty", 1) && ts.is("+", 2)) {
      ts.pos += 3;
      return konst("path", [], t);
    }
    if (t.text === "-") {
      let dashes = 0;
      while (ts.is("-", dashes)) dashes++;
      if (dashes <= 3 && ts.is("empty", dashes)) {
        for (let i = 0; i < dashes; i++)
          if (!ts.is("-", dashes + 1 + i)) ts.unexpected(ts.peek(dashes + 1 + i));
        ts.pos += 2 * dashes + 1;
        if (dashes === 2) ts.error(t, "not supported yet: extended communities");
        return konst(dashes === 1 ? "clist" : "lclist", [], t);
      }
    }
    return ts.unexpected(t);
  }
  if (t.kind !== "sym") return ts.unexpected(t);
  const name = t.text;
  if (!t.quoted) {
    if (name === "true" || name === "false") {
      ts.next();
      return konst("bool", name === "true", t);
    }
    if (name === "defined") {
      ts.next();
      ts.expect("(");
      const a = parseExpr(sc);
      ts.expect(")");
      const fa = a.fn;
      return { type: "bool", fn: (c) => fa(c) !== undefined, at: t };
    }
    if (name === "prepend" || name === "add" || name === "delete" || name === "filter") {
      ts.next();
      ts.expect("(");
      const list = parseExpr(sc);
      ts.expect(",");
      const arg = parseExpr(sc);
      ts.expect(")");
      return listOp(sc.ts, name, list, arg, t);
    }
    const en = enumType(sc, name);
    if (en) {
      ts.next();
      return konst(en, name, t);
    }
    const attr = attribute(sc.dialect, name);
    if (attr) {
      ts.next();
      if (attr.unsupported) ts.error(t, `not supported yet: ${attr.unsupported}`);
      return { type: attr.type, fn: attr.get, at: t };
    }
    if (name === "roa_check" || name === "case" || isKeyword(name)) ts.unexpected(t);
  }
  ts.next();
  if (ts.is("(")) return parseCall(sc, t).expr;
  const local = sc.locals?.get(name);
  if (local) {
    const v = local;
    return { type: v.type, elem: v.elem, fn: () => v.value, at: t };
  }
  const g = sc.globals.get(name);
  if (g?.kind === "constant") return { ...g.expr, at: t };
  if (!g) return ts.error(t, `${name}: unknown symbol`);
  return ts.error(t, `${name}: variable expected`);
}

/** `( term )`, a pair `(a, b)` or a large community `(a, b, c)`. */
function parseParen(sc: Scope): CExpr {
  const ts: TokenStream = sc.ts;
  const open = ts.expect("(");
  if (ts.is("rt") || ts.is("ro") || ts.is("generic") || ts.is("unknown"))
    ts.error(ts.peek(), "not supported yet: extended communities");
  const first = parseExpr(sc);
  if (ts.accept(")")) return first;
  const parts = [first];
  while (ts.accept(",")) parts.push(parseExpr(sc));
  ts.expect(")");
  if (parts.length > 3) ts.error(open, "syntax error in tuple");
  for (const p of parts)
    if (p.type !== "int") ts.error(p.at, "Can't operate with value of non-integer type in tuple constructor");
  const fns = parts.map((p) => p.fn);
  if (parts.length === 2) {
    const [fa, fb] = fns as [Ev, Ev];
    const fn: Ev = (c) => {
      const a = fa(c);
      const b = fb(c);
      if (typeof a !== "number" || typeof b !== "number")
        runtime(open, "Can't operate with value of non-integer type in pair constructor");
      if (a > 0xffff || b > 0xffff)
        runtime(open, "Can't operate with value out of bounds in pair constructor");
      return ((a << 16) | b) >>> 0;
    };
    const e = folded({ type: "pair", fn, at: open }, ...parts);
    if (parts.every((p) => p.constant) && !e.constant)
      ts.error(open, "Can't operate with value out of bounds in pair constructor");
    return e;
  }
  const [fa, fb, fc] = fns as [Ev, Ev, Ev];
  const fn: Ev = (c) => {
    const a = fa(c);
    const b = fb(c);
    const d = fc(c);
    if (typeof a !== "number" || typeof b !== "number" || typeof d !== "number")
      runtime(open, "Can't operate with value of non-integer type in LC constructor");
    return [a, b, d];
  };
  return folded({ type: "lc", fn, at: open }, ...parts);
}

/** A call `name(args)`: as a statement (its decision ends the filter) and as an expression (its value). */
export function parseCall(sc: Scope, nameTok: Token): { stmt: St; expr: CExpr } {
  const ts: TokenStream = sc.ts;
  const sym = sc.globals.get(nameTok.text);
  if (!sym) ts.error(nameTok, `${nameTok.text}: unknown symbol`);
  if (sym.kind !== "function") ts.error(nameTok, "You can't call something which is not a function. Really.");
  const def = sym.def;
  ts.expect("(");
  const args: CExpr[] = [];
  if (!ts.is(")")) {
    do args.push(parseExpr(sc));
    while (ts.accept(","));
  }
  ts.expect(")");
  if (args.length !== def.params.length)
    ts.error(nameTok, `Wrong number of arguments for function ${def.name}.`);
  args.forEach((a, i) => {
    const p = def.params[i] as Variable;
    if (!sameKind(a.type, p.type) || a.elem !== p.elem)
      ts.error(a.at, `Assigning to variable of incompatible type (${p.name} is ${typeName(p.type)})`);
  });
  const params = def.params;
  const fns = args.map((a) => a.fn);
  const n = fns.length;
  const assign = (c: Ctx) => {
    for (let i = 0; i < n; i++) (params[i] as Variable).value = (fns[i] as Ev)(c);
  };
  const stmt: St = (c) => {
    assign(c);
    const o = def.body!(c);
    return o === RETURNED ? undefined : o;
  };
  const returnType = def.returnType;
  const fn: Ev = (c) => {
    assign(c);
    c.ret = undefined;
    const o = def.body!(c);
    if (o === RETURNED) return c.ret;
    if (o !== undefined) throw new FilterTermination(o);
    return undefined;
  };
  return { stmt, expr: { type: returnType ?? "void", fn, at: nameTok } };
}
