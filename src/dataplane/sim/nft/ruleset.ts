import type { Hook, MatchContext, Packet, TraversalResult } from "../netfilter/index.ts";
import { DATATYPES, type DataType, parseDuration } from "./datatypes.ts";
import { Cursor, NftError, type Token, tokenize, unexpected } from "./lexer.ts";
import {
  type BaseHook,
  type EvalEnv,
  keyString,
  type NftChain,
  type NftSet,
  type NftTable,
  type SetElement,
  type Verdict,
} from "./model.ts";
import { elementVerdict, parseKey, parseRule, type Resolver } from "./rule.ts";

/** `nft -f` failed: nothing was committed. `message` is what nft prints on stderr. */
export class NftLoadError extends Error {}

const HOOKS: Record<string, Hook> = {
  prerouting: "PREROUTING",
  input: "INPUT",
  forward: "FORWARD",
  output: "OUTPUT",
  postrouting: "POSTROUTING",
};

/** nft's standard priority names (for `priority dstnat`, `priority filter - 10`, …). */
export const STD_PRIORITIES: [string, number][] = [
  ["raw", -300],
  ["mangle", -150],
  ["dstnat", -100],
  ["filter", 0],
  ["security", 50],
  ["srcnat", 100],
];

const ENOENT = "Could not process rule: No such file or directory";
/** What nft's own evaluation says of a name missing from its cache. */
const NOT_FOUND = "No such file or directory";

function cloneTable(t: NftTable): NftTable {
  const chains = new Map<string, NftChain>();
  for (const [n, c] of t.chains) chains.set(n, { ...c, rules: [...c.rules] });
  const sets = new Map<string, NftSet>();
  for (const [n, s] of t.sets)
    sets.set(n, { ...s, flags: new Set(s.flags), exact: new Map(s.exact), intervals: [...s.intervals] });
  return { ...t, chains, sets };
}

/**
 * The nftables ruleset of one network namespace: `nft -f` scripts (atomic: a script with an error changes
 * nothing), base chains hooked by priority, verdict maps looked up by their concatenated key in O(1).
 */
export class Nftables {
  tables = new Map<string, NftTable>();
  /** The virtual clock, for set element timeouts (the owner sets it). */
  clock: () => number = () => 0;
  /** Bumped on every commit; hook plans are cached per generation. */
  generation = 0;

  /** `nft -f FILE`: every command is checked and applied to a copy, committed only if all succeed. */
  load(text: string, file = "/dev/stdin"): void {
    const staged = new Map<string, NftTable>();
    for (const [k, t] of this.tables) staged.set(k, cloneTable(t));
    const lines = text.split("\n");
    // nft reports syntax errors, then evaluation errors; the kernel sees the batch only if there were none.
    const errors: Record<"syntax" | "eval" | "kernel", string[]> = { syntax: [], eval: [], kernel: [] };
    lines.forEach((line, i) => {
      try {
        const tokens = tokenize(line);
        if (tokens.length > 0) this.command(staged, new Cursor(tokens, line.length + 1));
      } catch (e) {
        if (!(e instanceof NftError)) throw e;
        const phase = e.message.startsWith("syntax error")
          ? "syntax"
          : e.message.startsWith("Could not process rule")
            ? "kernel"
            : "eval";
        errors[phase].push(formatError(file, i + 1, line, e));
      }
    });
    const early = [...errors.syntax, ...errors.eval];
    if (early.length || errors.kernel.length)
      throw new NftLoadError((early.length ? early : errors.kernel).join(""));
    this.tables = staged;
    this.generation++;
  }

  private command(tables: Map<string, NftTable>, c: Cursor): void {
    const verb = c.next("command");
    if (verb.text === "flush" && c.word() === "ruleset") {
      c.i++;
      tables.clear();
      return;
    }
    if (!["add", "create", "delete", "flush", "insert", "destroy"].includes(verb.text))
      throw unexpected(verb);
    const objTok = c.next("object");
    const obj = objTok.text;
    const famTok = c.next("family or name");
    if (famTok.text !== "ip")
      throw new NftError(
        `not supported yet: family ${famTok.text} on the sim dataplane`,
        famTok.col,
        famTok.end,
      );
    const tableTok = c.next("table name");
    const tkey = tableTok.text;
    let table = tables.get(tkey);
    if (obj === "table") {
      if (verb.text === "delete" || verb.text === "destroy") {
        if (!table && verb.text === "delete") throw new NftError(ENOENT, tableTok.col, tableTok.end);
        tables.delete(tkey);
        return;
      }
      if (verb.text === "flush") {
        if (!table) throw new NftError(ENOENT, tableTok.col, tableTok.end);
        // nft 1.0.6 flushes the rules of every chain; sets keep their elements.
        for (const ch of table.chains.values()) ch.rules = [];
        return;
      }
      if (table && verb.text === "create")
        throw new NftError("Could not process rule: File exists", tableTok.col, tableTok.end);
      table ??= { family: "ip", name: tkey, handle: 0, chains: new Map(), sets: new Map(), nextHandle: 1 };
      tables.set(tkey, table);
      if (c.accept("{")) {
        while (!c.accept("}")) {
          if (c.accept(";")) continue;
          c.expect("comment");
          table.comment = c.string().text;
        }
      }
      endOf(c);
      return;
    }
    if (!table) throw new NftError(NOT_FOUND, tableTok.col, tableTok.end);
    const t = table;
    const resolver: Resolver = {
      set(name, at) {
        const s = t.sets.get(name);
        if (!s) throw new NftError(NOT_FOUND, at.col, at.end);
        return s;
      },
      chain(name, at) {
        const ch = t.chains.get(name);
        if (!ch) throw new NftError(ENOENT, at.col, at.end);
        if (ch.base) throw new NftError("Could not process rule: Operation not supported", at.col, at.end);
        return ch.name;
      },
    };
    const nameTok = c.next(`${obj} name`);
    const name = nameTok.text;
    switch (obj) {
      case "chain":
        chainCommand(verb.text, t, name, nameTok, c);
        return;
      case "set":
      case "map":
        setCommand(verb.text, obj === "map", t, name, nameTok, c);
        return;
      case "element": {
        const set = t.sets.get(name);
        if (!set) throw new NftError(NOT_FOUND, nameTok.col, nameTok.end);
        elementCommand(verb.text, set, c, resolver, this.clock());
        return;
      }
      case "rule": {
        const chain = t.chains.get(name);
        if (!chain) throw new NftError(NOT_FOUND, nameTok.col, nameTok.end);
        if (verb.text === "delete" || verb.text === "destroy") {
          c.expect("handle");
          const h = c.next("handle");
          const idx = chain.rules.findIndex((r) => `${r.handle}` === h.text);
          if (idx < 0) throw new NftError(ENOENT, h.col, h.end);
          chain.rules.splice(idx, 1);
          return;
        }
        if (verb.text !== "add" && verb.text !== "insert" && verb.text !== "create") throw unexpected(verb);
        let position = verb.text === "insert" ? 0 : chain.rules.length;
        if (c.word() === "handle" || c.word() === "position" || c.word() === "index") {
          const kind = c.next().text;
          const h = c.next("number");
          const idx =
            kind === "index" ? Number(h.text) : chain.rules.findIndex((r) => `${r.handle}` === h.text);
          if (idx < 0 || idx > chain.rules.length) throw new NftError(ENOENT, h.col, h.end);
          position = verb.text === "insert" ? idx : idx + 1;
        }
        const rule = parseRule(c, resolver);
        chain.rules.splice(position, 0, { ...rule, handle: t.nextHandle++ });
        return;
      }
      default:
        throw unexpected(objTok);
    }
  }

  /** Base chains of every table at a hook, in priority order. */
  baseChains(hook: Hook): { table: NftTable; chain: NftChain }[] {
    const out: { table: NftTable; chain: NftChain }[] = [];
    for (const table of this.tables.values())
      for (const chain of table.chains.values()) if (chain.base?.hook === hook) out.push({ table, chain });
    return out.sort((a, b) => a.chain.base!.priority - b.chain.base!.priority);
  }

  /** Runs a packet through one base chain and whatever it jumps to. */
  runChain(table: NftTable, base: NftChain, p: Packet, ctx: MatchContext): TraversalResult {
    // No closures or allocations here: this runs for every packet at every hook (esbuild's keepNames makes each
    // closure costly). The environment and the jump stack are reused; a chain never runs another base chain.
    const env = this.env;
    env.sets = table.sets;
    env.now = this.clock();
    const policy: TraversalResult = base.base!.policy === "drop" ? DROP : ACCEPT;
    const chains = this.stackChains;
    const nexts = this.stackNext;
    let depth = 0;
    let chain = base;
    let i = 0;
    for (;;) {
      if (i >= chain.rules.length) {
        if (depth === 0) return policy;
        depth--;
        chain = chains[depth]!;
        i = nexts[depth]!;
        continue;
      }
      const rule = chain.rules[i++]!;
      let out: boolean | Verdict = true;
      for (const step of rule.steps) {
        out = step(p, ctx, env);
        if (out !== true) break;
      }
      if (typeof out === "boolean") continue;
      switch (out.kind) {
        case "accept":
          return ACCEPT;
        case "drop":
          return DROP;
        case "reject":
          return { verdict: "REJECT", rejectWith: out.with };
        case "nat":
          return { verdict: "ACCEPT", nat: out.nat };
        case "continue":
          continue;
        case "return": {
          if (depth === 0) return policy;
          depth--;
          chain = chains[depth]!;
          i = nexts[depth]!;
          continue;
        }
        case "jump":
        case "goto": {
          const next = table.chains.get(out.chain);
          if (!next) continue;
          if (out.kind === "jump") {
            if (depth >= 16) throw new Error(`nft: jump depth over 16 in table ${table.name}`);
            chains[depth] = chain;
            nexts[depth] = i;
            depth++;
          }
          chain = next;
          i = 0;
        }
      }
    }
  }

  private readonly env: EvalEnv = { sets: new Map(), now: 0 };
  private readonly stackChains: NftChain[] = [];
  private readonly stackNext: number[] = [];
}

const ACCEPT: TraversalResult = Object.freeze({ verdict: "ACCEPT" });
const DROP: TraversalResult = Object.freeze({ verdict: "DROP" });

function endOf(c: Cursor): void {
  c.accept(";");
  if (!c.done()) throw unexpected(c.peek()!);
}

function parsePriority(c: Cursor): number {
  const t = c.next("priority");
  let base: number | undefined = /^-?\d+$/.test(t.text) ? Number(t.text) : undefined;
  if (base === undefined) {
    const std = STD_PRIORITIES.find(([n]) => n === t.text);
    if (!std) throw new NftError(`'${t.text}' is not a valid priority`, t.col, t.end);
    base = std[1];
    const op = c.word();
    if (op === "+" || op === "-") {
      c.i++;
      const n = Number(c.next("number").text);
      base += op === "+" ? n : -n;
    }
  }
  return base;
}

function chainCommand(verb: string, t: NftTable, name: string, at: Token, c: Cursor): void {
  const existing = t.chains.get(name);
  if (verb === "delete" || verb === "destroy") {
    if (!existing) {
      if (verb === "delete") throw new NftError(ENOENT, at.col, at.end);
      return;
    }
    const used = [...t.chains.values()].some((ch) => ch.rules.some((r) => r.refs.chains.includes(name)));
    const inMaps = [...t.sets.values()].some((s) =>
      [...s.exact.values()].some((e) => e.verdict && "chain" in e.verdict && e.verdict.chain === name),
    );
    if (existing.rules.length > 0 || used || inMaps)
      throw new NftError("Could not process rule: Device or resource busy", at.col, at.end);
    t.chains.delete(name);
    return;
  }
  if (verb === "flush") {
    if (!existing) throw new NftError(ENOENT, at.col, at.end);
    existing.rules = [];
    return;
  }
  if (existing && verb === "create")
    throw new NftError("Could not process rule: File exists", at.col, at.end);
  const chain: NftChain = existing ?? { name, handle: t.nextHandle++, rules: [] };
  if (name.length > 255) throw new NftError("Chain name too long", at.col, at.end);
  if (c.accept("{")) {
    let base: Partial<BaseHook> | undefined;
    while (!c.accept("}")) {
      if (c.accept(";")) continue;
      const w = c.next("chain property");
      if (w.text === "type") {
        const type = c.next("chain type");
        if (!["filter", "nat", "route"].includes(type.text)) throw unexpected(type, "filter, nat or route");
        c.expect("hook");
        const hookTok = c.next("hook");
        const hook = HOOKS[hookTok.text];
        if (!hook) throw new NftError(`unknown chain hook`, hookTok.col, hookTok.end);
        c.expect("priority");
        base = { ...base, type: type.text as BaseHook["type"], hook, priority: parsePriority(c) };
      } else if (w.text === "policy") {
        const p = c.next("policy");
        if (p.text !== "accept" && p.text !== "drop") throw unexpected(p, "accept or drop");
        base = { ...base, policy: p.text };
      } else if (w.text === "comment") chain.comment = c.string().text;
      else throw unexpected(w);
    }
    if (base) {
      if (base.type === undefined) throw new NftError("policy is only valid on base chains", at.col, at.end);
      chain.base = { policy: "accept", ...base } as BaseHook;
    }
  }
  endOf(c);
  t.chains.set(name, chain);
}

function parseTypes(c: Cursor): DataType[] {
  const types: DataType[] = [];
  for (;;) {
    const t = c.next("datatype");
    const d = DATATYPES[t.text];
    if (!d || d.name === "ct_state" || d.name === "fib_addrtype")
      throw new NftError(`not supported yet: datatype ${t.text} on the sim dataplane`, t.col, t.end);
    types.push(d);
    if (!c.accept(".")) return types;
  }
}

function setCommand(verb: string, map: boolean, t: NftTable, name: string, at: Token, c: Cursor): void {
  const existing = t.sets.get(name);
  if (verb === "delete" || verb === "destroy") {
    if (!existing) {
      if (verb === "delete") throw new NftError(ENOENT, at.col, at.end);
      return;
    }
    const used = [...t.chains.values()].some((ch) => ch.rules.some((r) => r.refs.sets.includes(name)));
    if (used) throw new NftError("Could not process rule: Device or resource busy", at.col, at.end);
    t.sets.delete(name);
    return;
  }
  if (verb === "flush") {
    if (!existing) throw new NftError(ENOENT, at.col, at.end);
    existing.exact = new Map();
    existing.intervals = [];
    return;
  }
  if (existing && verb === "create")
    throw new NftError("Could not process rule: File exists", at.col, at.end);
  const set: NftSet = existing ?? {
    name,
    map,
    types: [],
    flags: new Set(),
    handle: t.nextHandle++,
    exact: new Map(),
    intervals: [],
  };
  if (c.accept("{")) {
    while (!c.accept("}")) {
      if (c.accept(";")) continue;
      const w = c.next("set property");
      if (w.text === "type") {
        set.types = parseTypes(c);
        if (map) {
          c.expect(":");
          const d = c.next("verdict");
          if (d.text !== "verdict")
            throw new NftError(`not supported yet: maps to ${d.text} on the sim dataplane`, d.col, d.end);
        }
      } else if (w.text === "flags") {
        for (;;) {
          const f = c.next("flag");
          if (!["interval", "timeout", "dynamic", "constant"].includes(f.text))
            throw unexpected(f, "set flag");
          set.flags.add(f.text);
          if (!c.accept(",")) break;
        }
      } else if (w.text === "timeout") {
        const d = c.next("time");
        set.timeout = parseDuration(d.text);
        if (set.timeout === undefined) throw new NftError("Wrong time format", d.col, d.end);
        set.flags.add("timeout");
      } else if (w.text === "size") set.size = Number(c.next("number").text);
      else if (w.text === "comment") set.comment = c.string().text;
      else throw unexpected(w);
    }
  }
  if (set.types.length === 0) throw new NftError("set definition does not specify key", at.col, at.end);
  endOf(c);
  t.sets.set(name, set);
}

function elementCommand(verb: string, set: NftSet, c: Cursor, r: Resolver, now: number): void {
  c.expect("{");
  for (;;) {
    const start = c.peek();
    const key = parseKey(c, set.types);
    const e: SetElement = { key };
    for (;;) {
      if (c.accept("comment")) e.comment = c.string().text;
      else if (c.accept("timeout")) {
        const d = c.next("time");
        e.timeout = parseDuration(d.text);
        if (e.timeout === undefined) throw new NftError("Wrong time format", d.col, d.end);
      } else break;
    }
    const span = { col: start?.col ?? 0, end: c.tokens[c.i - 1]?.end ?? 0 };
    if (set.map && verb !== "delete" && verb !== "destroy") {
      c.expect(":");
      e.verdict = elementVerdict(c, r, span.col, span.end);
    }
    const interval = key.some((k) => k[0] !== k[1]);
    if (interval && (!set.flags.has("interval") || set.types.length > 1))
      throw new NftError(
        "Could not process rule: Invalid argument (set member is a range: the set needs flags interval)",
        span.col,
        span.end,
      );
    const timeout = e.timeout ?? set.timeout;
    if (timeout !== undefined) {
      e.timeout = timeout;
      e.expires = now + timeout;
    }
    const k = keyString(key);
    if (verb === "delete" || verb === "destroy") {
      const had = interval
        ? set.intervals.findIndex((x) => keyString(x.key) === k && x.key[0]![1] === key[0]![1])
        : set.exact.has(k)
          ? 0
          : -1;
      if (had < 0 && verb === "delete") throw new NftError(ENOENT, span.col, span.end);
      if (interval && had >= 0) set.intervals.splice(had, 1);
      else set.exact.delete(k);
    } else {
      const exists = interval ? set.intervals.some((x) => keyString(x.key) === k) : set.exact.has(k);
      if (exists && verb === "create")
        throw new NftError("Could not process rule: File exists", span.col, span.end);
      if (interval) {
        if (!exists) set.intervals.push(e);
      } else if (!exists) set.exact.set(k, e);
    }
    if (c.accept(",")) continue;
    c.expect("}");
    endOf(c);
    return;
  }
}

/** nft's error record: `FILE:LINE:COL-END: Error: MESSAGE`, the line, and carets under the span. */
export function formatError(file: string, lineNo: number, line: string, e: NftError): string {
  if (e.col === 0) return `${file}:${lineNo}: Error: ${e.message}\n`;
  const lead = [...line.slice(0, e.col - 1)].map((ch) => (ch === "\t" ? "\t" : " ")).join("");
  return `${file}:${lineNo}:${e.col}-${e.end}: Error: ${e.message}\n${line}\n${lead}${"^".repeat(Math.max(1, e.end - e.col + 1))}\n`;
}
