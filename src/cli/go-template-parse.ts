/**
 * Go's text/template parser (Go 1.22+; the lexer is go-template-lex.ts), reproduced for kubectl's
 * `-o go-template`: the same grammar (actions, pipelines, parentheses, variables, if/else/with/range/break/continue, comments,
 * `{{-`/`-}}` trimming, define/template/block) and the same parse errors, worded as Go words them
 * (`template: output:1: …`).
 */

import { type Item, type ItemType, itemString, lex, quoteItem, TemplateError } from "./go-template-lex.ts";

export { formatU, TemplateError } from "./go-template-lex.ts";

export type Node =
  | { type: "text"; pos: number; text: string }
  | { type: "action"; pos: number; pipe: PipeNode }
  | { type: "if" | "with" | "range"; pos: number; pipe: PipeNode; list: ListNode; elseList?: ListNode }
  | ListNode
  | { type: "break" | "continue" | "end" | "else"; pos: number }
  | PipeNode
  | CommandNode
  | { type: "field"; pos: number; ident: string[] }
  | { type: "chain"; pos: number; node: Node; field: string[] }
  | { type: "identifier"; pos: number; ident: string }
  | VariableNode
  | { type: "dot" | "nil"; pos: number }
  | { type: "bool"; pos: number; val: boolean }
  | NumberNode
  | { type: "string"; pos: number; quoted: string; text: string }
  | { type: "template"; pos: number; name: string; pipe?: PipeNode };

export interface ListNode {
  type: "list";
  pos: number;
  nodes: Node[];
}
export interface PipeNode {
  type: "pipe";
  pos: number;
  isAssign: boolean;
  decl: VariableNode[];
  cmds: CommandNode[];
}
export interface CommandNode {
  type: "command";
  pos: number;
  args: Node[];
}
export interface VariableNode {
  type: "variable";
  pos: number;
  ident: string[];
}
export interface NumberNode {
  type: "number";
  pos: number;
  text: string;
  isInt: boolean;
  isFloat: boolean;
  int: bigint;
  float: number;
}

/** A node as Go's String() prints it (the `<…>` of an execution error). */
export function nodeString(n: Node): string {
  switch (n.type) {
    case "text":
      return n.text;
    case "action":
      return `{{${nodeString(n.pipe)}}}`;
    case "if":
    case "with":
    case "range":
      return `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}${n.elseList ? `{{else}}${nodeString(n.elseList)}` : ""}{{end}}`;
    case "list":
      return n.nodes.map(nodeString).join("");
    case "break":
    case "continue":
    case "end":
    case "else":
      return `{{${n.type}}}`;
    case "pipe": {
      const decl =
        n.decl.length > 0 ? `${n.decl.map(nodeString).join(", ")}${n.isAssign ? " = " : " := "}` : "";
      return decl + n.cmds.map(nodeString).join(" | ");
    }
    case "command":
      return n.args.map((a) => (a.type === "pipe" ? `(${nodeString(a)})` : nodeString(a))).join(" ");
    case "field":
      return n.ident.map((i) => `.${i}`).join("");
    case "chain":
      return (
        (n.node.type === "pipe" ? `(${nodeString(n.node)})` : nodeString(n.node)) +
        n.field.map((f) => `.${f}`).join("")
      );
    case "identifier":
      return n.ident;
    case "variable":
      return n.ident.join(".");
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(n.val);
    case "number":
      return n.text;
    case "string":
      return n.quoted;
    case "template":
      return `{{template ${JSON.stringify(n.name)}${n.pipe ? ` ${nodeString(n.pipe)}` : ""}}}`;
  }
}

/** A parsed template: its body and the templates it defines (`define`, `block`). */
export interface ParsedTemplate {
  root: ListNode;
  defs: Map<string, ListNode>;
}

function isEmptyTree(n: Node | undefined): boolean {
  if (!n) return true;
  if (n.type === "list") return n.nodes.every(isEmptyTree);
  if (n.type === "text") return n.text.trim() === "";
  return false;
}

/**
 * strconv.Unquote for "…", `…` and '…' literals; null when the literal is malformed. With `extend`
 * (client-go's UnquoteExtend), '…' is a string like "…" rather than one character.
 */
export function goUnquote(s: string, extend = false): string | null {
  const q = s[0];
  if (s.length < 2 || s[s.length - 1] !== q) return null;
  const body = s.slice(1, -1);
  if (q === "`") return body.includes("`") ? null : body.replace(/\r/g, "");
  if (q !== '"' && q !== "'") return null;
  let out = "";
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c === q || c === "\n") return null;
    if (c !== "\\") {
      out += c;
      i++;
      continue;
    }
    const e = body[i + 1];
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
    };
    if (e !== undefined && simple[e] !== undefined) {
      out += simple[e];
      i += 2;
    } else if (e === q) {
      out += q;
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return null;
      const v = Number.parseInt(hex, 16);
      if (e === "x") out += Buffer.from([v]).toString("latin1");
      else {
        if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return null;
        out += String.fromCodePoint(v);
      }
      i += 2 + n;
    } else if (e !== undefined && e >= "0" && e <= "7") {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || Number.parseInt(oct, 8) > 255) return null;
      out += String.fromCharCode(Number.parseInt(oct, 8));
      i += 4;
    } else return null;
  }
  if (q === "'" && !extend && [...out].length !== 1) return null;
  return out;
}

function parseNumber(pos: number, text: string, typ: ItemType): NumberNode {
  const n: NumberNode = { type: "number", pos, text, isInt: false, isFloat: false, int: 0n, float: 0 };
  if (typ === "charConstant") {
    const ch = goUnquote(text);
    if (ch === null) throw new TemplateError("invalid syntax");
    n.isInt = n.isFloat = true;
    n.int = BigInt(ch.codePointAt(0)!);
    n.float = Number(n.int);
    return n;
  }
  const clean = text.replace(/_/g, "");
  const intMatch = /^[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(clean);
  if (intMatch) {
    const neg = clean.startsWith("-");
    let body = clean.replace(/^[+-]/, "");
    if (/^0[0-7]+$/.test(body)) body = `0o${body.slice(1)}`;
    const v = BigInt(body) * (neg ? -1n : 1n);
    if (v >= -(2n ** 63n) && v < 2n ** 63n) {
      n.isInt = n.isFloat = true;
      n.int = v;
      n.float = Number(v);
      return n;
    }
    throw new TemplateError(`integer overflow: ${quoteItem(text)}`);
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(clean)) {
    n.isFloat = true;
    n.float = Number(clean);
    if (Number.isInteger(n.float) && Math.abs(n.float) < 2 ** 63) {
      n.isInt = true;
      n.int = BigInt(n.float);
    }
    return n;
  }
  throw new TemplateError(`illegal number syntax: ${quoteItem(text)}`);
}

/** Parses a template named `name`; `funcs` are the function names it may call. */
export function parseTemplate(name: string, text: string, funcs: ReadonlySet<string>): ParsedTemplate {
  const defs = new Map<string, ListNode>();
  const items = lex(text);
  let idx = 0;
  const token: Item[] = [];
  let peekCount = 0;
  let vars = ["$"];
  let actionLine = 0;
  let rangeDepth = 0;
  const nextItem = () => items[Math.min(idx++, items.length - 1)]!;
  const next = (): Item => {
    if (peekCount > 0) peekCount--;
    else token[0] = nextItem();
    return token[peekCount]!;
  };
  const backup = () => {
    peekCount++;
  };
  const backup2 = (t1: Item) => {
    token[1] = t1;
    peekCount = 2;
  };
  const backup3 = (t2: Item, t1: Item) => {
    token[1] = t1;
    token[2] = t2;
    peekCount = 3;
  };
  const peek = (): Item => {
    if (peekCount > 0) return token[peekCount - 1]!;
    peekCount = 1;
    token[0] = nextItem();
    return token[0];
  };
  const nextNonSpace = (): Item => {
    for (;;) {
      const t = next();
      if (t.typ !== "space") return t;
    }
  };
  const peekNonSpace = (): Item => {
    const t = nextNonSpace();
    backup();
    return t;
  };
  const errorf = (msg: string): never => {
    throw new TemplateError(`template: ${name}:${token[0]?.line ?? 1}: ${msg}`);
  };
  const unexpected = (t: Item, context: string): never => {
    if (t.typ === "error") {
      let extra = "";
      if (actionLine !== 0 && actionLine !== t.line) {
        extra = ` in action started at ${name}:${actionLine}`;
        if (t.val.endsWith(" action")) extra = extra.slice(" in action".length);
      }
      return errorf(`${itemString(t)}${extra}`);
    }
    return errorf(`unexpected ${itemString(t)} in ${context}`);
  };
  const expect = (typ: ItemType, context: string): Item => {
    const t = nextNonSpace();
    if (t.typ !== typ) unexpected(t, context);
    return t;
  };

  const itemList = (): [ListNode, Node] => {
    const list: ListNode = { type: "list", pos: peekNonSpace().pos, nodes: [] };
    while (peekNonSpace().typ !== "eof") {
      const n = textOrAction();
      if (n.type === "end" || n.type === "else") return [list, n];
      list.nodes.push(n);
    }
    return errorf("unexpected EOF");
  };
  const textOrAction = (): Node => {
    const t = nextNonSpace();
    if (t.typ === "text") return { type: "text", pos: t.pos, text: t.val };
    if (t.typ === "leftDelim") {
      actionLine = t.line;
      try {
        return action();
      } finally {
        actionLine = 0;
      }
    }
    return unexpected(t, "input");
  };
  const action = (): Node => {
    const t = nextNonSpace();
    switch (t.typ) {
      case "template":
      case "block": {
        const context = `${t.typ} clause`;
        const nameToken = nextNonSpace();
        if (nameToken.typ !== "string" && nameToken.typ !== "rawString") unexpected(nameToken, context);
        const tname = goUnquote(nameToken.val);
        if (tname === null) errorf("invalid syntax");
        let pipe: PipeNode | undefined;
        if (t.typ === "block") {
          pipe = pipeline(context, "rightDelim");
          const saved = vars;
          vars = ["$"];
          const [body, end] = itemList();
          vars = saved;
          if (end.type !== "end") errorf(`unexpected ${nodeString(end)} in ${context}`);
          addDef(tname!, body);
        } else if (nextNonSpace().typ !== "rightDelim") {
          backup();
          pipe = pipeline(context, "rightDelim");
        }
        return { type: "template", pos: nameToken.pos, name: tname!, ...(pipe ? { pipe } : {}) };
      }
      case "define":
        return unexpected(t, "command");
      case "break":
      case "continue": {
        const c = nextNonSpace();
        if (c.typ !== "rightDelim") unexpected(c, `{{${t.typ}}}`);
        if (rangeDepth === 0) errorf(`{{${t.typ}}} outside {{range}}`);
        return { type: t.typ, pos: t.pos };
      }
      case "else": {
        const p = peekNonSpace();
        if (p.typ === "if" || p.typ === "with") return { type: "else", pos: p.pos };
        return { type: "else", pos: expect("rightDelim", "else").pos };
      }
      case "end":
        return { type: "end", pos: expect("rightDelim", "end").pos };
      case "if":
      case "range":
      case "with":
        return control(t.typ);
    }
    backup();
    const p = peek();
    return { type: "action", pos: p.pos, pipe: pipeline("command", "rightDelim") };
  };
  const control = (context: "if" | "range" | "with"): Node => {
    const mark = vars.length;
    try {
      const pipe = pipeline(context, "rightDelim");
      if (context === "range") rangeDepth++;
      let [list, nextNode] = itemList();
      if (context === "range") rangeDepth--;
      let elseList: ListNode | undefined;
      if (nextNode.type === "else") {
        if ((context === "if" && peek().typ === "if") || (context === "with" && peek().typ === "with")) {
          next();
          elseList = { type: "list", pos: nextNode.pos, nodes: [control(context)] };
        } else {
          [elseList, nextNode] = itemList();
          if (nextNode.type !== "end") errorf(`expected end; found ${nodeString(nextNode)}`);
        }
      }
      return { type: context, pos: pipe.pos, pipe, list, ...(elseList ? { elseList } : {}) };
    } finally {
      vars = vars.slice(0, mark);
    }
  };
  const pipeline = (context: string, end: ItemType): PipeNode => {
    const pipe: PipeNode = { type: "pipe", pos: peekNonSpace().pos, isAssign: false, decl: [], cmds: [] };
    for (;;) {
      const v = peekNonSpace();
      if (v.typ !== "variable") break;
      next();
      const tokenAfterVariable = peek();
      const nx = peekNonSpace();
      if (nx.typ === "assign" || nx.typ === "declare") {
        pipe.isAssign = nx.typ === "assign";
        nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: v.val.split(".") });
        vars.push(v.val);
      } else if (nx.typ === "char" && nx.val === ",") {
        nextNonSpace();
        pipe.decl.push({ type: "variable", pos: v.pos, ident: v.val.split(".") });
        vars.push(v.val);
        if (context === "range" && pipe.decl.length < 2) {
          const p = peekNonSpace().typ;
          if (p === "variable" || p === "rightDelim" || p === "rightParen") continue;
          errorf("range can only initialize variables");
        }
        errorf(`too many declarations in ${context}`);
      } else if (tokenAfterVariable.typ === "space") backup3(v, tokenAfterVariable);
      else backup2(v);
      break;
    }
    for (;;) {
      const t = nextNonSpace();
      if (t.typ === end) {
        if (pipe.cmds.length === 0) errorf(`missing value for ${context}`);
        pipe.cmds.slice(1).forEach((c, i) => {
          if (["bool", "dot", "nil", "number", "string"].includes(c.args[0]!.type))
            errorf(`non executable command in pipeline stage ${i + 2}`);
        });
        return pipe;
      }
      switch (t.typ) {
        case "bool":
        case "charConstant":
        case "dot":
        case "field":
        case "identifier":
        case "number":
        case "nil":
        case "rawString":
        case "string":
        case "variable":
        case "leftParen":
          backup();
          pipe.cmds.push(command());
          break;
        default:
          unexpected(t, context);
      }
    }
  };
  const command = (): CommandNode => {
    const cmd: CommandNode = { type: "command", pos: peekNonSpace().pos, args: [] };
    for (;;) {
      peekNonSpace();
      const operandNode = operand();
      if (operandNode) cmd.args.push(operandNode);
      const t = next();
      if (t.typ === "space") continue;
      if (t.typ === "rightDelim" || t.typ === "rightParen") backup();
      else if (t.typ !== "pipe") unexpected(t, "operand");
      break;
    }
    if (cmd.args.length === 0) errorf("empty command");
    return cmd;
  };
  const operand = (): Node | null => {
    let node = term();
    if (!node) return null;
    if (peek().typ === "field") {
      const chain = { type: "chain" as const, pos: peek().pos, node, field: [] as string[] };
      while (peek().typ === "field") chain.field.push(next().val.slice(1));
      switch (node.type) {
        case "field":
          node = { type: "field", pos: chain.pos, ident: [...node.ident, ...chain.field] };
          break;
        case "variable":
          node = { type: "variable", pos: chain.pos, ident: [...node.ident, ...chain.field] };
          break;
        case "bool":
        case "string":
        case "number":
        case "nil":
        case "dot":
          errorf(`unexpected . after term ${quoteItem(nodeString(node))}`);
          break;
        default:
          node = chain;
      }
    }
    return node;
  };
  const term = (): Node | null => {
    const t = nextNonSpace();
    switch (t.typ) {
      case "identifier":
        if (!funcs.has(t.val)) errorf(`function ${quoteItem(t.val)} not defined`);
        return { type: "identifier", pos: t.pos, ident: t.val };
      case "dot":
        return { type: "dot", pos: t.pos };
      case "nil":
        return { type: "nil", pos: t.pos };
      case "variable": {
        const ident = t.val.split(".");
        if (!vars.includes(ident[0]!)) errorf(`undefined variable ${quoteItem(ident[0]!)}`);
        return { type: "variable", pos: t.pos, ident };
      }
      case "field":
        return { type: "field", pos: t.pos, ident: t.val.slice(1).split(".") };
      case "bool":
        return { type: "bool", pos: t.pos, val: t.val === "true" };
      case "charConstant":
      case "number":
        try {
          return parseNumber(t.pos, t.val, t.typ);
        } catch (e) {
          return errorf((e as Error).message);
        }
      case "leftParen":
        return pipeline("parenthesized pipeline", "rightParen");
      case "string":
      case "rawString": {
        const s = goUnquote(t.val);
        if (s === null) errorf("invalid syntax");
        return { type: "string", pos: t.pos, quoted: t.val, text: s! };
      }
    }
    backup();
    return null;
  };

  const addDef = (defName: string, body: ListNode) => {
    const existing = defs.get(defName);
    if (existing && !isEmptyTree(existing) && !isEmptyTree(body))
      errorf(`template: multiple definition of template ${JSON.stringify(defName)}`);
    if (!existing || isEmptyTree(existing)) defs.set(defName, body);
  };
  const root: ListNode = { type: "list", pos: peek().pos, nodes: [] };
  while (peek().typ !== "eof") {
    if (peek().typ === "leftDelim") {
      const delim = next();
      if (nextNonSpace().typ === "define") {
        const context = "define clause";
        const nameToken = nextNonSpace();
        if (nameToken.typ !== "string" && nameToken.typ !== "rawString") unexpected(nameToken, context);
        const defName = goUnquote(nameToken.val);
        if (defName === null) errorf("invalid syntax");
        expect("rightDelim", context);
        const saved = vars;
        vars = ["$"];
        const [body, end] = itemList();
        vars = saved;
        if (end.type !== "end") errorf(`unexpected ${nodeString(end)} in ${context}`);
        addDef(defName!, body);
        continue;
      }
      backup2(delim);
    }
    const n = textOrAction();
    if (n.type === "end" || n.type === "else") errorf(`unexpected ${nodeString(n)}`);
    root.nodes.push(n);
  }
  return { root, defs };
}
