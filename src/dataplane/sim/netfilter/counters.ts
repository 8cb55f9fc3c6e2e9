import { type Rule, ruleSaveText } from "./rule.ts";
import type { Chain, Table, TableName } from "./tables.ts";

/**
 * Where a counter lives, stable across a rebuild of the same ruleset: the rule's `iptables -S` text and how
 * many rules before it in the same chain have that text; `text` undefined is a built-in chain's policy counter.
 */
export interface CounterKey {
  text: string | undefined;
  occurrence: number;
  packets: number;
  bytes: number;
}

export interface CounterEntry extends CounterKey {
  table: TableName;
  chain: string;
}

/** Every non-zero counter of the tables; chains with none cost one pass over their rules' numbers. */
export function countedRules(tables: Map<TableName, Table>): CounterEntry[] {
  const out: CounterEntry[] = [];
  for (const [table, chains] of tables)
    for (const [name, chain] of chains) {
      if (chain.policy !== undefined && (chain.packets !== 0 || chain.bytes !== 0))
        out.push({
          table,
          chain: name,
          text: undefined,
          occurrence: 0,
          packets: chain.packets,
          bytes: chain.bytes,
        });
      if (!hasCounts(chain.rules)) continue;
      const seen = new Map<string, number>();
      for (const r of chain.rules) {
        const text = ruleSaveText(r);
        const occurrence = seen.get(text) ?? 0;
        seen.set(text, occurrence + 1);
        if (r.packets !== 0 || r.bytes !== 0)
          out.push({ table, chain: name, text, occurrence, packets: r.packets, bytes: r.bytes });
      }
    }
  return out;
}

function hasCounts(rules: Rule[]): boolean {
  for (const r of rules) if (r.packets !== 0 || r.bytes !== 0) return true;
  return false;
}

/** Sets one chain's counters by key; keys that name no rule of the chain are skipped. Returns how many were set. */
export function setChainCounters(chain: Chain, entries: Iterable<CounterKey>): number {
  let byKey: Map<string, Rule> | undefined;
  let set = 0;
  for (const e of entries) {
    if (e.text === undefined) {
      if (chain.policy === undefined) continue;
      chain.packets = e.packets;
      chain.bytes = e.bytes;
      set++;
      continue;
    }
    byKey ??= ruleKeys(chain.rules);
    const r = byKey.get(`${e.occurrence}#${e.text}`);
    if (!r) continue;
    r.packets = e.packets;
    r.bytes = e.bytes;
    set++;
  }
  return set;
}

function ruleKeys(rules: Rule[]): Map<string, Rule> {
  const seen = new Map<string, number>();
  const out = new Map<string, Rule>();
  for (const r of rules) {
    const text = ruleSaveText(r);
    const n = seen.get(text) ?? 0;
    seen.set(text, n + 1);
    out.set(`${n}#${text}`, r);
  }
  return out;
}
