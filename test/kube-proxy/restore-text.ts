/** Test support: reading iptables-restore payloads (tables, chain lines, rules) for comparisons and tracing. */

export interface RestoreTable {
  name: string;
  chains: string[];
  /** Rule lines (`-A CHAIN …`) in order. */
  rules: string[];
  /** Chain deletions (`-X CHAIN`) in order. */
  deletions: string[];
}

export function parseRestore(text: string): RestoreTable[] {
  const tables: RestoreTable[] = [];
  let current: RestoreTable | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      current = { name: line.slice(1), chains: [], rules: [], deletions: [] };
      tables.push(current);
    } else if (line === "COMMIT") current = undefined;
    else if (!current) throw new Error(`line outside a table: ${line}`);
    else if (line.startsWith(":")) current.chains.push(line.slice(1).split(" ")[0]!);
    else if (line.startsWith("-A ")) current.rules.push(line);
    else if (line.startsWith("-X ")) current.deletions.push(line.slice(3));
    else throw new Error(`unexpected line: ${line}`);
  }
  return tables;
}

/** Splits a rule into words, keeping `"quoted text"` as one word without its quotes. */
export function ruleWords(rule: string): string[] {
  const words: string[] = [];
  for (const m of rule.matchAll(/"([^"]*)"|(\S+)/g)) words.push(m[1] ?? m[2]!);
  return words;
}

function chainRank(chain: string): [number, string] {
  if (chain === "KUBE-NODEPORTS") return [0, ""];
  if (chain === "KUBE-SERVICES") return [1, ""];
  return chain.startsWith("KUBE-") ? [2, chain] : [3, chain];
}

function serviceOfRule(rule: string): string {
  const words = ruleWords(rule);
  const i = words.indexOf("--comment");
  if (i < 0) return "";
  return words[i + 1]!.split(/[ :]/)[0]!;
}

/**
 * The upstream tests' canonical form (proxier_test.go sortIPTablesRules): tables by name; chains
 * KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* alphabetically, then the rest; rules grouped by chain in
 * that order; KUBE-NODEPORTS and KUBE-SERVICES rules stably sorted by the service in their comment, with
 * the "must be the last rule" rule last; chain deletions at the end.
 */
export function canonicalRestore(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const table of parseRestore(text)) {
    const chains = [...new Set(table.chains)].sort((a, b) => {
      const [ra, na] = chainRank(a);
      const [rb, nb] = chainRank(b);
      return ra - rb || (na < nb ? -1 : na > nb ? 1 : 0);
    });
    const lines = [`*${table.name}`, ...chains.map((c) => `:${c} - [0:0]`)];
    const ruleChain = (r: string) => r.split(" ")[1]!;
    const known = new Set(chains);
    const order = [...chains, ...new Set(table.rules.map(ruleChain).filter((c) => !known.has(c)))];
    for (const chain of order) {
      let rules = table.rules.filter((r) => ruleChain(r) === chain);
      if (chain === "KUBE-NODEPORTS" || chain === "KUBE-SERVICES") {
        const last = rules.filter((r) => r.includes("must be the last rule"));
        rules = rules
          .filter((r) => !r.includes("must be the last rule"))
          .map((r, i) => ({ r, i, svc: serviceOfRule(r) }))
          .sort((a, b) => (a.svc < b.svc ? -1 : a.svc > b.svc ? 1 : a.i - b.i))
          .map((x) => x.r)
          .concat(last);
      }
      lines.push(...rules);
    }
    lines.push(...table.deletions.map((c) => `-X ${c}`), "COMMIT", "");
    out[table.name] = lines.join("\n");
  }
  return out;
}
