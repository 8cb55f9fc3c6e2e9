/**
 * BIRD filter statements, `function` and `filter` definitions and protocols' `import`/`export` clauses,
 * compiled once into closures. A run copies the route on its first write, stops at the first `accept` or
 * `reject` (also inside a called function, as BIRD does) and reports the deciding line; falling off the end
 * of a filter is an error in BIRD ("did not return accept nor reject"), and the route is rejected.
 */
import { attribute } from "./filter-attrs.ts";
import { parseCall, parseExpr } from "./filter-expr.ts";
import { type ListOpName, listOp } from "./filter-lists.ts";
import {
  type CExpr,
  type Ctx,
  EMPTY_LIST,
  FilterRuntimeError,
  FilterTermination,
  runtime,
  type VType,
  writableAttrs,
} from "./filter-runtime.ts";
import {
  type FunctionDef,
  isKeyword,
  type Outcome,
  RETURNED,
  type Scope,
  type St,
  type Variable,
} from "./filter-scope.ts";
import type { Token, TokenStream } from "./lexer.ts";
import type { BirdFilter, BirdRoute, FilterDecision, FilterResult } from "./types.ts";

const TYPE_WORDS: Record<string, VType> = {
  int: "int",
  bool: "bool",
  ip: "ip",
  prefix: "prefix",
  pair: "pair",
  quad: "quad",
  lc: "lc",
  string: "string",
  bgpmask: "pmask",
  bgppath: "path",
  clist: "clist",
  lclist: "lclist",
};

function isTypeWord(sc: Scope, offset = 0): boolean {
  const t = sc.ts.peek(offset);
  return (
    t.kind === "sym" &&
    !t.quoted &&
    (TYPE_WORDS[t.text] !== undefined || t.text === "ec" || t.text === "eclist")
  );
}

/** `type NAME`: a parameter or local variable declaration. */
function parseDecl(sc: Scope, into: Map<string, Variable>): Variable {
  const ts: TokenStream = sc.ts;
  const typeTok = ts.next();
  if (typeTok.text === "ec" || typeTok.text === "eclist")
    ts.error(typeTok, "not supported yet: extended communities");
  let type = TYPE_WORDS[typeTok.text] as VType;
  let elem: VType | undefined;
  if (ts.accept("set")) {
    if (type === "prefix") type = "pset";
    else if (["int", "pair", "quad", "ip", "lc"].includes(type)) {
      elem = type;
      type = "set";
    } else ts.error(typeTok, "You can't create sets of this type.");
  }
  const name = ts.next();
  if (name.kind !== "sym" || (!name.quoted && (isKeyword(name.text) || attribute(sc.dialect, name.text)))) {
    ts.unexpected(name, "variable name expected");
  }
  if (into.has(name.text)) ts.error(name, `${name.text}: this symbol already defined`);
  const v: Variable = elem
    ? { name: name.text, type, elem, value: undefined }
    : { name: name.text, type, value: undefined };
  into.set(name.text, v);
  return v;
}

/** Local declarations before a body's `{`: `int x; prefix p; { … }`. */
function parseLocals(sc: Scope, into: Map<string, Variable>): Variable[] {
  const out: Variable[] = [];
  while (isTypeWord(sc)) {
    out.push(parseDecl(sc, into));
    sc.ts.expect(";");
  }
  return out;
}

/** `body` with the local variables reset to void before each run. */
function withLocals(vars: Variable[], body: St): St {
  if (vars.length === 0) return body;
  return (c) => {
    for (let i = 0; i < vars.length; i++) (vars[i] as Variable).value = undefined;
    return body(c);
  };
}

function sequence(sts: St[]): St {
  if (sts.length === 0) return () => undefined;
  if (sts.length === 1) return sts[0] as St;
  const n = sts.length;
  return (c) => {
    for (let i = 0; i < n; i++) {
      const o = (sts[i] as St)(c);
      if (o !== undefined) return o;
    }
    return undefined;
  };
}

/** `{ cmds }`, returning the closing brace too. */
function parseBraced(sc: Scope): { body: St; close: Token } {
  const ts: TokenStream = sc.ts;
  ts.expect("{");
  const sts: St[] = [];
  while (!ts.is("}")) {
    if (ts.peek().kind === "eof") ts.unexpected(ts.peek(), "'}' expected");
    sts.push(parseStatement(sc));
  }
  return { body: sequence(sts), close: ts.next() };
}

/** `block`: one command, or `{ cmds }`. */
function parseBlock(sc: Scope): St {
  return sc.ts.is("{") ? parseBraced(sc).body : parseStatement(sc);
}

function decision(sc: Scope, at: Token, accepted: boolean, error?: string): FilterDecision {
  const d: FilterDecision = { accepted, file: at.file, line: at.line, text: sc.ts.lineText(at) };
  if (error) d.error = error;
  return d;
}

/** Skips a `print`-style list of terms (printing is not modelled, but the terms must compile). */
function skipPrintList(sc: Scope): void {
  if (sc.ts.is(";")) return;
  do parseExpr(sc);
  while (sc.ts.accept(","));
}

function parseStatement(sc: Scope): St {
  const ts: TokenStream = sc.ts;
  const t = ts.peek();
  if (t.kind !== "sym") return ts.unexpected(t);
  const word = t.quoted ? "" : t.text;
  switch (word) {
    case "if": {
      ts.next();
      const cond = parseExpr(sc);
      if (cond.type !== "bool") ts.error(cond.at, "If requires boolean expression");
      ts.expect("then");
      const thenSt = parseBlock(sc);
      const elseSt = ts.accept("else") ? parseBlock(sc) : undefined;
      const fc = cond.fn;
      return (c) => {
        const v = fc(c);
        if (typeof v !== "boolean") runtime(t, "If requires boolean expression");
        return v ? thenSt(c) : elseSt ? elseSt(c) : undefined;
      };
    }
    case "accept":
    case "reject":
    case "error": {
      ts.next();
      skipPrintList(sc);
      ts.expect(";");
      const d = decision(sc, t, word === "accept", word === "error" ? "error statement" : undefined);
      return () => d;
    }
    case "print":
    case "printn":
      ts.next();
      skipPrintList(sc);
      ts.expect(";");
      return () => undefined;
    case "return": {
      ts.next();
      const e = parseExpr(sc);
      ts.expect(";");
      const fn = sc.fn;
      if (fn) {
        if (fn.returnType === undefined || fn.returnType === "void") fn.returnType = e.type;
        else if (fn.returnType !== e.type)
          ts.error(t, "not supported yet: a function returning values of different types");
      }
      const fe = e.fn;
      return (c) => {
        c.ret = fe(c);
        return RETURNED;
      };
    }
    case "unset": {
      ts.next();
      ts.expect("(");
      const name = ts.next();
      const attr = attribute(sc.dialect, name.text);
      if (
        !attr ||
        attr.readOnly ||
        !attr.set ||
        ["net", "source", "proto", "from", "dest", "preference"].includes(name.text)
      ) {
        ts.error(name, "unset() needs a dynamic attribute");
      }
      ts.expect(")");
      ts.expect(";");
      const key = name.text;
      return (c) => {
        if (c.route.attrs[key as keyof BirdRoute["attrs"]] === undefined) return undefined;
        (writableAttrs(c) as Record<string, unknown>)[key] = undefined;
        return undefined;
      };
    }
    case "case":
      return ts.error(t, "not supported yet: case");
  }
  const attr = t.quoted ? undefined : attribute(sc.dialect, t.text);
  if (attr) {
    ts.next();
    if (attr.unsupported) ts.error(t, `not supported yet: ${attr.unsupported}`);
    if (!attr.set) ts.error(t, attr.readOnly ?? "This static attribute is read-only.");
    const set = attr.set as NonNullable<typeof attr.set>;
    let value: CExpr;
    if (ts.accept("=")) value = parseExpr(sc);
    else {
      ts.expect(".");
      const op = ts.next();
      if (op.text === "empty") {
        if (!["path", "clist", "lclist"].includes(attr.type))
          ts.error(op, "Can't empty a non-list attribute");
        value = { type: attr.type, fn: () => EMPTY_LIST, at: op };
      } else {
        if (op.text !== "prepend" && op.text !== "add" && op.text !== "delete" && op.text !== "filter") {
          ts.unexpected(op);
        }
        ts.expect("(");
        const arg = parseExpr(sc);
        ts.expect(")");
        value = listOp(ts, op.text as ListOpName, { type: attr.type, fn: attr.get, at: t }, arg, op);
      }
    }
    ts.expect(";");
    const okType =
      value.type === attr.type ||
      (attr.type === "int" && value.type === "origin") ||
      (attr.type === "origin" && value.type === "int");
    if (!okType && value.type !== "void")
      ts.error(value.at, `Setting ${attr.type} attribute to a value of type ${value.type}`);
    const fv = value.fn;
    return (c) => {
      set(c, fv(c), t);
      return undefined;
    };
  }
  ts.next();
  if (ts.is("(")) {
    const call = parseCall(sc, t).stmt;
    ts.expect(";");
    return call;
  }
  if (ts.is("=")) {
    const v = sc.locals?.get(t.text);
    if (!v)
      return ts.error(
        t,
        sc.globals.has(t.text) ? "You may set only variables." : `${t.text}: unknown symbol`,
      );
    ts.next();
    const e = parseExpr(sc);
    ts.expect(";");
    if (e.type !== v.type || e.elem !== v.elem) ts.error(e.at, "Assigning to variable of incompatible type");
    const fe = e.fn;
    return (c) => {
      v.value = fe(c);
      return undefined;
    };
  }
  return ts.unexpected(t);
}

function defineName(sc: Scope, tok: Token): string {
  if (tok.kind !== "sym" || (!tok.quoted && (isKeyword(tok.text) || attribute(sc.dialect, tok.text)))) {
    sc.ts.unexpected(tok, "symbol name expected");
  }
  if (sc.globals.has(tok.text)) sc.ts.error(tok, `${tok.text}: this symbol already defined`);
  return tok.text;
}

/** `function NAME(type a, type b) [locals] { … }` (the `function` keyword already read). */
export function parseFunction(sc: Scope): void {
  const ts: TokenStream = sc.ts;
  const nameTok = ts.next();
  const name = defineName(sc, nameTok);
  const def: FunctionDef = { name, params: [], at: nameTok };
  sc.globals.set(name, { kind: "function", def });
  const locals = new Map<string, Variable>();
  const inner: Scope = { ...sc, locals, fn: def };
  ts.expect("(");
  if (!ts.is(")")) {
    do {
      if (!isTypeWord(inner)) ts.unexpected(ts.peek(), "parameter type expected");
      def.params.push(parseDecl(inner, locals));
    } while (ts.accept(";") || ts.accept(","));
  }
  ts.expect(")");
  const localVars = parseLocals(inner, locals);
  const { body } = parseBraced(inner);
  def.returnType ??= "void";
  def.body = withLocals(localVars, body);
}

/** A compiled filter body with its decision bookkeeping. */
function makeFilter(sc: Scope, name: string | undefined, body: St, close: Token): BirdFilter {
  const ts: TokenStream = sc.ts;
  const end = decision(sc, close, false, "Filter did not return accept nor reject");
  const returned = decision(sc, close, false, "return outside a function");
  const ctx: Ctx = {
    route: undefined as unknown as BirdRoute,
    copied: false,
    attrsCopied: false,
    ret: undefined,
  };
  const run = (route: BirdRoute): FilterResult => {
    ctx.route = route;
    ctx.copied = false;
    ctx.attrsCopied = false;
    ctx.ret = undefined;
    let d: Outcome;
    try {
      d = body(ctx);
      d = d === undefined ? end : d === RETURNED ? returned : d;
    } catch (e) {
      if (e instanceof FilterTermination) d = e.decision;
      else if (e instanceof FilterRuntimeError) {
        d = { accepted: false, file: e.at.file, line: e.at.line, text: ts.lineText(e.at), error: e.reason };
      } else throw e;
    }
    const out = ctx.route;
    ctx.route = undefined as unknown as BirdRoute;
    return { decision: d, route: out };
  };
  return name === undefined ? { run } : { name, run };
}

/** A filter body after `filter [NAME]`: `[locals] { … }`. */
function parseFilterBody(sc: Scope, name: string | undefined): BirdFilter {
  const locals = new Map<string, Variable>();
  const inner: Scope = { ...sc, locals, fn: undefined };
  const localVars = parseLocals(inner, locals);
  const { body, close } = parseBraced(inner);
  return makeFilter(sc, name, withLocals(localVars, body), close);
}

/** `filter NAME { … }` (the `filter` keyword already read). */
export function parseFilterDefinition(sc: Scope): BirdFilter {
  const nameTok = sc.ts.next();
  const name = defineName(sc, nameTok);
  const f = parseFilterBody(sc, name);
  sc.globals.set(name, { kind: "filter", filter: f });
  return f;
}

/** `all` or `none` as a filter, deciding at `at` (the clause that chose it, or the protocol for defaults). */
export function constantFilter(sc: Scope, name: "all" | "none", at: Token, text?: string): BirdFilter {
  const d: FilterDecision = {
    accepted: name === "all",
    file: at.file,
    line: at.line,
    text: text ?? sc.ts.lineText(at),
  };
  return { name, run: (route) => ({ decision: d, route }) };
}

/** What follows `import`/`export`: `all`, `none`, `filter NAME`, `filter { … }` or `where term`. */
export function parseImExport(sc: Scope): BirdFilter {
  const ts: TokenStream = sc.ts;
  const t = ts.peek();
  if (ts.accept("all")) return constantFilter(sc, "all", t);
  if (ts.accept("none")) return constantFilter(sc, "none", t);
  if (ts.accept("filter")) {
    const n = ts.peek();
    if (n.kind === "sym" && !isTypeWord(sc)) {
      ts.next();
      const sym = sc.globals.get(n.text);
      if (!sym) ts.error(n, `${n.text}: unknown symbol`);
      if (sym.kind !== "filter") ts.error(n, "No such filter.");
      return sym.filter;
    }
    return parseFilterBody(sc, undefined);
  }
  if (ts.is("where")) {
    const where = ts.next();
    const cond = parseExpr({ ...sc, locals: undefined, fn: undefined });
    if (cond.type !== "bool") ts.error(cond.at, "If requires boolean expression");
    const yes = decision(sc, where, true);
    const no = decision(sc, where, false);
    const fc = cond.fn;
    const body: St = (c) => {
      const v = fc(c);
      if (typeof v !== "boolean") runtime(where, "If requires boolean expression");
      return v ? yes : no;
    };
    return makeFilter(sc, undefined, body, where);
  }
  return ts.unexpected(t, "all, none, filter or where expected");
}

/** `define NAME = term;` (the `define` keyword already read): a constant. */
export function parseDefine(sc: Scope): void {
  const ts: TokenStream = sc.ts;
  const nameTok = ts.next();
  const name = defineName(sc, nameTok);
  ts.expect("=");
  const e = parseExpr({ ...sc, locals: undefined, fn: undefined });
  ts.expect(";");
  if (!e.constant) ts.error(e.at, "constant expected");
  sc.globals.set(name, { kind: "constant", expr: e });
}
