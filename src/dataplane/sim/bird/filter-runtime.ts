/**
 * What compiled BIRD filters run on: the per-run context (the route, copied on first write), the static
 * types the compiler assigns to expressions, runtime errors, and BIRD's value semantics (filter/filter.c:
 * val_compare, val_same, patmatch, as_path_match, prefix patterns). Values are plain JS values chosen by
 * static type, so a filter run allocates nothing unless it modifies the route.
 */
import { type Ipv4Prefix, maskOf } from "../ipv4.ts";
import type { Token, TokenStream } from "./lexer.ts";
import type { BirdAttributes, BirdRoute, FilterDecision } from "./types.ts";

/**
 * Static types. Runtime representations: int/ip/quad/pair/origin → number (unsigned 32-bit; a pair is
 * `a << 16 | b`), bool → boolean, string → string, prefix → Ipv4Prefix, lc → [a, b, c], path → number[],
 * clist → [a, b][], lclist → [a, b, c][], rts/rtd → the constant's name, pmask/set/pset → matchers.
 * BIRD's "void" (an undefined attribute) is `undefined` in any type.
 */
export type VType =
  | "int"
  | "bool"
  | "ip"
  | "quad"
  | "pair"
  | "lc"
  | "string"
  | "prefix"
  | "path"
  | "clist"
  | "lclist"
  | "pmask"
  | "set"
  | "pset"
  | "rts"
  | "rtd"
  | "origin"
  | "void";

export interface Ctx {
  route: BirdRoute;
  /** `route` is this run's own copy (made on the first write). */
  copied: boolean;
  /** `route.attrs` is this run's own copy. */
  attrsCopied: boolean;
  /** A function's `return` value. */
  ret: unknown;
}

export type Ev = (c: Ctx) => unknown;

/** A compiled expression: its static type and its evaluator. */
export interface CExpr {
  type: VType;
  /** For `set`: the element type. */
  elem?: VType;
  fn: Ev;
  /** Known at compile time (literals and arithmetic on them). */
  constant?: { value: unknown };
  at: Token;
}

/** A filter runtime error (BIRD logs "filters, line N: …" and treats the route as rejected). */
export class FilterRuntimeError {
  constructor(
    readonly at: Token,
    readonly reason: string,
  ) {}
}

/** `accept`/`reject` reached inside a function called from an expression: ends the whole filter. */
export class FilterTermination {
  constructor(readonly decision: FilterDecision) {}
}

export function runtime(at: Token, reason: string): never {
  throw new FilterRuntimeError(at, reason);
}

/**
 * The route's attributes, copied for this run if not yet (copy-on-write). Copies keep every own property
 * (the engine's routes carry more than BirdRoute); Object.assign, because V8's object spread is several
 * times slower here.
 */
export function writableAttrs(c: Ctx): BirdAttributes {
  if (!c.copied) {
    c.route = Object.assign({}, c.route);
    c.copied = true;
  }
  if (!c.attrsCopied) {
    c.route.attrs = Object.assign({}, c.route.attrs);
    c.attrsCopied = true;
  }
  return c.route.attrs;
}

export function writableRoute(c: Ctx): BirdRoute {
  if (!c.copied) {
    c.route = Object.assign({}, c.route);
    c.copied = true;
  }
  return c.route;
}

/** BIRD's enum order (nest/route.h), for `<` on `source`. */
export const RTS_VALUES = [
  "RTS_DUMMY",
  "RTS_STATIC",
  "RTS_INHERIT",
  "RTS_DEVICE",
  "RTS_STATIC_DEVICE",
  "RTS_REDIRECT",
  "RTS_RIP",
  "RTS_OSPF",
  "RTS_OSPF_IA",
  "RTS_OSPF_EXT1",
  "RTS_OSPF_EXT2",
  "RTS_BGP",
  "RTS_PIPE",
  "RTS_BABEL",
];
export const RTD_VALUES_BIRD1 = [
  "RTD_ROUTER",
  "RTD_DEVICE",
  "RTD_BLACKHOLE",
  "RTD_UNREACHABLE",
  "RTD_PROHIBIT",
  "RTD_MULTIPATH",
  "RTD_NONE",
];
export const RTD_VALUES_BIRD2 = [
  "RTD_NONE",
  "RTD_UNICAST",
  "RTD_BLACKHOLE",
  "RTD_UNREACHABLE",
  "RTD_PROHIBIT",
];
export const ORIGIN_VALUES = ["ORIGIN_IGP", "ORIGIN_EGP", "ORIGIN_INCOMPLETE"];

function enumIndex(type: VType, v: unknown): number {
  const s = v as string;
  if (type === "rts") return RTS_VALUES.indexOf(s);
  const i = RTD_VALUES_BIRD1.indexOf(s);
  return i >= 0 ? i : RTD_VALUES_BIRD2.indexOf(s);
}

/** val_compare for two values of one static type: -1, 0, 1; void sorts first ("hack for else"). */
export function compareValues(type: VType, a: unknown, b: unknown): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  switch (type) {
    case "int":
    case "ip":
    case "quad":
    case "pair":
    case "origin":
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case "bool":
      return Number(a) - Number(b);
    case "string":
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case "prefix": {
      const p = a as Ipv4Prefix;
      const q = b as Ipv4Prefix;
      if (p.addr !== q.addr) return p.addr < q.addr ? -1 : 1;
      return p.len < q.len ? -1 : p.len > q.len ? 1 : 0;
    }
    case "lc": {
      const p = a as number[];
      const q = b as number[];
      for (let i = 0; i < 3; i++) if (p[i] !== q[i]) return (p[i] as number) < (q[i] as number) ? -1 : 1;
      return 0;
    }
    case "rts":
    case "rtd": {
      const i = enumIndex(type, a);
      const j = enumIndex(type, b);
      return i < j ? -1 : i > j ? 1 : 0;
    }
    default:
      return Number.NaN; // not comparable; the compiler refuses `<` on these
  }
}

/** val_same: equality, including paths and community lists element by element. */
export function sameValues(type: VType, a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (type === "path") return sameArray(a as number[], b as number[]);
  if (type === "clist" || type === "lclist") {
    const p = a as number[][];
    const q = b as number[][];
    if (p.length !== q.length) return false;
    for (let i = 0; i < p.length; i++) if (!sameArray(p[i] as number[], q[i] as number[])) return false;
    return true;
  }
  return compareValues(type, a, b) === 0;
}

function sameArray(p: number[], q: number[]): boolean {
  if (p.length !== q.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
  return true;
}

/** BIRD's shell-like pattern match (lib/patmatch.c): `*`, `?`, and `\` escaping the next character. */
export function patmatch(p: string, s: string, pi = 0, si = 0): boolean {
  while (pi < p.length) {
    const pc = p[pi];
    if (pc === "?" && si < s.length) {
      pi++;
      si++;
    } else if (pc === "*") {
      if (pi + 1 >= p.length) return true;
      let z = p[pi + 1];
      if (z === "\\" && pi + 2 < p.length) z = p[pi + 2];
      for (;;) {
        while (si < s.length && s[si] !== z) si++;
        if (si >= s.length) return false;
        if (patmatch(p, s, pi + 1, si)) return true;
        si++;
      }
    } else {
      if (pc === "\\" && pi + 1 < p.length) pi++;
      if (si >= s.length || p[pi] !== s[si]) return false;
      pi++;
      si++;
    }
  }
  return si >= s.length;
}

/** One element of an AS path mask `[= … =]`. */
export type MaskItem =
  | { kind: "asn"; lo: number; hi: number }
  | { kind: "any" }
  | { kind: "one" }
  | { kind: "expr"; fn: Ev; at: Token };

/** as_path_match: the whole path must match the mask; `*` matches any run, `?` one ASN. */
export function pathMatches(items: MaskItem[], c: Ctx, path: number[], i = 0, j = 0): boolean {
  while (i < items.length) {
    const it = items[i] as MaskItem;
    if (it.kind === "any") {
      if (i === items.length - 1) return true;
      for (let k = j; k <= path.length; k++) if (pathMatches(items, c, path, i + 1, k)) return true;
      return false;
    }
    if (j >= path.length) return false;
    const asn = path[j] as number;
    if (it.kind === "asn") {
      if (asn < it.lo || asn > it.hi) return false;
    } else if (it.kind === "expr") {
      const v = it.fn(c);
      if (typeof v !== "number") runtime(it.at, "Error resolving path mask template: value not an integer");
      if (asn !== v) return false;
    }
    i++;
    j++;
  }
  return j === path.length;
}

/** One prefix pattern `addr/len{lo,hi}` of a prefix set. */
export interface PrefixPattern {
  addr: number;
  len: number;
  lo: number;
  hi: number;
}

/** A prefix matches `ip2/len2{l,h}` when the first min(len1, len2) bits agree and l <= len1 <= h. */
export function prefixSetMatches(set: PrefixPattern[], p: Ipv4Prefix): boolean {
  for (let i = 0; i < set.length; i++) {
    const pat = set[i] as PrefixPattern;
    if (p.len < pat.lo || p.len > pat.hi) continue;
    if (((p.addr ^ pat.addr) & maskOf(Math.min(p.len, pat.len))) >>> 0 === 0) return true;
  }
  return false;
}

/** A set literal `[ … ]` of ints, pairs, quads, IPs, large communities or enum constants. */
export interface ValueSet {
  elem: VType;
  /** Numeric ranges (int, pair, quad, ip), inclusive. */
  ranges: number[];
  /** Pair items by component: aLo, aHi, bLo, bHi per item. */
  pairParts: number[];
  /** Large community items by component: 6 numbers per item. */
  lcParts: number[];
  /** Enum constants. */
  names: string[];
}

export function setHas(set: ValueSet, v: unknown): boolean {
  if (typeof v === "string") return set.names.includes(v);
  if (typeof v === "number") {
    const r = set.ranges;
    for (let i = 0; i < r.length; i += 2) if (v >= (r[i] as number) && v <= (r[i + 1] as number)) return true;
    const pp = set.pairParts;
    const a = v >>> 16;
    const b = v & 0xffff;
    for (let i = 0; i < pp.length; i += 4) {
      if (
        a >= (pp[i] as number) &&
        a <= (pp[i + 1] as number) &&
        b >= (pp[i + 2] as number) &&
        b <= (pp[i + 3] as number)
      ) {
        return true;
      }
    }
    return false;
  }
  if (Array.isArray(v)) {
    const lp = set.lcParts;
    for (let i = 0; i < lp.length; i += 6) {
      let ok = true;
      for (let k = 0; k < 3; k++) {
        const x = v[k] as number;
        if (x < (lp[i + 2 * k] as number) || x > (lp[i + 2 * k + 1] as number)) ok = false;
      }
      if (ok) return true;
    }
  }
  return false;
}

/** A community as the u32 BIRD stores (`a << 16 | b`). */
export function communityValue(c: [number, number]): number {
  return ((c[0] << 16) | c[1]) >>> 0;
}

export const EMPTY_LIST: readonly never[] = Object.freeze([]);

export function konst(type: VType, value: unknown, at: Token, elem?: VType): CExpr {
  const fn: Ev = () => value;
  return elem ? { type, elem, fn, constant: { value }, at } : { type, fn, constant: { value }, at };
}

/** The value of an expression known at compile time (a set item, a pair member). */
export function constValue(ts: TokenStream, e: CExpr): unknown {
  if (!e.constant) ts.error(e.at, "constant expected");
  return e.constant.value;
}

/** Types that compare with each other (BIRD converts IPv4 addresses and quads implicitly). */
export function sameKind(a: VType, b: VType): boolean {
  return a === b || ((a === "ip" || a === "quad") && (b === "ip" || b === "quad"));
}
