/**
 * AS path and community list operations: `prepend`, `add`, `delete`, `filter` (filter/filter.c
 * FI_PATH_PREPEND and FI_CLIST_ADD_DEL). They return a new list and never modify the route's own arrays;
 * a list that would not change is returned as is, as BIRD does.
 */
import {
  type CExpr,
  communityValue,
  type Ev,
  runtime,
  setHas,
  type ValueSet,
  type VType,
} from "./filter-runtime.ts";
import type { Token, TokenStream } from "./lexer.ts";

export type ListOpName = "prepend" | "add" | "delete" | "filter";

function elementTest(list: VType, arg: CExpr): ((e: unknown, y: unknown) => boolean) | undefined {
  if (arg.type === "set") {
    const elem = arg.elem;
    if (list === "clist" && (elem === "pair" || elem === "quad" || elem === "ip")) {
      return (e, y) => setHas(y as ValueSet, communityValue(e as [number, number]));
    }
    if (list === "lclist" && elem === "lc") return (e, y) => setHas(y as ValueSet, e);
    if (list === "path" && elem === "int") return (e, y) => setHas(y as ValueSet, e);
    return undefined;
  }
  if (list === "clist" && (arg.type === "pair" || arg.type === "quad" || arg.type === "ip")) {
    return (e, y) => communityValue(e as [number, number]) === y;
  }
  if (list === "lclist" && arg.type === "lc") {
    return (e, y) => {
      const a = e as number[];
      const b = y as number[];
      return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
    };
  }
  if (list === "path" && arg.type === "int") return (e, y) => e === y;
  return undefined;
}

export function listOp(ts: TokenStream, op: ListOpName, list: CExpr, arg: CExpr, at: Token): CExpr {
  const fl = list.fn;
  const fa = arg.fn;
  const type = list.type;
  if (op === "prepend") {
    if (type !== "path") ts.error(at, "Can't prepend to non-path");
    if (arg.type !== "int") ts.error(arg.at, "Can't prepend non-integer");
    const fn: Ev = (c) => {
      const p = fl(c);
      const a = fa(c);
      if (!Array.isArray(p)) runtime(at, "Can't prepend to non-path");
      if (typeof a !== "number") runtime(at, "Can't prepend non-integer");
      return [a, ...p];
    };
    return { type: "path", fn, at };
  }
  if (type !== "path" && type !== "clist" && type !== "lclist")
    ts.error(at, `Can't ${op} on a value of type ${type}`);
  if (op === "add") {
    if (type === "path") ts.error(at, "Can't add to path");
    if (arg.type === "set") ts.error(arg.at, "Can't add set");
    if (type === "clist" && arg.type !== "pair" && arg.type !== "quad" && arg.type !== "ip") {
      ts.error(arg.at, "Can't add non-pair");
    }
    if (type === "lclist" && arg.type !== "lc") ts.error(arg.at, "Can't add non-lc");
    const fn: Ev =
      type === "clist"
        ? (c) => {
            const l = fl(c) as [number, number][] | undefined;
            const v = fa(c);
            if (!Array.isArray(l)) runtime(at, "Can't add to non-clist");
            if (typeof v !== "number") runtime(at, "Can't add non-pair");
            const a = v >>> 16;
            const b = v & 0xffff;
            for (let i = 0; i < l.length; i++) {
              const e = l[i] as [number, number];
              if (e[0] === a && e[1] === b) return l;
            }
            return [...l, [a, b]];
          }
        : (c) => {
            const l = fl(c) as [number, number, number][] | undefined;
            const v = fa(c) as [number, number, number] | undefined;
            if (!Array.isArray(l)) runtime(at, "Can't add to non-lclist");
            if (!Array.isArray(v)) runtime(at, "Can't add non-lc");
            for (let i = 0; i < l.length; i++) {
              const e = l[i] as number[];
              if (e[0] === v[0] && e[1] === v[1] && e[2] === v[2]) return l;
            }
            return [...l, [v[0], v[1], v[2]]];
          };
    return { type, fn, at };
  }
  if (op === "filter" && arg.type !== "set") ts.error(arg.at, `Can't filter ${arg.type}`);
  const test = elementTest(type, arg);
  if (!test) ts.error(arg.at, `Can't ${op} a value of type ${arg.type} from a ${type}`);
  const keepMatching = op === "filter";
  const fn: Ev = (c) => {
    const l = fl(c) as unknown[] | undefined;
    const y = fa(c);
    if (!Array.isArray(l) || y === undefined) runtime(at, `Can't ${op}: void operand`);
    let out: unknown[] | undefined;
    for (let i = 0; i < l.length; i++) {
      if (test(l[i], y) !== keepMatching) {
        out = l.filter((e) => test(e, y) === keepMatching);
        break;
      }
    }
    return out ?? l;
  };
  return { type, fn, at };
}
