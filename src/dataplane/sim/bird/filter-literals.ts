/**
 * Filter literals that need more than one token: AS path masks `[= 65000 * =]`, sets `[ 1, 2..5, (65000, *),
 * RTS_BGP ]` and prefix sets `[ 10.0.0.0/8{16,24}, 172.16.0.0/12+ ]`. Their items must be constants.
 */
import {
  type CExpr,
  constValue,
  konst,
  type MaskItem,
  type PrefixPattern,
  sameKind,
  type ValueSet,
  type VType,
} from "./filter-runtime.ts";
import type { Token, TokenStream } from "./lexer.ts";

/** `[= 65000 * ? 1..5 x =]`. */
export function parsePathMask(ts: TokenStream, primary: () => CExpr): CExpr {
  const open = ts.expect("[=");
  const items: MaskItem[] = [];
  let dynamic = false;
  while (!ts.is("=]")) {
    const t = ts.peek();
    if (ts.accept("*")) items.push({ kind: "any" });
    else if (ts.accept("?")) items.push({ kind: "one" });
    else if (t.kind === "num") {
      ts.next();
      if (ts.accept("..")) {
        const hi = ts.next();
        if (hi.kind !== "num") ts.unexpected(hi);
        items.push({ kind: "asn", lo: t.value, hi: hi.value });
      } else items.push({ kind: "asn", lo: t.value, hi: t.value });
    } else if (t.kind === "sym" || ts.is("(")) {
      const e = primary();
      if (e.type !== "int") ts.error(e.at, "Error resolving path mask template: value not an integer");
      if (e.constant)
        items.push({ kind: "asn", lo: e.constant.value as number, hi: e.constant.value as number });
      else {
        items.push({ kind: "expr", fn: e.fn, at: e.at });
        dynamic = true;
      }
    } else ts.unexpected(t);
  }
  ts.expect("=]");
  const e = konst("pmask", items, open);
  return dynamic ? { type: "pmask", fn: () => items, at: open } : e;
}

/** `[ … ]`: a prefix set, or a set of ints, pairs, IPs, large communities or enum constants. */
export function parseSet(ts: TokenStream, term: () => CExpr): CExpr {
  const open = ts.expect("[");
  if (ts.peek().kind === "ip" && ts.is("/", 1)) return parsePrefixSet(ts, open);
  const set: ValueSet = { elem: "void", ranges: [], pairParts: [], lcParts: [], names: [] };
  const setElem = (t: VType, at: Token) => {
    if (set.elem === "void") set.elem = t;
    else if (!sameKind(set.elem, t)) ts.error(at, "Set-incompatible type");
  };
  const cnum = (): number => {
    const e = term();
    if (e.type !== "int") ts.error(e.at, "Integer expected");
    return constValue(ts, e) as number;
  };
  const part = (): [number, number] => {
    if (ts.accept("*")) return [0, 0xffffffff];
    const lo = cnum();
    return ts.accept("..") ? [lo, cnum()] : [lo, lo];
  };
  do {
    const t = ts.peek();
    if (ts.is("(")) {
      ts.next();
      const parts = [part()];
      while (ts.accept(",")) parts.push(part());
      ts.expect(")");
      if (ts.is("..")) ts.error(ts.peek(), "not supported yet: ranges of tuples");
      if (parts.length === 2) {
        setElem("pair", t);
        for (const [lo, hi] of parts) {
          if (hi !== 0xffffffff && hi > 0xffff) ts.error(t, "Value out of range");
          if (hi < lo) ts.error(t, "From value cannot be higher that To value in pair sets");
        }
        set.pairParts.push(...parts.flatMap(([lo, hi]) => [lo, Math.min(hi, 0xffff)]));
      } else if (parts.length === 3) {
        setElem("lc", t);
        set.lcParts.push(...parts.flat());
      } else {
        // `(term)`: a parenthesised integer
        const [lo, hi] = parts[0] as [number, number];
        if (lo !== hi) ts.error(t, "syntax error in set item");
        setElem("int", t);
        set.ranges.push(lo, hi);
      }
      continue;
    }
    const e = term();
    const v = constValue(ts, e);
    if (e.type === "rts" || e.type === "rtd" || e.type === "origin") {
      setElem(e.type, e.at);
      if (e.type === "origin") set.ranges.push(v as number, v as number);
      else set.names.push(v as string);
      continue;
    }
    if (!["int", "ip", "quad", "pair"].includes(e.type)) ts.error(e.at, "Set-incompatible type");
    setElem(e.type, e.at);
    let hi = v as number;
    if (ts.accept("..")) {
      const h = term();
      if (!sameKind(h.type, e.type)) ts.error(h.at, "Set-incompatible type");
      hi = constValue(ts, h) as number;
    }
    set.ranges.push(v as number, hi);
  } while (ts.accept(","));
  ts.expect("]");
  return konst("set", set, open, set.elem);
}

/** `[ 10.0.0.0/8, 10.0.0.0/8+, 10.0.0.0/8-, 10.0.0.0/8{16,24} ]`. */
function parsePrefixSet(ts: TokenStream, open: Token): CExpr {
  const patterns: PrefixPattern[] = [];
  do {
    const ipTok = ts.next();
    if (ipTok.kind !== "ip") ts.unexpected(ipTok, "prefix expected");
    ts.expect("/");
    const lenTok = ts.next();
    if (lenTok.kind !== "num") ts.unexpected(lenTok);
    const { addr, len } = ts.prefix(ipTok, lenTok.value);
    let lo = len;
    let hi = len;
    if (ts.accept("+")) hi = 32;
    else if (ts.accept("-")) lo = 0;
    else if (ts.is("{")) {
      const brace = ts.next();
      const l = ts.next();
      ts.expect(",");
      const h = ts.next();
      ts.expect("}");
      if (l.kind !== "num" || h.kind !== "num" || !(l.value <= h.value && h.value <= 32)) {
        ts.error(brace, `Invalid prefix pattern range: {${l.text}, ${h.text}}.`);
      }
      lo = l.value;
      hi = h.value;
    }
    patterns.push({ addr, len, lo, hi });
  } while (ts.accept(","));
  ts.expect("]");
  return konst("pset", patterns, open);
}
