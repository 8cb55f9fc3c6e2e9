/**
 * kubectl's JSONPath dialect (client-go util/jsonpath): `{…}` actions in literal text, fields, `[n]`,
 * slices `[a:b:c]` (negative indexes), `[*]`, unions `[a,b]`, `['key']`, `..` recursive descent, filters
 * `[?(@.x=="y")]` with == != < > <= >= and bare existence, `{range …}{end}`, quoted literals with escapes.
 * Results of one action are separated by a space; maps and slices print as compact JSON, scalars as Go's
 * fmt.Print does. Missing keys give nothing (kubectl's --allow-missing-template-keys=true).
 */
import { formatV, type GoData, goJson, goTypeName, isMap } from "./go-fmt.ts";
import { formatU, goUnquote } from "./go-template-parse.ts";

export class JsonPathError extends Error {}

interface Param {
  value: number;
  known: boolean;
  derived: boolean;
}

type JNode =
  | { type: "list"; nodes: JNode[] }
  | { type: "text"; text: string }
  | { type: "field"; name: string }
  | { type: "array"; params: [Param, Param, Param] }
  | { type: "filter"; left: JNode & { type: "list" }; right: JNode & { type: "list" }; op: string }
  | { type: "int"; value: bigint }
  | { type: "float"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "wildcard" }
  | { type: "recursive" }
  | { type: "union"; lists: (JNode & { type: "list" })[] }
  | { type: "identifier"; name: string };
type ListNode = JNode & { type: "list" };

const isTerminator = (r: string) => r === "" || " \t\r\n.,[]$@{}".includes(r);
const isAlphaNumeric = (r: string) => r === "_" || /^[\p{L}\p{Nd}]$/u.test(r);

class Parser {
  input = "";
  pos = 0;
  start = 0;
  width = 0;
  root: ListNode = { type: "list", nodes: [] };

  parse(text: string): ListNode {
    this.input = text;
    this.root = { type: "list", nodes: [] };
    this.pos = 0;
    this.parseText(this.root);
    return this.root;
  }

  private consume(): string {
    const v = this.input.slice(this.start, this.pos);
    this.start = this.pos;
    return v;
  }
  private next(): string {
    if (this.pos >= this.input.length) {
      this.width = 0;
      return "";
    }
    const ch = String.fromCodePoint(this.input.codePointAt(this.pos)!);
    this.width = ch.length;
    this.pos += this.width;
    return ch;
  }
  private peek(): string {
    const r = this.next();
    this.pos -= this.width;
    return r;
  }
  private backup() {
    this.pos -= this.width;
  }

  private parseText(cur: ListNode): void {
    const x = this.input.indexOf("{", this.pos);
    if (x < 0) {
      this.pos = this.input.length;
      if (this.pos > this.start) cur.nodes.push({ type: "text", text: this.consume() });
      return;
    }
    this.pos = x;
    if (this.pos > this.start) cur.nodes.push({ type: "text", text: this.consume() });
    this.pos += 1;
    this.consume();
    const node: ListNode = { type: "list", nodes: [] };
    cur.nodes.push(node);
    this.parseInsideAction(node);
  }

  private parseInsideAction(cur: ListNode): void {
    for (;;) {
      const rest = this.input.slice(this.pos);
      if (rest.startsWith("}")) {
        this.pos += 1;
        this.consume();
        this.parseText(this.root);
        return;
      }
      if (rest.startsWith("[?(")) {
        this.parseFilter(cur);
        continue;
      }
      if (rest.startsWith("..")) {
        const last = cur.nodes[cur.nodes.length - 1];
        if (last?.type === "recursive") throw new JsonPathError("invalid multiple recursive descent");
        this.pos += 2;
        this.consume();
        cur.nodes.push({ type: "recursive" });
        if (isAlphaNumeric(this.peek())) this.parseField(cur);
        continue;
      }
      const r = this.next();
      if (r === "" || r === "\r" || r === "\n") throw new JsonPathError("unclosed action");
      if (r === " " || r === "@" || r === "$") this.consume();
      else if (r === "[") this.parseArray(cur);
      else if (r === '"' || r === "'") this.parseQuote(cur, r);
      else if (r === ".") this.parseField(cur);
      else if (r === "+" || r === "-" || /^\p{Nd}$/u.test(r)) {
        this.backup();
        this.parseNumber(cur);
      } else if (isAlphaNumeric(r)) {
        this.backup();
        this.parseIdentifier(cur);
      } else throw new JsonPathError(`unrecognized character in action: ${formatU(r)}`);
    }
  }

  private parseIdentifier(cur: ListNode) {
    for (;;) {
      const r = this.next();
      if (isTerminator(r)) {
        this.backup();
        break;
      }
    }
    const value = this.consume();
    if (value === "true" || value === "false") cur.nodes.push({ type: "bool", value: value === "true" });
    else cur.nodes.push({ type: "identifier", name: value });
  }

  private parseNumber(cur: ListNode) {
    const r = this.peek();
    if (r === "+" || r === "-") this.next();
    for (;;) {
      const c = this.next();
      if (c !== "." && !/^\p{Nd}$/u.test(c)) {
        this.backup();
        break;
      }
    }
    const value = this.consume();
    if (/^[+-]?\d+$/.test(value)) cur.nodes.push({ type: "int", value: BigInt(value) });
    else if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(value)) cur.nodes.push({ type: "float", value: Number(value) });
    else throw new JsonPathError(`cannot parse number ${value}`);
  }

  private parseArray(cur: ListNode) {
    for (;;) {
      const r = this.next();
      if (r === "" || r === "\n") throw new JsonPathError("unterminated array");
      if (r === "]") break;
    }
    let text = this.consume().slice(1, -1);
    if (text === "*") text = ":";
    const parts = text.split(",");
    if (parts.length > 1) {
      cur.nodes.push({ type: "union", lists: parts.map((p) => parseAction(`[${p.trim()}]`)) });
      return;
    }
    const key = /^'([^']*)'$/.exec(text);
    if (key) {
      cur.nodes.push(...parseAction(`.${key[1]}`).nodes);
      return;
    }
    const m = /^(-?\d*)(:-?\d*)?(:-?\d*)?$/.exec(text);
    if (!m) throw new JsonPathError(`invalid array index ${text}`);
    const groups = [m[1] ?? "", m[2] ?? "", m[3] ?? ""];
    const params = [0, 1, 2].map((): Param => ({ value: 0, known: false, derived: false })) as [
      Param,
      Param,
      Param,
    ];
    for (let i = 0; i < 3; i++) {
      let v = groups[i]!;
      if (v !== "") {
        if (i > 0) v = v.slice(1);
        if (i > 0 && v === "") params[i]!.known = false;
        else {
          if (!/^-?\d+$/.test(v)) throw new JsonPathError(`array index ${v} is not a number`);
          params[i] = { value: Number(v), known: true, derived: false };
        }
      } else if (i === 1) params[1] = { value: params[0].value + 1, known: true, derived: true };
    }
    cur.nodes.push({ type: "array", params });
  }

  private parseFilter(cur: ListNode) {
    this.pos += 3;
    this.consume();
    let begin = false;
    let end = false;
    let pair = "";
    for (;;) {
      const r = this.next();
      if (r === "" || r === "\n") throw new JsonPathError("unterminated filter");
      if (r === '"' || r === "'") {
        if (!begin) {
          begin = true;
          pair = r;
          continue;
        }
        if (this.input[this.pos - 2] !== "\\" && r === pair) end = true;
      } else if (r === ")" && begin === end) break;
    }
    if (this.next() !== "]") throw new JsonPathError("unclosed array expect ]");
    const text = this.consume().slice(0, -2);
    const m = /^([^!<>=]+)([!<>=]+)(.+?)$/s.exec(text);
    if (!m)
      cur.nodes.push({
        type: "filter",
        left: parseAction(text),
        right: { type: "list", nodes: [] },
        op: "exists",
      });
    else cur.nodes.push({ type: "filter", left: parseAction(m[1]!), right: parseAction(m[3]!), op: m[2]! });
  }

  private parseQuote(cur: ListNode, quote: string) {
    for (;;) {
      const r = this.next();
      if (r === "" || r === "\n") throw new JsonPathError("unterminated quoted string");
      if (r === quote && this.input[this.pos - 2] !== "\\") break;
    }
    const value = this.consume();
    const s = goUnquote(value, true);
    if (s === null) throw new JsonPathError(`unquote string ${value} error invalid syntax`);
    cur.nodes.push({ type: "text", text: s });
  }

  private parseField(cur: ListNode) {
    this.consume();
    for (;;) {
      const r = this.next();
      if (r === "\\") this.next();
      else if (isTerminator(r)) {
        this.backup();
        break;
      }
    }
    const value = this.consume();
    cur.nodes.push(value === "*" ? { type: "wildcard" } : { type: "field", name: value.replace(/\\/g, "") });
  }
}

/** The expression inside one `{…}`, as client-go's parseAction wraps and unwraps it. */
function parseAction(text: string): ListNode {
  const root = new Parser().parse(`{${text}}`);
  return root.nodes[0] as ListNode;
}

/** A value found by the walk; `undefined` never appears (absent values are simply not in the list). */
type Found = GoData;

const sortedKeys = (m: object) => Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function basicKind(x: Found): string {
  if (typeof x === "boolean") return "bool";
  if (typeof x === "bigint" || (typeof x === "number" && Number.isInteger(x))) return "int";
  if (typeof x === "number") return "float";
  if (typeof x === "string") return "string";
  throw new JsonPathError("invalid type for comparison");
}

function compare(op: string, a: Found, b: Found): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 !== k2) throw new JsonPathError("incompatible types for comparison");
  const x = k1 === "int" ? BigInt(a as number) : a;
  const y = k2 === "int" ? BigInt(b as number) : b;
  if ((op === "<" || op === ">" || op === "<=" || op === ">=") && k1 === "bool")
    throw new JsonPathError("invalid type for comparison");
  switch (op) {
    case "==":
      return x === y;
    case "!=":
      return x !== y;
    case "<":
      return (x as number) < (y as number);
    case ">":
      return (x as number) > (y as number);
    case "<=":
      return (x as number) <= (y as number);
    case ">=":
      return (x as number) >= (y as number);
  }
  throw new JsonPathError(`unrecognized filter operator ${op}`);
}

export class JsonPath {
  private readonly root: ListNode;
  private beginRange = 0;
  private inRange = 0;
  private endRange = 0;
  private lastEndNode: JNode | undefined;

  /** Parses `text`; throws JsonPathError with client-go's message on a syntax error. */
  constructor(
    readonly text: string,
    readonly allowMissingKeys = true,
  ) {
    this.root = new Parser().parse(text);
  }

  /** The printed result for `data`, as kubectl's `-o jsonpath` prints it. */
  execute(data: GoData): string {
    this.beginRange = this.inRange = this.endRange = 0;
    return this.findResults(data, this.root.nodes)
      .map((results) => results.map((r) => this.printOne(r)).join(" "))
      .join("");
  }

  /** Every action's results (custom-columns uses them one by one). */
  findAll(data: GoData): Found[][] {
    this.beginRange = this.inRange = this.endRange = 0;
    return this.findResults(data, this.root.nodes);
  }

  private printOne(r: Found): string {
    if (r === null) return "null";
    if (Array.isArray(r) || isMap(r)) return goJson(r);
    return formatV(r);
  }

  private findResults(data: GoData, nodes: JNode[]): Found[][] {
    const full: Found[][] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const results = this.walk([data], node);
      if (this.endRange > 0 && this.endRange <= this.inRange) {
        this.endRange--;
        this.lastEndNode = node;
        break;
      }
      if (this.beginRange > 0) {
        this.beginRange--;
        this.inRange++;
        if (results.length > 0)
          for (const v of results) full.push(...this.findResults(v, nodes.slice(i + 1)));
        else this.findResults(null, nodes.slice(i + 1));
        this.inRange--;
        for (let k = i + 1; k < nodes.length; k++)
          if (nodes[k] === this.lastEndNode) {
            i = k;
            break;
          }
        continue;
      }
      full.push(results);
    }
    return full;
  }

  private walk(input: Found[], node: JNode): Found[] {
    switch (node.type) {
      case "list": {
        let cur = input;
        for (const n of node.nodes) cur = this.walk(cur, n);
        return cur;
      }
      case "text":
        return [node.text];
      case "field":
        return this.evalField(input, node.name);
      case "array":
        return this.evalArray(input, node.params);
      case "filter":
        return this.evalFilter(input, node);
      case "int":
      case "float":
      case "bool":
        return input.map(() => (node.type === "int" ? node.value : node.value));
      case "wildcard":
        return input.flatMap((v) => children(v));
      case "recursive":
        return this.evalRecursive(input);
      case "union":
        return node.lists.flatMap((l) => this.walk(input, l));
      case "identifier":
        if (node.name === "range") {
          this.beginRange++;
          return input;
        }
        if (node.name === "end") {
          if (this.inRange > 0) {
            this.endRange++;
            return [];
          }
          throw new JsonPathError("not in range, nothing to end");
        }
        throw new JsonPathError(`unrecognized identifier ${node.name}`);
    }
  }

  private evalField(input: Found[], name: string): Found[] {
    const results: Found[] = [];
    if (input.length === 0) return results;
    for (const v of input) {
      if (v === null) continue;
      if (isMap(v) && Object.hasOwn(v, name)) results.push(v[name]!);
    }
    if (results.length === 0 && !this.allowMissingKeys) throw new JsonPathError(`${name} is not found`);
    return results;
  }

  private evalArray(input: Found[], template: [Param, Param, Param]): Found[] {
    const result: Found[] = [];
    for (const v of input) {
      if (v === null) continue;
      if (!Array.isArray(v)) throw new JsonPathError(`${goTypeName(v)} is not array or slice`);
      const p = template.map((x) => ({ ...x })) as [Param, Param, Param];
      const len = v.length;
      if (!p[0].known) p[0].value = 0;
      if (p[0].value < 0) p[0].value += len;
      if (!p[1].known) p[1].value = len;
      if (p[1].value < 0 || (p[1].value === 0 && p[1].derived)) p[1].value += len;
      if (p[1].value !== p[0].value) {
        if (p[0].value >= len || p[0].value < 0)
          throw new JsonPathError(`array index out of bounds: index ${p[0].value}, length ${len}`);
        if (p[1].value > len || p[1].value < 0)
          throw new JsonPathError(`array index out of bounds: index ${p[1].value - 1}, length ${len}`);
        if (p[0].value > p[1].value)
          throw new JsonPathError(`starting index ${p[0].value} is greater than ending index ${p[1].value}`);
      } else return result;
      const sliced = v.slice(p[0].value, p[1].value);
      let step = 1;
      if (p[2].known) {
        if (p[2].value <= 0) throw new JsonPathError("step must be > 0");
        step = p[2].value;
      }
      for (let i = 0; i < sliced.length; i += step) result.push(sliced[i]!);
    }
    return result;
  }

  private evalRecursive(input: Found[]): Found[] {
    const result: Found[] = [];
    for (const v of input) {
      if (v === null) continue;
      const kids = children(v);
      if (kids.length > 0) {
        result.push(v);
        result.push(...this.evalRecursive(kids));
      }
    }
    return result;
  }

  private evalFilter(input: Found[], node: JNode & { type: "filter" }): Found[] {
    const results: Found[] = [];
    for (const v of input) {
      if (!Array.isArray(v))
        throw new JsonPathError(
          `${v === null ? "<nil>" : formatV(v)} is not array or slice and cannot be filtered`,
        );
      for (const item of v) {
        let lefts: Found[];
        try {
          lefts = this.walk([item], node.left);
        } catch (e) {
          if (node.op === "exists") continue;
          throw e;
        }
        if (node.op === "exists") {
          if (lefts.length > 0) results.push(item);
          continue;
        }
        if (lefts.length === 0) continue;
        if (lefts.length > 1) throw new JsonPathError("can only compare one element at a time");
        const rights = this.walk([item], node.right);
        if (rights.length === 0) continue;
        if (rights.length > 1) throw new JsonPathError("can only compare one element at a time");
        if (!["<", ">", "==", "!=", "<=", ">="].includes(node.op))
          throw new JsonPathError(`unrecognized filter operator ${node.op}`);
        if (compare(node.op, lefts[0]!, rights[0]!)) results.push(item);
      }
    }
    return results;
  }
}

/** A map's values (keys sorted), a slice's elements, a string's bytes; nothing for scalars. */
function children(v: Found): Found[] {
  if (v === null) return [];
  if (Array.isArray(v)) return v;
  if (isMap(v)) return sortedKeys(v).map((k) => v[k]!);
  if (typeof v === "string") return [...Buffer.from(v)].map((b) => BigInt(b));
  return [];
}
