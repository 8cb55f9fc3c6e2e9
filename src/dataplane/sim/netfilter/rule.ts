import { iptablesProtocolText } from "../../../net/index.ts";
import { formatIpv4, type Ipv4Prefix, prefixContains } from "../ipv4.ts";
import {
  type CompiledMatch,
  MATCH_EXTENSIONS,
  parseRuleAddress,
  type RuleOption,
  RuleSyntaxError,
} from "./extensions.ts";
import { BoundedMemo } from "./memo.ts";
import { type MatchContext, type Packet, protocolByName } from "./packet.ts";
import { type CompiledTarget, compileTarget, isBuiltinTarget, targetArity } from "./targets.ts";

export interface AddressMatch {
  invert: boolean;
  prefix: Ipv4Prefix;
}

export interface InterfaceMatch {
  invert: boolean;
  /** A trailing `+` matches every interface with that prefix. */
  name: string;
}

/** One rule of a chain, parsed once; counters live on it. */
export interface Rule {
  src?: AddressMatch;
  dst?: AddressMatch;
  in?: InterfaceMatch;
  out?: InterfaceMatch;
  protocol?: { invert: boolean; num: number };
  matches: CompiledMatch[];
  target?: CompiledTarget;
  packets: number;
  bytes: number;
  /** `ruleSaveText`, computed on first use. */
  text: string | undefined;
}

/** Splits a rule line into words as iptables-restore does: double quotes group, backslash escapes. */
export function splitWords(line: string): string[] {
  // Most lines have neither quotes nor escapes: cut them at blanks without building words a character at a time.
  if (line.indexOf('"') < 0 && line.indexOf("\\") < 0) return splitPlain(line);
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && (c === " " || c === "\t")) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quoted) throw new RuleSyntaxError("unterminated quote");
  if (inWord) words.push(word);
  return words;
}

function splitPlain(line: string): string[] {
  const words: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) words.push(line.slice(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  if (start >= 0) words.push(line.slice(start));
  return words;
}

const IMPLICIT_MODULES: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp" };

/** Match modules by name, and each one's option arities, as Maps (names come from text, not literals). */
const EXTENSIONS = new Map(Object.entries(MATCH_EXTENSIONS));
const MATCH_ARITY = new Map(
  Object.entries(MATCH_EXTENSIONS).map(([n, e]) => [n, new Map(Object.entries(e.options))] as const),
);

interface ModuleDraft {
  name: string;
  arity: Map<string, number>;
  options: RuleOption[];
}

interface TargetDraft {
  name: string;
  goto: boolean;
  arity: Map<string, number> | undefined;
  options: RuleOption[];
}

function argument(words: string[], i: number, flag: string): string {
  const w = words[i];
  if (w === undefined) throw new RuleSyntaxError(`option "${flag}" requires an argument`);
  return w;
}

function notTwice(flag: string, present: unknown): void {
  if (present !== undefined) throw new RuleSyntaxError(`multiple -${flag} flags not allowed`);
}

/** The one place a Rule is built, so every rule has the same shape. */
function makeRule(
  src: AddressMatch | undefined,
  dst: AddressMatch | undefined,
  inIface: InterfaceMatch | undefined,
  outIface: InterfaceMatch | undefined,
  protocol: { invert: boolean; num: number } | undefined,
  matches: CompiledMatch[],
  target: CompiledTarget | undefined,
  text: string | undefined,
): Rule {
  return { src, dst, in: inIface, out: outIface, protocol, matches, target, packets: 0, bytes: 0, text };
}

/** A fresh rule (counters at zero) with the parsed parts of `r`, which are never mutated and so are shared. */
function copyRule(r: Rule): Rule {
  return makeRule(r.src, r.dst, r.in, r.out, r.protocol, r.matches, r.target, r.text);
}

/**
 * Parses the words after `-A CHAIN`. `chainExists` says whether a jump target is a chain of this table, so
 * an unknown name gives iptables' "Couldn't load target" message.
 */
export function parseRule(words: string[], chainExists: (name: string) => boolean): Rule {
  let src: AddressMatch | undefined;
  let dst: AddressMatch | undefined;
  let inIface: InterfaceMatch | undefined;
  let outIface: InterfaceMatch | undefined;
  let protocol: { invert: boolean; num: number } | undefined;
  const modules: ModuleDraft[] = [];
  let target: TargetDraft | undefined;
  let invert = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "!") {
      invert = true;
      continue;
    }
    switch (w) {
      case "-s":
      case "--source":
        notTwice("s", src);
        src = { invert, prefix: parseRuleAddress(argument(words, ++i, w)) };
        break;
      case "-d":
      case "--destination":
        notTwice("d", dst);
        dst = { invert, prefix: parseRuleAddress(argument(words, ++i, w)) };
        break;
      case "-i":
      case "--in-interface":
        notTwice("i", inIface);
        inIface = { invert, name: argument(words, ++i, w) };
        break;
      case "-o":
      case "--out-interface":
        notTwice("o", outIface);
        outIface = { invert, name: argument(words, ++i, w) };
        break;
      case "-p":
      case "--protocol": {
        notTwice("p", protocol);
        protocol = protocolMatch(argument(words, ++i, w), invert);
        break;
      }
      case "-m":
      case "--match": {
        const name = argument(words, ++i, w);
        const arity = MATCH_ARITY.get(name);
        if (!arity) throw new RuleSyntaxError(`not supported yet: match module "${name}"`);
        modules.push({ name, arity, options: [] });
        break;
      }
      case "-j":
      case "--jump":
      case "-g":
      case "--goto": {
        const name = argument(words, ++i, w);
        const goto = w === "-g" || w === "--goto";
        if (!isBuiltinTarget(name) && !chainExists(name)) {
          if (/^[A-Z]+$/.test(name)) throw new RuleSyntaxError(`not supported yet: target "${name}"`);
          throw new RuleSyntaxError(`Couldn't load target \`${name}':No such file or directory`);
        }
        target = { name, goto, arity: targetArity(name), options: [] };
        break;
      }
      default: {
        if (w.charCodeAt(0) !== 45) throw new RuleSyntaxError(`Bad argument \`${w}'`);
        let owner: RuleOption[] | undefined;
        let n = target?.arity?.get(w);
        if (n !== undefined) owner = target!.options;
        for (let m = modules.length - 1; !owner && m >= 0; m--) {
          const a = modules[m]!.arity.get(w);
          if (a !== undefined) {
            owner = modules[m]!.options;
            n = a;
          }
        }
        if (!owner && protocol) {
          const implicit = IMPLICIT_MODULES[protocol.num];
          const arity = implicit === undefined ? undefined : MATCH_ARITY.get(implicit)!;
          const a = arity?.get(w);
          if (arity && a !== undefined) {
            const mod: ModuleDraft = { name: implicit!, arity, options: [] };
            modules.push(mod);
            owner = mod.options;
            n = a;
          }
        }
        if (!owner || n === undefined) throw new RuleSyntaxError(`unknown option "${w}"`);
        if (i + n >= words.length) throw new RuleSyntaxError(`option "${w}" requires an argument`);
        const args = n === 0 ? NO_ARGS : n === 1 ? [words[i + 1]!] : words.slice(i + 1, i + 1 + n);
        i += n;
        owner.push({ invert, flag: w, args });
      }
    }
    invert = false;
  }
  if (invert) throw new RuleSyntaxError('stray "!"');
  // Sized exactly (a pushed-to array reserves room for 16): the ruleset keeps one per rule.
  let matches = NO_MATCHES;
  if (modules.length > 0) {
    matches = new Array<CompiledMatch>(modules.length);
    const proto = protocol?.invert ? undefined : protocol?.num;
    for (let m = 0; m < modules.length; m++) {
      const d = modules[m]!;
      matches[m] = compileMatchMemo(d.name, d.options, proto);
    }
  }
  const compiled = target ? compileTargetMemo(target.name, target.goto, target.options) : undefined;
  return makeRule(src, dst, inIface, outIface, protocol, matches, compiled, undefined);
}

const NO_ARGS: string[] = [];
/** Shared by every rule without match modules; nothing appends to a rule's matches. */
const NO_MATCHES: CompiledMatch[] = [];

/** `-p` as parsed: a handful of distinct values, shared by every rule that names them. */
const PROTOCOLS = new Map<string, { invert: boolean; num: number }>();

function protocolMatch(name: string, invert: boolean): { invert: boolean; num: number } {
  const key = invert ? `!${name}` : name;
  let p = PROTOCOLS.get(key);
  if (!p) {
    const num = protocolByName(name);
    if (num === undefined) throw new RuleSyntaxError(`unknown protocol "${name.toLowerCase()}" specified`);
    p = { invert, num };
    if (PROTOCOLS.size < 1000) PROTOCOLS.set(key, p);
  }
  return p;
}

/** Compiled matches and targets by their options' text: shared by every rule that writes them alike. */
const PART_MEMO = new BoundedMemo<CompiledMatch | CompiledTarget>(20_000);

function optionsKey(head: string, options: RuleOption[]): string {
  let key = head;
  for (const o of options) {
    key += o.invert ? "\u0001!" : "\u0001";
    key += o.flag;
    for (const a of o.args) key += `\u0002${a.length}:${a}`;
  }
  return key;
}

function compileMatchMemo(name: string, options: RuleOption[], protocol: number | undefined): CompiledMatch {
  const key = optionsKey(`m${name}\u0001${protocol ?? ""}`, options);
  const hit = PART_MEMO.get(key) as CompiledMatch | undefined;
  if (hit) return hit;
  const m = EXTENSIONS.get(name)!.compile(options, protocol);
  PART_MEMO.set(key, m);
  return m;
}

function compileTargetMemo(name: string, goto: boolean, options: RuleOption[]): CompiledTarget {
  const key = optionsKey(`${goto ? "g" : "j"}${name}`, options);
  const hit = PART_MEMO.get(key) as CompiledTarget | undefined;
  if (hit) return hit;
  const t = compileTarget(name, goto, options);
  PART_MEMO.set(key, t);
  return t;
}

/**
 * Whole rules by the text after `-A CHAIN`: a hit costs one lookup and one copy of the parsed parts (counters
 * start at zero). 20k a generation holds a kube-proxy KUBE-SERVICES chain of 10k services between syncs.
 */
const RULE_MEMO = new BoundedMemo<Rule>(20_000);

/**
 * `parseRule(splitWords(text), chainExists)`, looked up first among rules parsed before from the same text. A
 * remembered rule whose jump target is not a chain of this table is parsed again, for the same error.
 */
export function parseRuleText(text: string, chainExists: (name: string) => boolean): Rule {
  const known = RULE_MEMO.get(text);
  if (known) {
    const a = known.target?.action;
    if (!a || (a.kind !== "JUMP" && a.kind !== "GOTO") || chainExists(a.chain)) return copyRule(known);
  }
  const rule = parseRule(splitWords(text), chainExists);
  // The rule itself is remembered: copyRule takes only its parsed parts, never its counters.
  RULE_MEMO.set(text, rule);
  return rule;
}

/** Forgets every remembered parse (tests compare the memoised path with a cold one). */
export function clearRuleMemo(): void {
  RULE_MEMO.clear();
  PART_MEMO.clear();
}

function interfaceMatches(m: InterfaceMatch, iface: string): boolean {
  return matchesInterfaceName(m.name, iface) !== m.invert;
}

/** `-i cali+` style names without building strings: this runs for most rules of every packet. */
function matchesInterfaceName(name: string, iface: string): boolean {
  const wildcard = name.charCodeAt(name.length - 1) === 43; // "+"
  if (!wildcard) return iface === name;
  const n = name.length - 1;
  if (iface.length < n) return false;
  for (let i = 0; i < n; i++) if (iface.charCodeAt(i) !== name.charCodeAt(i)) return false;
  return true;
}

export function ruleMatches(rule: Rule, p: Packet, ctx: MatchContext): boolean {
  if (rule.src && prefixContains(rule.src.prefix, p.src) === rule.src.invert) return false;
  if (rule.dst && prefixContains(rule.dst.prefix, p.dst) === rule.dst.invert) return false;
  if (rule.protocol && rule.protocol.num !== 0 && (p.proto === rule.protocol.num) === rule.protocol.invert)
    return false;
  if (rule.in && !interfaceMatches(rule.in, ctx.inIface)) return false;
  if (rule.out && !interfaceMatches(rule.out, ctx.outIface)) return false;
  for (const m of rule.matches) if (!m.test(p, ctx)) return false;
  return true;
}

function addressSave(flag: string, m: AddressMatch | undefined): string[] {
  return m ? [`${m.invert ? "! " : ""}${flag} ${formatIpv4(m.prefix.addr)}/${m.prefix.len}`] : [];
}

/** The rule as `iptables -S` prints it (without `-A CHAIN`); kept on the rule once computed. */
export function ruleSaveText(rule: Rule): string {
  if (rule.text === undefined) rule.text = saveTextOf(rule);
  return rule.text;
}

function saveTextOf(rule: Rule): string {
  const parts = [
    ...addressSave("-s", rule.src),
    ...addressSave("-d", rule.dst),
    ...(rule.in ? [`${rule.in.invert ? "! " : ""}-i ${rule.in.name}`] : []),
    ...(rule.out ? [`${rule.out.invert ? "! " : ""}-o ${rule.out.name}`] : []),
  ];
  // iptables-save names the protocol from /etc/protocols (`-p 4` is saved as `-p ipencap`); `-p all` is not saved.
  if (rule.protocol && (rule.protocol.num !== 0 || rule.protocol.invert))
    parts.push(`${rule.protocol.invert ? "! " : ""}-p ${iptablesProtocolText(rule.protocol.num, true)}`);
  for (const m of rule.matches) parts.push(m.save);
  if (rule.target) parts.push(rule.target.save);
  return parts.join(" ");
}
