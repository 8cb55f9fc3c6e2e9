/**
 * The lines of an iptables-restore payload inside a table block, applied to the block's staged table
 * (staged.ts): `:CHAIN POLICY [p:b]` and the commands `[p:b] -A/-I/-D CHAIN rule…`, `-N`, `-F`, `-X`.
 * Errors are RuleSyntaxErrors; `Netfilter.restore` (tables.ts) adds the line number.
 */
import { RuleSyntaxError } from "./extensions.ts";
import { parseRule, parseRuleText, type Rule, ruleSaveText, splitWords } from "./rule.ts";
import type { StagedTable } from "./staged.ts";
import type { Chain } from "./tables.ts";

function parseCounts(text: string | undefined): [number, number] {
  const m = /^\[(\d+):(\d+)\]$/.exec(text ?? "[0:0]");
  if (!m) throw new RuleSyntaxError(`Bad counters "${text}"`);
  return [Number(m[1]), Number(m[2])];
}

/** `:NAME POLICY [p:b]`: a built-in chain's policy and counters, or a user chain created (or emptied). */
export function chainLine(builtins: readonly string[], table: StagedTable, line: string): void {
  const [name, policy, counts] = line.slice(1).split(/\s+/);
  if (!name) throw new RuleSyntaxError("chain name missing");
  const builtin = table.get(name)?.policy !== undefined && builtins.includes(name);
  const [p, b] = parseCounts(counts);
  if (builtin) {
    if (policy !== "ACCEPT" && policy !== "DROP")
      throw new RuleSyntaxError(`Bad built-in chain policy "${policy}"`);
    // A built-in chain's line sets its policy and counters; its rules stay (restore flushes whole tables).
    const c = table.writable(name)!;
    c.policy = policy;
    c.packets = p;
    c.bytes = b;
  } else {
    if (policy !== "-") throw new RuleSyntaxError(`Invalid policy for user-defined chain "${name}"`);
    if (name.length > 28)
      throw new RuleSyntaxError(`chain name \`${name}' too long (must be under 29 chars)`);
    table.set(name, { name, packets: 0, bytes: 0, rules: [] });
  }
}

/** The end of the word starting at `from` (a blank or the end of the line). */
function wordEnd(line: string, from: number): number {
  let i = from;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9) break;
    i++;
  }
  return i;
}

function skipBlanks(line: string, from: number): number {
  let i = from;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

/** Whether a word can be taken as written: no quote or backslash for splitWords to interpret. */
function plainWord(line: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c === 34 || c === 92) return false;
  }
  return true;
}

const COUNTS = /^\[(\d+):(\d+)\]$/;

/**
 * A command line of the payload: `[p:b] -A CHAIN rule…`, `-I CHAIN [n] rule…`, `-D`, `-N`, `-F`, `-X`. The
 * words before the rule are cut from the line in place; the rule's own text goes to parseRuleText, which
 * remembers rules it has parsed. A line whose leading words are quoted or escaped is split in full.
 */
export function ruleLine(table: StagedTable, line: string): void {
  let counts: [number, number] | undefined;
  let pos = 0;
  let end = wordEnd(line, pos);
  if (!plainWord(line, pos, end)) {
    ruleWords(table, splitWords(line));
    return;
  }
  if (line.charCodeAt(0) === 91 /* [ */) {
    const cm = COUNTS.exec(line.slice(0, end));
    if (cm) {
      counts = [Number(cm[1]), Number(cm[2])];
      pos = skipBlanks(line, end);
      end = wordEnd(line, pos);
      if (!plainWord(line, pos, end)) {
        ruleWords(table, splitWords(line));
        return;
      }
    }
  }
  const op = line.slice(pos, end);
  pos = skipBlanks(line, end);
  end = wordEnd(line, pos);
  if (!plainWord(line, pos, end)) {
    ruleWords(table, splitWords(line));
    return;
  }
  const chainName = end > pos ? line.slice(pos, end) : undefined;
  pos = skipBlanks(line, end);
  if (!isRuleOp(op)) {
    command(table, op, chainName);
    return;
  }
  const chain = chainName === undefined ? undefined : table.writable(chainName);
  if (!chain) throw new RuleSyntaxError(`Chain '${chainName}' does not exist`);
  let position = chain.rules.length;
  if (op === "-I" || op === "--insert") {
    position = 0;
    end = wordEnd(line, pos);
    if (end > pos && isDigits(line, pos, end)) {
      position = Number(line.slice(pos, end)) - 1;
      pos = skipBlanks(line, end);
    }
  }
  const rule = parseRuleText(pos === 0 ? line : line.slice(pos), (name) => table.has(name));
  addRule(chain, op, rule, position, counts);
}

/** The same as ruleLine, from words already split (the rare line that quotes its leading words). */
function ruleWords(table: StagedTable, all: string[]): void {
  let words = all;
  let counts: [number, number] | undefined;
  const cm = COUNTS.exec(words[0] ?? "");
  if (cm) {
    counts = [Number(cm[1]), Number(cm[2])];
    words = words.slice(1);
  }
  const op = words[0] ?? "";
  const chainName = words[1];
  if (!isRuleOp(op)) {
    command(table, op, chainName);
    return;
  }
  const chain = chainName === undefined ? undefined : table.writable(chainName);
  if (!chain) throw new RuleSyntaxError(`Chain '${chainName}' does not exist`);
  let rest = words.slice(2);
  let position = chain.rules.length;
  if (op === "-I" || op === "--insert") {
    position = 0;
    if (/^\d+$/.test(rest[0] ?? "")) {
      position = Number(rest[0]) - 1;
      rest = rest.slice(1);
    }
  }
  addRule(
    chain,
    op,
    parseRule(rest, (name) => table.has(name)),
    position,
    counts,
  );
}

function isDigits(line: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isRuleOp(op: string): boolean {
  return op === "-A" || op === "-I" || op === "-D" || op === "--append" || op === "--insert";
}

/** `-X [CHAIN]`, `-F [CHAIN]`, `-N CHAIN`; anything else is refused. */
function command(table: StagedTable, op: string, chainName: string | undefined): void {
  if (op === "-X") {
    if (chainName === undefined) {
      for (const n of [...table.names()]) if (table.get(n)!.policy === undefined) table.delete(n);
    } else {
      if (!table.has(chainName)) throw new RuleSyntaxError(`Chain '${chainName}' does not exist`);
      table.delete(chainName);
    }
    return;
  }
  if (op === "-F") {
    if (chainName === undefined) for (const n of [...table.names()]) table.writable(n)!.rules = [];
    else if (!table.has(chainName)) throw new RuleSyntaxError(`Chain '${chainName}' does not exist`);
    else table.writable(chainName)!.rules = [];
    return;
  }
  if (op === "-N") {
    if (!chainName) throw new RuleSyntaxError("chain name missing");
    table.set(chainName, { name: chainName, packets: 0, bytes: 0, rules: [] });
    return;
  }
  throw new RuleSyntaxError(`Bad argument \`${op}'`);
}

function addRule(
  chain: Chain,
  op: string,
  rule: Rule,
  position: number,
  counts: [number, number] | undefined,
): void {
  if (op === "-D") {
    const text = ruleSaveText(rule);
    const idx = chain.rules.findIndex((r) => ruleSaveText(r) === text);
    if (idx < 0) throw new RuleSyntaxError("Bad rule (does a matching rule exist in that chain?)");
    chain.rules.splice(idx, 1);
    return;
  }
  if (counts) [rule.packets, rule.bytes] = counts;
  if (position === chain.rules.length) chain.rules.push(rule);
  else chain.rules.splice(position, 0, rule);
}
