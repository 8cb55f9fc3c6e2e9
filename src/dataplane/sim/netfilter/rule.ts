import { formatIpv4, type Ipv4Prefix, prefixContains } from "../ipv4.ts";
import {
  type CompiledMatch,
  MATCH_EXTENSIONS,
  parseRuleAddress,
  type RuleOption,
  RuleSyntaxError,
} from "./extensions.ts";
import { type MatchContext, type Packet, protocolByName } from "./packet.ts";
import { type CompiledTarget, compileTarget, isBuiltinTarget, targetOptions } from "./targets.ts";

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
}

/** Splits a rule line into words as iptables-restore does: double quotes group, backslash escapes. */
export function splitWords(line: string): string[] {
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

const IMPLICIT_MODULES: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp" };

/**
 * Parses the words after `-A CHAIN`. `chainExists` says whether a jump target is a chain of this table, so
 * an unknown name gives iptables' "Couldn't load target" message.
 */
export function parseRule(words: string[], chainExists: (name: string) => boolean): Rule {
  const rule: Rule = { matches: [], packets: 0, bytes: 0 };
  const modules: { name: string; options: RuleOption[] }[] = [];
  let target: { name: string; goto: boolean; options: RuleOption[] } | undefined;
  let invert = false;
  const need = (i: number, flag: string) => {
    const w = words[i];
    if (w === undefined) throw new RuleSyntaxError(`option "${flag}" requires an argument`);
    return w;
  };
  const once = (flag: string, present: unknown) => {
    if (present !== undefined) throw new RuleSyntaxError(`multiple -${flag} flags not allowed`);
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "!") {
      invert = true;
      continue;
    }
    switch (w) {
      case "-s":
      case "--source":
        once("s", rule.src);
        rule.src = { invert, prefix: parseRuleAddress(need(++i, w)) };
        break;
      case "-d":
      case "--destination":
        once("d", rule.dst);
        rule.dst = { invert, prefix: parseRuleAddress(need(++i, w)) };
        break;
      case "-i":
      case "--in-interface":
        once("i", rule.in);
        rule.in = { invert, name: need(++i, w) };
        break;
      case "-o":
      case "--out-interface":
        once("o", rule.out);
        rule.out = { invert, name: need(++i, w) };
        break;
      case "-p":
      case "--protocol": {
        once("p", rule.protocol);
        const name = need(++i, w);
        const num = protocolByName(name);
        if (num === undefined) throw new RuleSyntaxError(`unknown protocol "${name}" specified`);
        rule.protocol = { invert, num };
        break;
      }
      case "-m":
      case "--match": {
        const name = need(++i, w);
        if (!(name in MATCH_EXTENSIONS))
          throw new RuleSyntaxError(`not supported yet: match module "${name}"`);
        modules.push({ name, options: [] });
        break;
      }
      case "-j":
      case "--jump":
      case "-g":
      case "--goto": {
        const name = need(++i, w);
        const goto = w === "-g" || w === "--goto";
        if (!isBuiltinTarget(name) && !chainExists(name)) {
          if (/^[A-Z]+$/.test(name)) throw new RuleSyntaxError(`not supported yet: target "${name}"`);
          throw new RuleSyntaxError(`Couldn't load target \`${name}':No such file or directory`);
        }
        target = { name, goto, options: [] };
        break;
      }
      default: {
        if (!w.startsWith("-")) throw new RuleSyntaxError(`Bad argument \`${w}'`);
        const arity = (opts: Record<string, number> | undefined) => opts?.[w];
        let owner: RuleOption[] | undefined;
        let n: number | undefined;
        const targetArity = target ? arity(targetOptions(target.name)) : undefined;
        if (target && targetArity !== undefined) {
          owner = target.options;
          n = targetArity;
        }
        for (let m = modules.length - 1; !owner && m >= 0; m--) {
          const a = arity(MATCH_EXTENSIONS[modules[m]!.name]!.options);
          if (a !== undefined) {
            owner = modules[m]!.options;
            n = a;
          }
        }
        const implicit = rule.protocol && IMPLICIT_MODULES[rule.protocol.num];
        const implicitArity = implicit ? arity(MATCH_EXTENSIONS[implicit]!.options) : undefined;
        if (!owner && implicit && implicitArity !== undefined) {
          const mod = { name: implicit, options: [] as RuleOption[] };
          modules.push(mod);
          owner = mod.options;
          n = implicitArity;
        }
        if (!owner || n === undefined) throw new RuleSyntaxError(`unknown option "${w}"`);
        const args = words.slice(i + 1, i + 1 + n);
        if (args.length < n) throw new RuleSyntaxError(`option "${w}" requires an argument`);
        i += n;
        owner.push({ invert, flag: w, args });
      }
    }
    invert = false;
  }
  if (invert) throw new RuleSyntaxError('stray "!"');
  for (const m of modules)
    rule.matches.push(
      MATCH_EXTENSIONS[m.name]!.compile(m.options, rule.protocol?.invert ? undefined : rule.protocol?.num),
    );
  if (target) rule.target = compileTarget(target.name, target.goto, target.options);
  return rule;
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

/** The rule as `iptables -S` prints it (without `-A CHAIN`). */
export function ruleSaveText(rule: Rule): string {
  const parts = [
    ...addressSave("-s", rule.src),
    ...addressSave("-d", rule.dst),
    ...(rule.in ? [`${rule.in.invert ? "! " : ""}-i ${rule.in.name}`] : []),
    ...(rule.out ? [`${rule.out.invert ? "! " : ""}-o ${rule.out.name}`] : []),
  ];
  if (rule.protocol) {
    const name = { 6: "tcp", 17: "udp", 1: "icmp", 132: "sctp" }[rule.protocol.num] ?? `${rule.protocol.num}`;
    parts.push(`${rule.protocol.invert ? "! " : ""}-p ${name}`);
  }
  for (const m of rule.matches) parts.push(m.save);
  if (rule.target) parts.push(rule.target.save);
  return parts.join(" ");
}
