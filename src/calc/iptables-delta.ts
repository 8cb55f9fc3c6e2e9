/**
 * What `iptables-restore --noflush` must load to turn one list of payloads' result into another's, changing only
 * the chains that differ (as Felix and kube-proxy's partial syncs do): a chain whose rules are untouched keeps its
 * rules and their counters. Rules are compared as text (`-A CHAIN` followed by the rest of the line); matches are
 * never parsed.
 */

const BUILTIN_CHAINS: Record<string, string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
  security: ["INPUT", "FORWARD", "OUTPUT"],
};

/** One chain's final contents: its policy (builtin chains only) and its rules' text after `-A CHAIN `. */
export interface ChainState {
  builtin: boolean;
  policy?: string;
  rules: string[];
}

/** Table name → chain name → contents, as the payloads leave them. */
export type IptablesState = Map<string, Map<string, ChainState>>;

export function isBuiltinChain(table: string, chain: string): boolean {
  return BUILTIN_CHAINS[table]?.includes(chain) ?? false;
}

/** Splits a rule line into words the way a shell would for the few words read here (quotes kept in the text). */
function firstWords(line: string, n: number): { words: string[]; rest: string } {
  const words: string[] = [];
  let rest = line.trim();
  while (words.length < n && rest) {
    const m = /^(\S+)\s*/.exec(rest)!;
    words.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  return { words, rest };
}

function chainOf(
  tableState: Map<string, ChainState>,
  table: string,
  chain: string,
  line: string,
): ChainState {
  const c = tableState.get(chain);
  if (!c) throw new Error(`iptables payload: table ${table} has no chain ${chain}: ${line}`);
  return c;
}

/** Applies `payloads` in order (as `iptables-restore --noflush` would, to `start`) and returns the result. */
export function foldIptablesPayloads(payloads: string[], start: IptablesState = new Map()): IptablesState {
  const state: IptablesState = new Map();
  for (const [t, chains] of start)
    state.set(t, new Map([...chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])));
  for (const payload of payloads) {
    let table: string | undefined;
    let chains: Map<string, ChainState> | undefined;
    for (const raw of payload.split("\n")) {
      const line = raw.replace(/^\[\d+:\d+\]\s*/, "").trim();
      if (!line || line.startsWith("#")) continue;
      if (line.startsWith("*")) {
        table = line.slice(1);
        chains = state.get(table);
        if (!chains) {
          chains = new Map();
          for (const b of BUILTIN_CHAINS[table] ?? [])
            chains.set(b, { builtin: true, policy: "ACCEPT", rules: [] });
          state.set(table, chains);
        }
        continue;
      }
      if (!table || !chains) throw new Error(`iptables payload: a line outside a table: ${line}`);
      if (line === "COMMIT") {
        table = undefined;
        chains = undefined;
        continue;
      }
      if (line.startsWith(":")) {
        const { words } = firstWords(line.slice(1), 2);
        const name = words[0]!;
        const existing = chains.get(name);
        if (isBuiltinChain(table, name)) {
          // A builtin chain's declaration sets its policy; --noflush keeps its rules.
          if (existing) existing.policy = words[1] ?? existing.policy;
          else chains.set(name, { builtin: true, policy: words[1] ?? "ACCEPT", rules: [] });
        } else chains.set(name, { builtin: false, rules: [] }); // --noflush flushes a declared user chain
        continue;
      }
      const { words, rest } = firstWords(line, 2);
      const [op, chain] = words;
      switch (op) {
        case "-A":
        case "--append":
          chainOf(chains, table, chain!, line).rules.push(rest);
          break;
        case "-I":
        case "--insert": {
          const c = chainOf(chains, table, chain!, line);
          const m = /^(\d+)\s+(.*)$/.exec(rest);
          if (!m) c.rules.unshift(rest);
          else {
            // iptables refuses rule number 0 and a position past the end (`Index of insertion too big`).
            const at = Number(m[1]);
            if (at < 1 || at > c.rules.length + 1)
              throw new Error(`iptables payload: index of insertion too big: ${line}`);
            c.rules.splice(at - 1, 0, m[2]!);
          }
          break;
        }
        case "-D":
        case "--delete": {
          const c = chainOf(chains, table, chain!, line);
          const i = /^\d+$/.test(rest) ? Number(rest) - 1 : c.rules.indexOf(rest);
          if (i < 0 || i >= c.rules.length)
            throw new Error(`iptables payload: no such rule to delete: ${line}`);
          c.rules.splice(i, 1);
          break;
        }
        case "-R":
        case "--replace": {
          const c = chainOf(chains, table, chain!, line);
          const m = /^(\d+)\s+(.*)$/.exec(rest);
          if (!m || Number(m[1]) < 1 || Number(m[1]) > c.rules.length)
            throw new Error(`iptables payload: bad replace: ${line}`);
          c.rules[Number(m[1]) - 1] = m[2]!;
          break;
        }
        case "-N":
        case "--new-chain":
          if (chains.has(chain!)) throw new Error(`iptables payload: chain already exists: ${line}`);
          chains.set(chain!, { builtin: false, rules: [] });
          break;
        case "-F":
        case "--flush":
          if (chain) chainOf(chains, table, chain, line).rules = [];
          else for (const c of chains.values()) c.rules = [];
          break;
        case "-X":
        case "--delete-chain":
          if (chain) {
            const c = chainOf(chains, table, chain, line);
            if (c.builtin) throw new Error(`iptables payload: cannot delete builtin chain: ${line}`);
            chains.delete(chain);
          } else for (const [n, c] of chains) if (!c.builtin) chains.delete(n);
          break;
        case "-P":
        case "--policy":
          chainOf(chains, table, chain!, line).policy = rest.split(/\s+/)[0];
          break;
        case "-Z":
        case "--zero":
          break;
        default:
          throw new Error(`iptables payload: unsupported command: ${line}`);
      }
    }
  }
  return state;
}

function sameChain(a: ChainState | undefined, b: ChainState | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.policy === b.policy && a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i])
  );
}

/** The chains (`table/chain`) whose contents differ between two states, in name order. */
export function changedChains(previous: IptablesState, next: IptablesState): string[] {
  const out: string[] = [];
  for (const table of new Set([...previous.keys(), ...next.keys()])) {
    const p = previous.get(table) ?? new Map<string, ChainState>();
    const n = next.get(table) ?? new Map<string, ChainState>();
    for (const chain of new Set([...p.keys(), ...n.keys()])) {
      const pc = p.get(chain);
      const nc = n.get(chain);
      // A builtin chain absent on one side is an empty ACCEPT chain.
      const empty: ChainState = { builtin: true, policy: "ACCEPT", rules: [] };
      const builtin = isBuiltinChain(table, chain);
      if (!sameChain(pc ?? (builtin ? empty : undefined), nc ?? (builtin ? empty : undefined)))
        out.push(`${table}/${chain}`);
    }
  }
  return out.sort();
}

/**
 * One `iptables-restore --noflush` payload that turns `previous`'s result into `next`'s by reloading only the
 * changed chains: new and changed user chains are declared (declaring flushes), builtin chains are flushed with
 * `-F` (and their policy set), removed chains are flushed first and deleted at the end (after every rule that
 * jumped to them is gone). "" when nothing changed.
 */
export function iptablesDelta(previous: string[] | IptablesState, next: string[] | IptablesState): string {
  const p = Array.isArray(previous) ? foldIptablesPayloads(previous) : previous;
  const n = Array.isArray(next) ? foldIptablesPayloads(next) : next;
  const changed = changedChains(p, n);
  if (!changed.length) return "";
  const byTable = new Map<string, string[]>();
  for (const tc of changed) {
    // Chain names may hold "/" (Felix's `cali-pi-gnp/deny-customer`); table names never do.
    const slash = tc.indexOf("/");
    const table = tc.slice(0, slash);
    const chain = tc.slice(slash + 1);
    byTable.set(table, [...(byTable.get(table) ?? []), chain]);
  }
  const out: string[] = [];
  for (const [table, chains] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
    const nt = n.get(table) ?? new Map<string, ChainState>();
    const declare: string[] = [];
    const body: string[] = [];
    const removed: string[] = [];
    for (const chain of chains) {
      const nc = nt.get(chain);
      if (isBuiltinChain(table, chain)) {
        declare.push(`:${chain} ${nc?.policy ?? "ACCEPT"} [0:0]`);
        body.push(`-F ${chain}`);
      } else {
        declare.push(`:${chain} - [0:0]`);
        if (!nc) removed.push(chain);
      }
      for (const rule of nc?.rules ?? []) body.push(`-A ${chain} ${rule}`);
    }
    out.push(`*${table}`, ...declare, ...body, ...removed.map((c) => `-X ${c}`), "COMMIT");
  }
  return `${out.join("\n")}\n`;
}
