/**
 * Policy routing (fib_rules): an ordered list of rules, each naming a routing table; the FIB lookup walks them by
 * priority and the first table that has a route for the destination answers. The kernel starts with three rules
 * (0 local, 32766 main, 32767 default); Calico's WireGuard adds `not from all fwmark 0x100000/0x100000 lookup 1`.
 */
import type { Route, RouteTable } from "./fib.ts";

export const LOCAL_TABLE = 255;
export const MAIN_TABLE = 254;
export const DEFAULT_TABLE = 253;

export interface Rule {
  priority: number;
  table: number;
  /** Match when `mark & mask === value` (or, with `not`, when it does not). */
  fwmark?: { value: number; mask: number; not?: boolean };
}

export const DEFAULT_RULES: readonly Rule[] = [
  { priority: 0, table: LOCAL_TABLE },
  { priority: 32766, table: MAIN_TABLE },
  { priority: 32767, table: DEFAULT_TABLE },
];

function ruleMatches(rule: Rule, mark: number): boolean {
  if (!rule.fwmark) return true;
  const equal = (mark & rule.fwmark.mask) >>> 0 === rule.fwmark.value >>> 0;
  return rule.fwmark.not ? !equal : equal;
}

/**
 * The route the rules choose for `dst`. The local table is the sim's local addresses, which callers test first
 * (`Kernel.isLocal`), so its rule is passed over here.
 */
export function lookupByRules(
  rules: readonly Rule[],
  tables: ReadonlyMap<number, RouteTable>,
  dst: number,
  mark: number,
): Route | undefined {
  for (const rule of rules) {
    if (rule.table === LOCAL_TABLE || !ruleMatches(rule, mark)) continue;
    const route = tables.get(rule.table)?.lookup(dst);
    if (route) return route;
  }
  return undefined;
}

export function tableName(n: number): string {
  if (n === LOCAL_TABLE) return "local";
  if (n === MAIN_TABLE) return "main";
  if (n === DEFAULT_TABLE) return "default";
  return String(n);
}

/** `ip rule show` (iproute2 6.x): `PRIO:\t[not ]from all [fwmark 0xV/0xM ]lookup TABLE`. */
export function formatRules(rules: readonly Rule[]): string {
  return rules
    .map((r) => {
      const mark = r.fwmark
        ? `fwmark 0x${(r.fwmark.value >>> 0).toString(16)}${r.fwmark.mask >>> 0 === 0xffffffff ? "" : `/0x${(r.fwmark.mask >>> 0).toString(16)}`} `
        : "";
      return `${r.priority}:\t${r.fwmark?.not ? "not " : ""}from all ${mark}lookup ${tableName(r.table)}\n`;
    })
    .join("");
}
