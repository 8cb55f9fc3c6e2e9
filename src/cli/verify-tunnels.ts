/**
 * `tortie verify`'s comparison of Felix's tunnel state (issue 19): on each host whose description has any, the
 * policy rules, permanent neighbours, VXLAN forwarding entries and WireGuard devices (`wg show all dump` without
 * the private key and counters), line by line in the normal form both kernels report (calc's normaliseKernelQuery).
 */
import type { KernelQuery, NamespaceSpec } from "../calc/index.ts";
import { type Comparison, emptyComparison } from "./verify-compare.ts";

/** The tunnel queries and the tool each one's lines come from (as divergences name them). */
export const TUNNEL_QUERY_TOOLS: readonly [KernelQuery, string][] = [
  ["rules", "ip rule"],
  ["neighbours", "ip neigh"],
  ["fdb", "bridge fdb"],
  ["wireguard", "wg"],
];

/** The tunnel queries worth comparing in a namespace: those its description has state for. */
export function tunnelQueries(ns: NamespaceSpec): KernelQuery[] {
  const out: KernelQuery[] = [];
  if (ns.rules?.length) out.push("rules");
  if (ns.neighbours?.length) out.push("neighbours");
  if (ns.fdb?.length) out.push("fdb");
  if (ns.links.some((l) => l.kind === "wireguard")) out.push("wireguard");
  return out;
}

/**
 * Two normal forms compared as sets of lines: each line only one kernel reports is one divergence (a rule, an
 * entry, a peer); every line is one check.
 */
export function compareLines(
  where: string,
  what: KernelQuery,
  simText: string,
  linuxText: string,
): Comparison {
  const tool = TUNNEL_QUERY_TOOLS.find(([q]) => q === what)?.[1] ?? what;
  const split = (t: string) => t.split("\n").filter((l) => l.trim() !== "");
  const sim = new Set(split(simText));
  const linux = new Set(split(linuxText));
  const c = emptyComparison();
  for (const line of [...new Set([...sim, ...linux])].sort()) {
    c.checks++;
    const s = sim.has(line);
    const l = linux.has(line);
    if (s !== l)
      c.divergences.push({
        where,
        what: `${tool} ${line.replace(/\t/g, " ")}`,
        sim: s ? "present" : "(none)",
        linux: l ? "present" : "(none)",
      });
  }
  return c;
}
