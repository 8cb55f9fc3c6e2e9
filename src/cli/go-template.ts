/**
 * Go's text/template execution as kubectl's `-o go-template` runs it: data decoded from JSON (maps, slices,
 * int64/float64, strings, bools, nil), option missingkey=default (a missing key prints `<no value>`), the
 * builtin functions plus kubectl's `exists` and `base64decode`, and Go's execution errors word for word
 * (`template: output:1:6: executing "output" at <.a.b>: nil pointer evaluating interface {}.b`).
 */
import { formatV, type GoData, goQuote, goTypeName, isMap } from "./go-fmt.ts";
import {
  Break,
  BUILTINS,
  type Builtin,
  CallError,
  Continue,
  concrete,
  type Final,
  INVALID,
  isTrue,
  MISSING,
  type OkRV,
  type Param,
  type RV,
  TEMPLATE_FUNCS,
  typeOf,
  val,
} from "./go-template-funcs.ts";
import {
  type CommandNode,
  type ListNode,
  type Node,
  nodeString,
  type PipeNode,
  parseTemplate,
  TemplateError,
  type VariableNode,
} from "./go-template-parse.ts";

export { TemplateError } from "./go-template-parse.ts";

/** Go's text/template message (its limit is 100000 nested calls; JavaScript's stack allows fewer). */
const MAX_DEPTH_MESSAGE = "exceeded maximum template depth (100000)";

export class GoTemplate {
  readonly root: ListNode;
  readonly defs: Map<string, ListNode>;
  constructor(
    readonly text: string,
    readonly name = "output",
  ) {
    const parsed = parseTemplate(name, text, TEMPLATE_FUNCS);
    this.root = parsed.root;
    this.defs = parsed.defs;
    if (!this.defs.has(name)) this.defs.set(name, this.root);
  }

  /** Runs the template on `data`; throws TemplateError (with the output written so far) on failure. */
  execute(data: GoData): string {
    const s = new ExecState(this.name, this.text, data, this.defs);
    try {
      s.walk(val(data), this.root);
    } catch (e) {
      if (e instanceof TemplateError) throw new ExecError(e.message, s.out);
      // Recursion through {{template}} can exhaust JavaScript's stack before the depth check below trips.
      if (e instanceof RangeError && /call stack/.test(e.message)) {
        try {
          s.errorf(MAX_DEPTH_MESSAGE);
        } catch (d) {
          throw new ExecError((d as Error).message, s.out);
        }
      }
      throw e;
    }
    return s.out;
  }
}

/** An execution error, with what the template printed before it. */
export class ExecError extends TemplateError {
  constructor(
    message: string,
    readonly partial: string,
  ) {
    super(message);
  }
}

class ExecState {
  out = "";
  vars: { name: string; value: RV }[];
  node: Node | undefined;
  depth = 0;
  constructor(
    readonly name: string,
    readonly text: string,
    data: GoData,
    readonly defs: Map<string, ListNode>,
  ) {
    this.vars = [{ name: "$", value: val(data) }];
  }

  errorf(msg: string): never {
    if (!this.node) throw new TemplateError(`template: ${this.name}: ${msg}`);
    const pos = this.node.pos;
    const before = this.text.slice(0, pos);
    const nl = before.lastIndexOf("\n");
    const line = before.split("\n").length;
    const col = Buffer.byteLength(nl < 0 ? before : before.slice(nl + 1));
    throw new TemplateError(
      `template: ${this.name}:${line}:${col}: executing ${goQuote(this.name)} at <${nodeString(this.node)}>: ${msg}`,
    );
  }

  at(n: Node) {
    this.node = n;
  }

  varValue(name: string): RV {
    for (let i = this.vars.length - 1; i >= 0; i--)
      if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.errorf(`undefined variable: ${name}`);
  }

  setVar(name: string, value: RV) {
    for (let i = this.vars.length - 1; i >= 0; i--)
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    this.errorf(`undefined variable: ${name}`);
  }

  walk(dot: RV, node: Node): void {
    this.at(node);
    switch (node.type) {
      case "action": {
        const v = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, v);
        return;
      }
      case "break":
        throw new Break();
      case "continue":
        throw new Continue();
      case "if":
      case "with": {
        const mark = this.vars.length;
        const v = this.evalPipeline(dot, node.pipe);
        if (isTrue(v)) this.walk(node.type === "with" ? v : dot, node.list);
        else if (node.elseList) this.walk(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case "list":
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case "range":
        this.walkRange(dot, node);
        return;
      case "text":
        this.out += node.text;
        return;
      case "template": {
        const body = this.defs.get(node.name);
        if (!body) this.errorf(`template ${goQuote(node.name)} not defined`);
        if (this.depth >= 10000) this.errorf(MAX_DEPTH_MESSAGE);
        const inner = this.evalPipeline(dot, node.pipe);
        const saved = this.vars;
        this.vars = [{ name: "$", value: inner }];
        this.depth++;
        try {
          this.walk(inner, body!);
        } finally {
          this.depth--;
          this.vars = saved;
        }
        return;
      }
      default:
        this.errorf(`unknown node: ${nodeString(node)}`);
    }
  }

  walkRange(dot: RV, r: { pipe: PipeNode; list: ListNode; elseList?: ListNode }) {
    this.at(r as Node);
    const outer = this.vars.length;
    const v = concrete(this.evalPipeline(dot, r.pipe));
    const mark = this.vars.length;
    const decl = r.pipe.decl;
    const one = (index: RV, elem: RV) => {
      if (decl.length > 0) {
        if (r.pipe.isAssign) this.setVar(decl[0]!.ident[0]!, decl.length > 1 ? index : elem);
        else this.vars[this.vars.length - 1]!.value = elem;
      }
      if (decl.length > 1) {
        if (r.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem);
        else this.vars[this.vars.length - 2]!.value = index;
      }
      try {
        this.walk(elem, r.list);
      } catch (e) {
        if (!(e instanceof Continue)) throw e;
      } finally {
        this.vars.length = mark;
      }
    };
    try {
      let iterated = false;
      if (v.ok) {
        const x = v.x;
        if (Array.isArray(x)) {
          x.forEach((e, i) => {
            one(val(BigInt(i)), val(e, true));
          });
          iterated = x.length > 0;
        } else if (isMap(x)) {
          const keys = Object.keys(x).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          for (const k of keys) one(val(k), val(x[k]!, true));
          iterated = keys.length > 0;
        } else this.errorf(`range can't iterate over ${formatV(x)}`);
      }
      if (!iterated && r.elseList) this.walk(dot, r.elseList);
    } catch (e) {
      if (!(e instanceof Break)) throw e;
    } finally {
      this.vars.length = outer;
    }
  }

  evalPipeline(dot: RV, pipe: PipeNode | undefined): RV {
    if (!pipe) return INVALID;
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      value = concrete(this.evalCommand(dot, cmd, value));
    }
    const v = value as RV;
    for (const d of pipe.decl) {
      if (pipe.isAssign) this.setVar(d.ident[0]!, v);
      else this.vars.push({ name: d.ident[0]!, value: v });
    }
    return v;
  }

  notAFunction(args: Node[], final: Final) {
    if (args.length > 1 || final !== MISSING)
      this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  evalCommand(dot: RV, cmd: CommandNode, final: Final): RV {
    const first = cmd.args[0]!;
    switch (first.type) {
      case "field":
        return this.evalFieldChain(dot, first.ident, cmd.args, final, first);
      case "chain":
        return this.evalChainNode(dot, first, cmd.args, final);
      case "identifier":
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case "variable":
        return this.evalVariableNode(first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case "bool":
        return val(first.val);
      case "dot":
        return dot;
      case "nil":
        return this.errorf("nil is not a command");
      case "number":
        return this.idealConstant(first);
      case "string":
        return val(first.text);
    }
    return this.errorf(`can't evaluate command ${goQuote(nodeString(first))}`);
  }

  idealConstant(n: Extract<Node, { type: "number" }>): OkRV {
    this.at(n);
    if (n.isFloat && !/^[+-]?0[xX]/.test(n.text) && !n.text.startsWith("'") && /[.eEpP]/.test(n.text))
      return val(n.float);
    if (n.isInt) return val(n.int);
    return this.errorf(`${n.text} overflows int`);
  }

  evalChainNode(dot: RV, chain: Extract<Node, { type: "chain" }>, args: Node[] | null, final: Final): RV {
    this.at(chain);
    if (chain.node.type === "nil") this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, null, chain.node) as RV;
    return this.evalFieldChain(pipe, chain.field, args, final);
  }

  evalVariableNode(v: VariableNode, args: Node[] | null, final: Final): RV {
    this.at(v);
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args ?? [v], final);
      return value;
    }
    return this.evalFieldChain(value, v.ident.slice(1), args, final);
  }

  /** .X.Y.Z on `receiver` (`atNode`, when given, becomes the error context first). */
  evalFieldChain(receiver: RV, ident: string[], args: Node[] | null, final: Final, atNode?: Node): RV {
    if (atNode) this.at(atNode);
    let r = receiver;
    for (let i = 0; i < ident.length - 1; i++) r = this.evalField(ident[i]!, null, MISSING, r);
    return this.evalField(ident[ident.length - 1]!, args, final, r);
  }

  evalField(name: string, args: Node[] | null, final: Final, receiver: RV): RV {
    if (!receiver.ok) return INVALID;
    const typ = typeOf(receiver);
    if (receiver.iface && receiver.x === null) return this.errorf(`nil pointer evaluating ${typ}.${name}`);
    const x = receiver.x;
    const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
    if (isMap(x)) {
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      return Object.hasOwn(x, name) ? val(x[name]!, true) : INVALID;
    }
    return this.errorf(`can't evaluate field ${name} in type ${typ}`);
  }

  evalFunction(
    dot: RV,
    node: Extract<Node, { type: "identifier" }>,
    cmd: Node,
    args: Node[] | null,
    final: Final,
  ): RV {
    this.at(node);
    const fn = BUILTINS[node.ident];
    if (!fn) return this.errorf(`${goQuote(node.ident)} is not a defined function`);
    return this.evalCall(dot, fn, cmd, node.ident, args, final);
  }

  evalCall(dot: RV, fn: Builtin, node: Node, name: string, allArgs: Node[] | null, final: Final): RV {
    const args = allArgs ? allArgs.slice(1) : [];
    const numIn = args.length + (final !== MISSING ? 1 : 0);
    const numFixed = fn.variadic ? fn.params.length - 1 : args.length;
    if (fn.variadic) {
      if (numIn < numFixed)
        this.errorf(
          `wrong number of args for ${name}: want at least ${fn.params.length - 1} got ${args.length}`,
        );
    } else if (numIn !== fn.params.length)
      this.errorf(`wrong number of args for ${name}: want ${fn.params.length} got ${numIn}`);

    if (name === "and" || name === "or") {
      let v: RV = INVALID;
      for (const a of args) {
        v = this.evalArg(dot, "value", a) as RV;
        if (isTrue(v) === (name === "or")) return v;
      }
      if (final !== MISSING) v = final;
      return v;
    }
    const argv: unknown[] = [];
    let i = 0;
    for (; i < numFixed && i < args.length; i++) argv.push(this.evalArg(dot, fn.params[i]!, args[i]!));
    if (fn.variadic) {
      const t = fn.params[fn.params.length - 1]!;
      for (; i < args.length; i++) argv.push(this.evalArg(dot, t, args[i]!));
    }
    if (final !== MISSING) {
      const t =
        fn.variadic && numIn - 1 < numFixed ? fn.params[numIn - 1]! : fn.params[fn.params.length - 1]!;
      argv.push(this.validateType(final, t));
    }
    try {
      return fn.fn(argv);
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      this.at(node);
      return this.errorf(`error calling ${name}: ${e.message}`);
    }
  }

  /** Converts a value for a parameter: reflect.Value as is, interface{} to its content, string checked. */
  validateType(value: RV, typ: Param | null): unknown {
    if (typ === null || typ === "value") return value;
    if (typ === "any") return value.ok ? value.x : null;
    if (!value.ok) return this.errorf("invalid value; expected string");
    if (typeof value.x === "string") return value.x;
    return this.errorf(
      `wrong type for value; expected string; got ${value.iface && value.x === null ? "interface {}" : goTypeName(value.x)}`,
    );
  }

  evalArg(dot: RV, typ: Param | null, n: Node): unknown {
    this.at(n);
    switch (n.type) {
      case "dot":
        return this.validateType(dot, typ);
      case "nil":
        if (typ === "string") return this.errorf("cannot assign nil to string");
        return typ === "any" ? null : INVALID;
      case "field":
        return this.validateType(this.evalFieldChain(dot, n.ident, [n], MISSING, n), typ);
      case "variable":
        return this.validateType(this.evalVariableNode(n, null, MISSING), typ);
      case "pipe":
        return this.validateType(this.evalPipeline(dot, n), typ);
      case "identifier":
        return this.validateType(this.evalFunction(dot, n, n, null, MISSING), typ);
      case "chain":
        return this.validateType(this.evalChainNode(dot, n, null, MISSING), typ);
    }
    if (typ === "string") {
      if (n.type === "string") return n.text;
      return this.errorf(`expected string; found ${nodeString(n)}`);
    }
    let v: OkRV;
    switch (n.type) {
      case "bool":
        v = val(n.val);
        break;
      case "number":
        v = this.idealConstant(n);
        break;
      case "string":
        v = val(n.text);
        break;
      default:
        return this.errorf(`can't handle assignment of ${nodeString(n)} to empty interface argument`);
    }
    return typ === "any" ? v.x : v;
  }

  printValue(n: Node, v: RV) {
    this.at(n);
    const c = concrete(v);
    this.out += c.ok ? formatV(c.x) : "<no value>";
  }
}
