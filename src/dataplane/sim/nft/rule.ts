import { formatIpv4, parseIpv4 } from "../ipv4.ts";
import type { MatchContext, Packet } from "../netfilter/index.ts";
import { CT_STATES, DATATYPES, type DataType, type Range, sortValue } from "./datatypes.ts";
import { type Cursor, NftError, type Token, unexpected } from "./lexer.ts";
import {
  type EvalEnv,
  keyString,
  type NftRule,
  type NftSet,
  type SetElement,
  type Step,
  type Verdict,
  valuesKey,
} from "./model.ts";

/** What a rule or element may name: the table's sets and chains, checked as the kernel checks them. */
export interface Resolver {
  set(name: string, at: Token): NftSet;
  /** Checks the chain exists and may be jumped to; returns its name as the table keys it (same string). */
  chain(name: string, at: Token): string;
}

interface Selector {
  text: string;
  type: DataType;
  get(p: Packet, ctx: MatchContext): number | undefined;
  /** The protocol a transport selector implies (`tcp dport` → 6), for nft's dependency printing. */
  proto?: number;
}

const T = DATATYPES as Record<string, DataType>;
const CT_BITS: Record<string, number> = { INVALID: 1, ESTABLISHED: 2, RELATED: 4, NEW: 8, UNTRACKED: 64 };
const TRANSPORT = new Set([6, 17, 132, 33, 136]);

function fibType(ctx: MatchContext, ip: number): number {
  if (ctx.isLocal(ip)) return 2;
  if (ip === 0xffffffff) return 3;
  if (ip >>> 28 === 14) return 5;
  return 1;
}

/**
 * Selectors are shared by every rule that uses them (one closure each, not one per rule), which keeps the
 * per-packet working set small when ten thousand service chains are loaded.
 */
const SELECTORS = new Map<string, Selector>();

function parseSelector(c: Cursor): Selector | undefined {
  const s = buildSelector(c);
  if (!s || s.text.startsWith("numgen")) return s;
  const shared = SELECTORS.get(s.text);
  if (shared) return shared;
  SELECTORS.set(s.text, s);
  return s;
}

/** Reads a selector (`ip daddr`, `meta l4proto`, `th dport`, `ct state`, `fib saddr type`, `numgen …`). */
function buildSelector(c: Cursor): Selector | undefined {
  const w = c.word();
  const w1 = c.word(1);
  const take = (n: number, s: Selector): Selector => {
    c.i += n;
    return s;
  };
  if (w === "ip" && (w1 === "saddr" || w1 === "daddr"))
    return take(2, { text: `ip ${w1}`, type: T.ipv4_addr!, get: (p) => (w1 === "saddr" ? p.src : p.dst) });
  if (w === "ip" && w1 === "protocol")
    return take(2, { text: "ip protocol", type: T.inet_proto!, get: (p) => p.proto });
  if (w === "meta" && w1 === "l4proto")
    return take(2, { text: "meta l4proto", type: T.inet_proto!, get: (p) => p.proto });
  if ((w === "meta" && w1 === "mark") || w === "mark")
    return take(w === "mark" ? 1 : 2, { text: "meta mark", type: T.mark!, get: (p) => p.mark });
  if ((w === "tcp" || w === "udp" || w === "sctp" || w === "th") && (w1 === "dport" || w1 === "sport")) {
    const proto = w === "tcp" ? 6 : w === "udp" ? 17 : w === "sctp" ? 132 : undefined;
    const dst = w1 === "dport";
    return take(2, {
      text: `${w} ${w1}`,
      type: T.inet_service!,
      proto,
      get: (p) => {
        if (proto === undefined ? !TRANSPORT.has(p.proto) : p.proto !== proto) return undefined;
        return dst ? p.dport : p.sport;
      },
    });
  }
  if (w === "ct" && w1 === "state")
    return take(2, { text: "ct state", type: T.ct_state!, get: (_p, ctx) => CT_BITS[ctx.ctState] ?? 0 });
  if (w === "fib" && (w1 === "saddr" || w1 === "daddr") && c.word(2) === "type")
    return take(3, {
      text: `fib ${w1} type`,
      type: T.fib_addrtype!,
      get: (p, ctx) => fibType(ctx, w1 === "saddr" ? p.src : p.dst),
    });
  if (w === "numgen") {
    c.i++;
    const mode = c.next("random");
    if (mode.text !== "random")
      throw new NftError(`not supported yet: numgen ${mode.text}`, mode.col, mode.end);
    c.expect("mod");
    const nt = c.next("number");
    const mod = Number(nt.text);
    if (!/^\d+$/.test(nt.text) || mod < 1) throw unexpected(nt, "number");
    let offset = 0;
    if (c.accept("offset")) offset = Number(c.next("number").text);
    return {
      text: `numgen random mod ${mod}${offset ? ` offset ${offset}` : ""}`,
      type: T.integer!,
      get: (_p, ctx) => Math.floor(ctx.random() * mod) + offset,
    };
  }
  if (w === "ct" && w1 === "original")
    throw new NftError("not supported yet: ct original on the sim dataplane", c.peek()!.col, c.peek(1)!.end);
  if ((w === "meta" && (w1 === "iifname" || w1 === "oifname")) || w === "iifname" || w === "oifname")
    throw new NftError(
      "not supported yet: iifname/oifname on the sim dataplane",
      c.peek()!.col,
      c.peek()!.end,
    );
  return undefined;
}

/** One value (or range/prefix) of `type`; `ct state` values may be a comma list. */
function parseValue(c: Cursor, type: DataType): Range {
  const t = c.next("value");
  let text = t.text;
  if (type.name === "ct_state")
    while (c.word() === "," && c.word(1) && CT_STATES.some(([n]) => n === c.word(1))) {
      c.i++;
      text += `,${c.next().text}`;
    }
  const r = t.quoted ? undefined : type.parse(text);
  if (!r && type.name === "ipv4_addr")
    throw new NftError("Could not resolve hostname: Name or service not known", t.col, t.end);
  if (!r) throw new NftError(`Could not parse ${type.name.replace("_", " ")} expression`, t.col, t.end);
  return r;
}

/** `v . v . v` for a concatenation of `types`. */
export function parseKey(c: Cursor, types: DataType[]): Range[] {
  const key: Range[] = [];
  types.forEach((type, i) => {
    if (i > 0) c.expect(".");
    key.push(parseValue(c, type));
  });
  return key;
}

export function formatKey(types: DataType[], key: Range[]): string {
  return key.map((r, i) => types[i]!.format(r)).join(" . ");
}

export function parseVerdict(c: Cursor, r: Resolver): Verdict | undefined {
  const w = c.word();
  if (w === "accept" || w === "drop" || w === "return" || w === "continue") {
    c.i++;
    return { kind: w };
  }
  if (w === "jump" || w === "goto") {
    c.i++;
    const t = c.next("chain name");
    // The table's own key string: a Map lookup with the same string object is a pointer compare.
    return { kind: w, chain: r.chain(t.text, t) };
  }
  return undefined;
}

/** Elements of an anonymous set/map `{ k, k }` or `{ k : verdict, … }` (the `{` already read). */
export function parseAnonymous(c: Cursor, types: DataType[], map: boolean, r: Resolver): SetElement[] {
  const out: SetElement[] = [];
  for (;;) {
    const first = c.peek();
    const key = parseKey(c, types);
    const e: SetElement = { key };
    if (map) {
      const end = c.tokens[c.i - 1]?.end ?? 0;
      c.expect(":");
      e.verdict = elementVerdict(c, r, first?.col ?? 0, end);
    }
    out.push(e);
    if (c.accept(",")) continue;
    c.expect("}");
    return out;
  }
}

/** A map element's verdict. The kernel rejects an element as a whole: nft marks its key (and comment). */
export function elementVerdict(c: Cursor, r: Resolver, col: number, end: number): Verdict {
  try {
    const v = parseVerdict(c, r);
    if (!v) throw unexpected(c.next("verdict"), "verdict");
    return v;
  } catch (err) {
    if (err instanceof NftError && err.message.startsWith("Could not process rule"))
      throw new NftError(err.message, col, end);
    throw err;
  }
}

/**
 * The selectors' values for a packet (after the binary operation) written into `out`, the rule's own buffer
 * (no array per packet), or undefined if one does not apply.
 */
function readValues(
  sels: Selector[],
  binop: { op: string; value: number } | undefined,
  p: Packet,
  ctx: MatchContext,
  out: number[],
): number[] | undefined {
  for (let i = 0; i < sels.length; i++) {
    let v = sels[i]!.get(p, ctx);
    if (v === undefined) return undefined;
    if (binop)
      v = (binop.op === "&" ? v & binop.value : binop.op === "|" ? v | binop.value : v ^ binop.value) >>> 0;
    out[i] = v;
  }
  return out;
}

export function sortElements(types: DataType[], elements: SetElement[]): SetElement[] {
  return elements
    .map((e) => ({ e, v: sortValue(types, e.key) }))
    .sort((a, b) => (a.v < b.v ? -1 : a.v > b.v ? 1 : 0))
    .map((x) => x.e);
}

export function inRange(r: Range, v: number): boolean {
  return v >= r[0] && v <= r[1];
}

/** Looks a key up in a set: a Map hit for exact sets, a scan of ranges for interval sets. */
export function setLookup(set: NftSet, values: number[], now: number): SetElement | undefined {
  let hit: SetElement | undefined;
  if (set.intervals.length === 0 || set.exact.size > 0) {
    hit = set.exact.get(valuesKey(values));
  }
  if (!hit && values.length === 1)
    for (const e of set.intervals)
      if (inRange(e.key[0]!, values[0]!)) {
        hit = e;
        break;
      }
  if (hit?.expires !== undefined && hit.expires <= now) return undefined;
  return hit;
}

function anonymousSet(types: DataType[], elements: SetElement[]): NftSet {
  const set: NftSet = {
    name: "",
    map: false,
    types,
    flags: new Set(),
    handle: 0,
    exact: new Map(),
    intervals: [],
  };
  for (const e of elements) {
    if (e.key.every((k) => k[0] === k[1])) set.exact.set(keyString(e.key), e);
    else set.intervals.push(e);
  }
  return set;
}

/** Parses and compiles one rule's statements. */
export function parseRule(c: Cursor, r: Resolver): Omit<NftRule, "handle"> {
  const steps: Step[] = [];
  const parts: string[] = [];
  const refs = { sets: [] as string[], chains: [] as string[] };
  const resolver: Resolver = {
    set: (name, at) => {
      refs.sets.push(name);
      return r.set(name, at);
    },
    chain: (name, at) => {
      refs.chains.push(name);
      return r.chain(name, at);
    },
  };
  let counterAt = -1;
  let counter: { packets: number; bytes: number } | undefined;
  let comment: string | undefined;
  /** Protocol a plain `meta l4proto X` / `ip protocol X` match just checked (nft hides it before `tcp dport`). */
  let depAt = -1;
  let depProto = -1;
  while (!c.done()) {
    const w = c.word();
    if (w === "comment") {
      c.i++;
      comment = c.string().text;
      continue;
    }
    if (w === "counter") {
      c.i++;
      let packets = 0;
      let bytes = 0;
      if (c.accept("packets")) {
        packets = Number(c.next("number").text);
        c.expect("bytes");
        bytes = Number(c.next("number").text);
      }
      counterAt = parts.length;
      parts.push("counter");
      const cnt = { packets, bytes };
      counter = cnt;
      steps.push((p) => {
        cnt.packets++;
        cnt.bytes += p.len;
        return true;
      });
      continue;
    }
    const v = parseVerdict(c, resolver);
    if (v) {
      parts.push(verdictPrint(v));
      steps.push(() => v);
      continue;
    }
    if (w === "reject") {
      c.i++;
      let withText = "icmp-port-unreachable";
      let print = "reject";
      if (c.accept("with")) {
        const kind = c.next("icmp or tcp");
        if (kind.text === "tcp") {
          c.expect("reset");
          withText = "tcp-reset";
          print = "reject with tcp reset";
          if (depProto === 6 && depAt === parts.length - 1) parts[depAt] = "";
        } else if (kind.text === "icmp" || kind.text === "icmpx") {
          c.accept("type");
          const code = c.next("icmp code");
          withText = `icmp-${code.text}`;
          print = code.text === "port-unreachable" ? "reject" : `reject with ${kind.text} ${code.text}`;
        } else throw unexpected(kind, "icmp");
      }
      const verdict: Verdict = { kind: "reject", with: withText };
      parts.push(print);
      steps.push(() => verdict);
      continue;
    }
    if (w === "masquerade") {
      c.i++;
      const flags: string[] = [];
      while (c.word() === "random" || c.word() === "fully-random" || c.word() === "persistent")
        flags.push(c.next().text);
      const verdict: Verdict = {
        kind: "nat",
        nat: { kind: "MASQUERADE", portMin: 0, portMax: 0, randomFully: flags.includes("fully-random") },
      };
      parts.push(["masquerade", ...flags].join(" "));
      steps.push(() => verdict);
      continue;
    }
    if (w === "dnat" || w === "snat") {
      c.i++;
      c.expect("to");
      const t = c.next("address");
      const m = /^([\d.]+)(?::(\d+)(?:-(\d+))?)?$/.exec(t.text);
      const ip = m ? parseIpv4(m[1]!) : undefined;
      if (!m || ip === undefined)
        throw new NftError("Can't parse symbolic invalid expressions", t.col, t.end);
      const portMin = m[2] ? Number(m[2]) : 0;
      const portMax = m[3] ? Number(m[3]) : portMin;
      const verdict: Verdict =
        w === "dnat"
          ? { kind: "nat", nat: { kind: "DNAT", ip, portMin, portMax } }
          : { kind: "nat", nat: { kind: "SNAT", ip, portMin, portMax, randomFully: false } };
      const ports = portMin ? `:${portMin}${portMax !== portMin ? `-${portMax}` : ""}` : "";
      parts.push(`${w} to ${formatIpv4(ip)}${ports}`);
      steps.push(() => verdict);
      continue;
    }
    if (w === "update" || w === "add") {
      c.i++;
      const ref = c.next("@set");
      if (!ref.text.startsWith("@")) throw unexpected(ref, "@set");
      const name = ref.text.slice(1);
      // nft gives a set that a rule updates from the packet path its default maximum size.
      const target = resolver.set(name, ref);
      target.size ??= 65535;
      const key = target.name;
      c.expect("{");
      const sel = parseSelector(c);
      if (!sel) throw unexpected(c.next("expression"), "expression");
      c.expect("}");
      parts.push(`${w} @${name} { ${sel.text} }`);
      steps.push((p, ctx, env) => {
        const s = env.sets.get(key);
        const value = sel.get(p, ctx);
        if (!s || value === undefined) return true;
        const k = valuesKey([value]);
        const old = s.exact.get(k);
        const expires = s.timeout === undefined ? undefined : env.now + s.timeout;
        if (old) {
          if (w === "update" && expires !== undefined) old.expires = expires;
        } else s.exact.set(k, { key: [[value, value]], timeout: s.timeout, expires });
        return true;
      });
      continue;
    }
    if (
      (w === "mark" && c.word(1) === "set") ||
      (w === "meta" && c.word(1) === "mark" && c.word(2) === "set")
    ) {
      c.i += w === "mark" ? 2 : 3;
      let op: string | undefined;
      let value: number;
      if (c.word() === "mark" || (c.word() === "meta" && c.word(1) === "mark")) {
        c.i += c.word() === "mark" ? 1 : 2;
        const o = c.next("operator");
        op = { or: "|", "|": "|", and: "&", "&": "&", xor: "^", "^": "^" }[o.text];
        if (!op) throw unexpected(o, "'|'");
        value = parseValue(c, T.mark!)[0];
      } else value = parseValue(c, T.mark!)[0];
      const hex = T.mark!.format([value, value]);
      parts.push(op ? `meta mark set meta mark ${op} ${hex}` : `meta mark set ${hex}`);
      const fn =
        op === "|"
          ? (m: number) => (m | value) >>> 0
          : op === "&"
            ? (m: number) => (m & value) >>> 0
            : op === "^"
              ? (m: number) => (m ^ value) >>> 0
              : () => value;
      steps.push((p) => {
        p.mark = fn(p.mark);
        return true;
      });
      continue;
    }
    // A match: selector[ . selector…] [binop value] then vmap, or [op] right-hand side.
    const first = c.peek()!;
    const sels: Selector[] = [];
    for (;;) {
      const s = parseSelector(c);
      if (!s) throw unexpected(c.peek() ?? first);
      sels.push(s);
      if (!c.accept(".")) break;
    }
    const types = sels.map((s) => s.type);
    let binop: { op: string; value: number } | undefined;
    const bw = c.word();
    if (sels.length === 1 && bw && ["&", "and", "|", "or", "^", "xor"].includes(bw)) {
      c.i++;
      const op = { and: "&", or: "|", xor: "^" }[bw] ?? bw;
      binop = { op, value: parseValue(c, sels[0]!.type)[0] };
    }
    const lhsText =
      sels.map((s) => s.text).join(" . ") +
      (binop ? ` ${binop.op} ${sels[0]!.type.format([binop.value, binop.value])}` : "");
    const buffer = new Array<number>(sels.length).fill(0);
    const values = (p: Packet, ctx: MatchContext) => readValues(sels, binop, p, ctx, buffer);
    if (c.accept("vmap")) {
      const t = c.next("map");
      let lookupSet: (env: EvalEnv) => NftSet | undefined;
      if (t.text.startsWith("@")) {
        const name = t.text.slice(1);
        const set = resolver.set(name, t);
        if (!set.map) throw new NftError(`Could not process rule: Operation not supported`, t.col, t.end);
        parts.push(`${lhsText} vmap @${name}`);
        const key = set.name;
        lookupSet = (env) => env.sets.get(key);
      } else if (t.text === "{") {
        const elements = parseAnonymous(c, types, true, resolver);
        const anon = anonymousSet(types, elements);
        anon.map = true;
        const body = sortElements(types, elements)
          .map((e) => `${formatKey(types, e.key)} : ${verdictPrint(e.verdict!)}`)
          .join(", ");
        parts.push(`${lhsText} vmap { ${body} }`);
        lookupSet = () => anon;
      } else throw unexpected(t, "map");
      steps.push((p, ctx, env) => {
        const vs = values(p, ctx);
        const set = vs && lookupSet(env);
        const hit = set && setLookup(set, vs, env.now);
        return hit?.verdict ?? false;
      });
      continue;
    }
    let negate = false;
    let opText = "";
    const ow = c.word();
    if (ow === "==" || ow === "eq") {
      c.i++;
      if (binop) opText = "== ";
    } else if (ow === "!=" || ow === "ne") {
      c.i++;
      negate = true;
      opText = "!= ";
    } else if (binop) opText = "== ";
    const rt = c.peek();
    if (!rt) throw new NftError("syntax error, unexpected end of file", c.lineEnd, c.lineEnd);
    let test: (vs: number[], env: EvalEnv) => boolean;
    let rhsText: string;
    if (rt.text.startsWith("@") && !rt.quoted) {
      c.i++;
      const name = rt.text.slice(1);
      const key = resolver.set(name, rt).name;
      rhsText = `@${name}`;
      test = (vs, env) => {
        const s = env.sets.get(key);
        return s !== undefined && setLookup(s, vs, env.now) !== undefined;
      };
    } else if (rt.text === "{" && !rt.quoted) {
      c.i++;
      const elements = parseAnonymous(c, types, false, resolver);
      const sorted = sortElements(types, elements);
      if (elements.length === 1) {
        const key = elements[0]!.key;
        rhsText = formatKey(types, key);
        test = (vs) => vs.every((v, i) => inRange(key[i]!, v));
      } else {
        const anon = anonymousSet(types, elements);
        rhsText = `{ ${sorted.map((e) => formatKey(types, e.key)).join(", ")} }`;
        test = (vs) => setLookup(anon, vs, 0) !== undefined;
      }
    } else {
      const key = parseKey(c, types);
      rhsText = formatKey(types, key);
      if (types.length === 1 && types[0]!.name === "ct_state" && !binop) {
        const bits = key[0]![0];
        test = (vs) => (vs[0]! & bits) !== 0;
      } else test = (vs) => vs.every((v, i) => inRange(key[i]!, v));
    }
    const isDep =
      !negate && !binop && sels.length === 1 && sels[0]!.type.name === "inet_proto" && /^\w+$/.test(rhsText);
    if (depAt >= 0 && depAt === parts.length - 1 && sels[0]!.proto === depProto) parts[depAt] = "";
    parts.push(`${lhsText} ${opText}${rhsText}`);
    if (isDep) {
      depAt = parts.length - 1;
      depProto = T.inet_proto!.parse(rhsText)![0];
    }
    steps.push((p, ctx, env) => {
      const vs = values(p, ctx);
      if (!vs) return false;
      return test(vs, env) !== negate;
    });
  }
  if (comment !== undefined) parts.push(`comment "${comment}"`);
  const kept = parts.filter((x) => x !== "");
  const at = counterAt >= 0 ? parts.slice(0, counterAt).filter((x) => x !== "").length : -1;
  return { steps, parts: kept, counterAt: at, counter, refs };
}

export function verdictPrint(v: Verdict): string {
  if (v.kind === "jump" || v.kind === "goto") return `${v.kind} ${v.chain}`;
  if (v.kind === "reject") return "reject";
  if (v.kind === "nat") return v.nat.kind.toLowerCase();
  return v.kind;
}
