import { iptablesProtocolText } from "../../../net/index.ts";
import { formatIpv4 } from "../ipv4.ts";
import { type CounterEntry, type CounterKey, countedRules, setChainCounters } from "./counters.ts";
import { RuleSyntaxError } from "./extensions.ts";
import { JumpTargets } from "./jump-targets.ts";
import type { MatchContext, Packet } from "./packet.ts";
import { chainLine, ruleLine } from "./restore-lines.ts";
import { type Rule, ruleMatches, ruleSaveText } from "./rule.ts";
import { StagedTable } from "./staged.ts";
import type { TargetAction } from "./targets.ts";

export type TableName = "raw" | "mangle" | "nat" | "filter";
export type Hook = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING";

export const TABLE_HOOKS: Record<TableName, Hook[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
};

export interface Chain {
  name: string;
  /** Built-in chains have a policy and count what falls through to it. */
  policy?: "ACCEPT" | "DROP";
  packets: number;
  bytes: number;
  rules: Rule[];
}

export type Table = Map<string, Chain>;

/** One rule a packet matched, for `tortie trace`. */
export interface RuleHit {
  table: TableName;
  chain: string;
  /** 1-based, as `iptables -L --line-numbers` counts. */
  rule: number;
  target: string;
  text: string;
}

export interface TraversalResult {
  verdict: "ACCEPT" | "DROP" | "REJECT";
  /** The NAT target that ended a nat-table traversal, if any. */
  nat?: Extract<TargetAction, { kind: "DNAT" | "SNAT" | "MASQUERADE" }>;
  rejectWith?: string;
  notrack?: boolean;
  logs?: string[];
}

export class RestoreError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

function emptyTable(name: TableName): Table {
  const t: Table = new Map();
  for (const hook of TABLE_HOOKS[name])
    t.set(hook, { name: hook, policy: "ACCEPT", packets: 0, bytes: 0, rules: [] });
  return t;
}

const MAX_JUMP_DEPTH = 64;

/** The four iptables tables of one network namespace: restore, traverse, list, save. */
export class Netfilter {
  readonly tables = new Map<TableName, Table>(
    (Object.keys(TABLE_HOOKS) as TableName[]).map((n) => [n, emptyTable(n)]),
  );
  /** `traverse`'s call stack of user chains and where to resume in each, kept between packets. */
  private readonly chainStack: Chain[] = [];
  private readonly resumeStack: number[] = [];
  /** Jump and goto targets as `traverse` resolved them; emptied when a restore commits (jump-targets.ts). */
  private readonly jumps = new JumpTargets();

  /**
   * `iptables-restore [--noflush]`. Every table block is checked completely before any is committed, so a
   * bad payload changes nothing. With `counters`, `[p:b]` prefixes set rule counters.
   */
  restore(text: string, options: { noflush?: boolean } = {}): void {
    const staged = new Map<TableName, StagedTable>();
    let current: { name: TableName; table: StagedTable } | undefined;
    let lineNo = 0;
    let from = 0;
    while (from <= text.length) {
      let nl = text.indexOf("\n", from);
      if (nl < 0) nl = text.length;
      lineNo++;
      const line = text.slice(from, nl).trim();
      from = nl + 1;
      if (line === "" || line.charCodeAt(0) === 35 /* # */) continue;
      try {
        if (line.charCodeAt(0) === 42 /* * */) {
          // As iptables-restore: a table line inside an open block is a command it cannot parse (and the open
          // block's staged changes must not carry into a later block of the same table).
          if (current) throw new RuleSyntaxError(`Bad argument \`${line}'`);
          const name = line.slice(1) as TableName;
          if (!(name in TABLE_HOOKS)) throw new RuleSyntaxError(`table '${name}' does not exist`);
          // --noflush builds on the live table (or this payload's earlier block of it); otherwise on an empty one.
          const table = options.noflush
            ? (staged.get(name) ?? new StagedTable(this.tables.get(name)!))
            : new StagedTable(emptyTable(name));
          current = { name, table };
          continue;
        }
        if (!current) throw new RuleSyntaxError("no table specified");
        if (line === "COMMIT") {
          staged.set(current.name, current.table);
          current = undefined;
          continue;
        }
        if (line.charCodeAt(0) === 58 /* : */) chainLine(TABLE_HOOKS[current.name], current.table, line);
        else ruleLine(current.table, line);
      } catch (e) {
        if (e instanceof RuleSyntaxError) throw new RestoreError(lineNo, e.message);
        throw e;
      }
    }
    if (current) throw new RestoreError(lineNo, "COMMIT expected at the end of the table");
    for (const table of staged.values()) {
      const dangling = table.danglingJump();
      if (dangling)
        throw new RestoreError(0, `Chain '${dangling[1]}' does not exist (referenced from ${dangling[0]})`);
    }
    // Everything is checked: only now does any table change.
    for (const [name, table] of staged) this.tables.set(name, table.commit());
    this.jumps.clear();
  }

  /**
   * Rules and chain policies whose counters are not zero, with the key the sim saves them under: table, chain,
   * the rule's `iptables -S` text and how many rules before it in the chain have the same text (`policy` for
   * a built-in chain's own counters). Only chains with a counted rule have their rules' text computed.
   */
  countedRules(): CounterEntry[] {
    return countedRules(this.tables);
  }

  /**
   * Sets counters by the keys `countedRules` gives; entries naming a chain or rule that is not there are
   * skipped. Returns how many were set.
   */
  setCounters(table: TableName, chain: string, entries: Iterable<CounterKey>): number {
    const c = this.tables.get(table)?.get(chain);
    return c ? setChainCounters(c, entries) : 0;
  }

  /**
   * Runs a packet through one table at one hook, counting every rule that matches. Written as one loop with no
   * closures: it runs for every packet at every hook, and tsx names each closure it creates.
   */
  traverse(
    table: TableName,
    hook: Hook,
    packet: Packet,
    ctx: MatchContext,
    hits?: RuleHit[],
  ): TraversalResult {
    const t = this.tables.get(table)!;
    const builtin = t.get(hook);
    if (!builtin) return ACCEPTED;
    // The call stack of user chains: the table's own arrays, reused (a traversal never runs inside another).
    const stack = this.chainStack;
    const resume = this.resumeStack;
    let depth = 0;
    let chain = builtin;
    let next = 0;
    let logs: string[] | undefined;
    // NOTRACK (the CT target) marks the packet untracked and lets the chain go on, as in the kernel.
    let notrack = false;
    for (;;) {
      const rules = chain.rules;
      let matched: Rule | undefined;
      let index = next;
      for (; index < rules.length; index++) {
        const r = rules[index]!;
        if (ruleMatches(r, packet, ctx)) {
          matched = r;
          break;
        }
      }
      let leaving = matched === undefined;
      if (matched) {
        matched.packets++;
        matched.bytes += packet.len;
        next = index + 1;
        const action = matched.target?.action;
        if (hits)
          hits.push({
            table,
            chain: chain.name,
            rule: index + 1,
            target: matched.target?.name ?? "",
            text: ruleSaveText(matched),
          });
        if (action)
          switch (action.kind) {
            case "ACCEPT":
            case "DROP":
              return verdictOf(action.kind, logs, notrack);
            case "REJECT":
              return withNotrack({ verdict: "REJECT", rejectWith: action.with, logs }, notrack);
            case "DNAT":
            case "SNAT":
            case "MASQUERADE":
              return withNotrack({ verdict: "ACCEPT", nat: action, logs }, notrack);
            case "MARK":
              packet.mark = ((packet.mark & ~action.mask) ^ action.value) >>> 0;
              break;
            case "LOG":
            case "NFLOG":
              logs ??= [];
              logs.push(action.prefix);
              break;
            case "NOTRACK":
              notrack = true;
              break;
            case "RETURN":
              leaving = true;
              break;
            case "JUMP":
            case "GOTO": {
              const target = this.jumps.resolve(t, action);
              if (!target) break;
              if (action.kind === "JUMP") {
                stack[depth] = chain;
                resume[depth] = next;
                depth++;
              }
              if (depth > MAX_JUMP_DEPTH)
                throw new Error(`iptables: jump depth over ${MAX_JUMP_DEPTH} in ${table}`);
              chain = target;
              next = 0;
              break;
            }
          }
      }
      if (!leaving) continue;
      // Leaving a chain: a built-in one ends in its policy (counted); a user chain returns to its caller.
      if (chain.policy !== undefined) {
        chain.packets++;
        chain.bytes += packet.len;
        return verdictOf(chain.policy, logs, notrack);
      }
      if (depth === 0) {
        // The end of a chain reached by -g from the built-in: the built-in's policy, counted as its own.
        builtin.packets++;
        builtin.bytes += packet.len;
        return verdictOf(builtin.policy ?? "ACCEPT", logs, notrack);
      }
      depth--;
      chain = stack[depth]!;
      next = resume[depth]!;
    }
  }

  chainNames(table: TableName): string[] {
    const t = this.tables.get(table)!;
    const builtins = TABLE_HOOKS[table].filter((h) => t.has(h));
    const user = [...t.keys()].filter((n) => t.get(n)!.policy === undefined).sort(byteOrder);
    return [...builtins, ...user];
  }

  references(table: TableName, chain: string): number {
    let n = 0;
    for (const c of this.tables.get(table)!.values())
      for (const r of c.rules) {
        const a = r.target?.action;
        if (a && (a.kind === "JUMP" || a.kind === "GOTO") && a.chain === chain) n++;
      }
    return n;
  }

  /** `iptables-save [-c] [-t TABLE]` without the `#` comment lines (they carry a wall-clock date). */
  save(options: { table?: TableName; counters?: boolean } = {}): string {
    const out: string[] = [];
    const order: TableName[] = ["filter", "nat", "mangle", "raw"];
    const present = options.table ? [options.table] : order.filter((n) => this.used(n));
    for (const name of present) {
      const t = this.tables.get(name)!;
      out.push(`*${name}`);
      const chains = this.chainNames(name);
      for (const c of chains) {
        const chain = t.get(c)!;
        const counts = options.counters || chain.policy ? `[${chain.packets}:${chain.bytes}]` : "[0:0]";
        out.push(`:${c} ${chain.policy ?? "-"} ${chain.policy ? counts : "[0:0]"}`);
      }
      for (const c of chains)
        for (const r of t.get(c)!.rules)
          out.push(
            `${options.counters ? `[${r.packets}:${r.bytes}] ` : ""}-A ${c} ${ruleSaveText(r)}`.replace(
              / $/,
              "",
            ),
          );
      out.push("COMMIT");
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }

  /** Whether a table has anything beyond empty built-in chains (iptables-save skips tables never used). */
  used(name: TableName): boolean {
    const t = this.tables.get(name)!;
    for (const c of t.values())
      if (c.policy === undefined || c.rules.length > 0 || c.policy === "DROP") return true;
    return false;
  }

  /** `iptables [-t T] -S [CHAIN]`. */
  specs(table: TableName, chain?: string): string {
    const t = this.tables.get(table)!;
    const names = chain === undefined ? this.chainNames(table) : [chain];
    const out: string[] = [];
    for (const n of names) {
      const c = t.get(n);
      if (!c)
        throw new RuleSyntaxError(`chain \`${n}' in table \`${table}' is incompatible, use 'nft' tool.`);
      out.push(c.policy ? `-P ${n} ${c.policy}` : `-N ${n}`);
    }
    for (const n of names)
      for (const r of t.get(n)!.rules) out.push(`-A ${n} ${ruleSaveText(r)}`.replace(/ $/, ""));
    return `${out.join("\n")}\n`;
  }

  /** `iptables [-t T] -L [CHAIN] [-v] [-n] [-x] [--line-numbers]`. */
  list(
    table: TableName,
    options: {
      chain?: string;
      verbose?: boolean;
      numeric?: boolean;
      exact?: boolean;
      lineNumbers?: boolean;
      /** iptables ≥ 1.8.8 prints protocol numbers under -n; the labs' 1.8.4 prints names. */
      protocolNumbers?: boolean;
    } = {},
  ): string {
    const t = this.tables.get(table)!;
    const names = options.chain === undefined ? this.chainNames(table) : [options.chain];
    const blocks: string[] = [];
    for (const n of names) {
      const c = t.get(n);
      if (!c)
        throw new RuleSyntaxError(`chain \`${n}' in table \`${table}' is incompatible, use 'nft' tool.`);
      const lines: string[] = [];
      if (c.policy)
        lines.push(
          options.verbose
            ? `Chain ${n} (policy ${c.policy} ${c.packets} packets, ${c.bytes} bytes)`
            : `Chain ${n} (policy ${c.policy})`,
        );
      else lines.push(`Chain ${n} (${this.references(table, n)} references)`);
      let header = options.lineNumbers ? "num  " : "";
      if (options.verbose) header += options.exact ? "    pkts      bytes " : " pkts bytes ";
      header += "target     prot opt ";
      if (options.verbose) header += "in     out     ";
      header += "source               destination         ";
      lines.push(header);
      c.rules.forEach((r, i) => {
        lines.push(listRule(r, i + 1, options));
      });
      blocks.push(lines.join("\n"));
    }
    return `${blocks.join("\n\n")}\n`;
  }
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** xtables_print_num: counters above 99999 are shown in K, M, G, T (rounded), unless -x. */
function countText(n: number, exact: boolean | undefined): string {
  if (exact) return `${n}`.padStart(8);
  if (n <= 99999) return `${n}`.padStart(5);
  let v = Math.floor((n + 500) / 1000);
  for (const unit of ["K", "M", "G", "T"]) {
    if (v <= 9999 || unit === "T") return `${v}${unit}`.padStart(5);
    v = Math.floor((v + 500) / 1000);
  }
  return `${v}`;
}

function listRule(
  r: Rule,
  num: number,
  o: {
    verbose?: boolean;
    numeric?: boolean;
    exact?: boolean;
    lineNumbers?: boolean;
    protocolNumbers?: boolean;
  },
): string {
  let s = o.lineNumbers ? `${`${num}`.padEnd(4)} ` : "";
  if (o.verbose) s += `${countText(r.packets, o.exact)} ${countText(r.bytes, o.exact)} `;
  s += `${(r.target?.name ?? "").padEnd(9)} `;
  s += r.protocol?.invert ? "!" : " ";
  const proto = r.protocol?.num ?? 0;
  // 1.8.9 prints numbers under -n; 1.8.4 its own few names (tcp, udp, icmp, esp, ah, sctp, all) or numbers;
  // without -n both look the number up in /etc/protocols (4 is `ipencap`).
  const protoText = o.numeric && o.protocolNumbers ? `${proto}` : iptablesProtocolText(proto, !o.numeric);
  s += `${protoText.padEnd(4)} `; // iptables: "%-4s "
  s += "-- ";
  if (o.verbose) {
    const iface = (m: { invert: boolean; name: string } | undefined) =>
      m ? `${m.invert ? "!" : ""}${m.name}` : o.numeric ? "*" : "any";
    s += ` ${iface(r.in).padEnd(6)} ${iface(r.out).padEnd(6)} `;
  }
  const addr = (m: Rule["src"]) => {
    if (!m) return o.numeric ? "0.0.0.0/0" : "anywhere";
    if (m.prefix.len === 0 && !o.numeric) return "anywhere";
    return m.prefix.len === 32 ? formatIpv4(m.prefix.addr) : `${formatIpv4(m.prefix.addr)}/${m.prefix.len}`;
  };
  s += `${r.src?.invert ? "!" : " "}${addr(r.src).padEnd(19)} `;
  s += `${r.dst?.invert ? "!" : " "}${addr(r.dst).padEnd(19)} `;
  for (const m of r.matches) s += ` ${m.list}`;
  if (r.target?.list) s += ` ${r.target.list}`;
  return s;
}

function withNotrack(r: TraversalResult, notrack: boolean): TraversalResult {
  if (notrack) r.notrack = true;
  return r;
}

/** The plain verdicts are shared (never mutated): most hooks end in one, so nothing needs allocating. */
const ACCEPTED: TraversalResult = { verdict: "ACCEPT" };
const DROPPED: TraversalResult = { verdict: "DROP" };

function verdictOf(
  verdict: "ACCEPT" | "DROP",
  logs: string[] | undefined,
  notrack: boolean,
): TraversalResult {
  if (!logs && !notrack) return verdict === "ACCEPT" ? ACCEPTED : DROPPED;
  return withNotrack({ verdict, logs }, notrack);
}
