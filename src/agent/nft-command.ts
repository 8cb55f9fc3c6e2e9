import { formatChain, formatRuleset, formatSet, formatTable, type Kernel } from "../dataplane/sim/index.ts";
import type { CommandResult } from "./sim-commands.ts";

const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/** nft's complaint about a missing object, with its command line and carets under the name. */
function notFound(words: string[], index: number): CommandResult {
  const line = words.join(" ");
  const col = words.slice(0, index).join(" ").length + (index > 0 ? 1 : 0);
  return fail(
    `Error: No such file or directory\n${line}\n${" ".repeat(col)}${"^".repeat(words[index]!.length)}\n`,
  );
}

/**
 * `nft list ruleset|tables|table|chain|set|map` over a namespace of the sim, printed as nft 1.0.6 prints
 * them. The ruleset comes from the agents (kube-proxy's nftables mode); changing it by hand is not built.
 */
export function nftCommand(k: Kernel, args: string[]): CommandResult {
  if (args[0] !== "list")
    return fail(
      `not supported yet: nft ${args.join(" ")} on the sim dataplane (only nft list; rules come from the agents)\n`,
    );
  const words = [...args];
  const what = words[1];
  const now = k.nft.clock();
  if (what === "ruleset" && words.length === 2) return ok(formatRuleset(k.nft));
  if (what === "tables" && words.length === 2)
    return ok([...k.nft.tables.values()].map((t) => `table ${t.family} ${t.name}\n`).join(""));
  // The family is optional and defaults to ip; only ip tables exist on the sim.
  let i = 2;
  if (words[i] === "ip") i++;
  else if (["ip6", "inet", "arp", "bridge", "netdev"].includes(words[i] ?? ""))
    return notFound(words, i + 1 < words.length ? i + 1 : i);
  const tableName = words[i];
  if (!tableName || !["table", "chain", "set", "map"].includes(what ?? ""))
    return fail(`not supported yet: nft ${args.join(" ")} on the sim dataplane\n`);
  const table = k.nft.tables.get(tableName);
  if (!table) return notFound(words, i);
  if (what === "table") {
    if (words.length !== i + 1) return fail(`Error: syntax error, unexpected ${words[i + 1]}\n`);
    return ok(formatTable(table, now));
  }
  const name = words[i + 1];
  if (!name || words.length !== i + 2) return fail(`Error: syntax error, ${what} name expected\n`);
  if (what === "chain") {
    const chain = table.chains.get(name);
    return chain ? ok(formatChain(table, chain)) : notFound(words, i + 1);
  }
  const set = table.sets.get(name);
  if (!set || set.map !== (what === "map")) return notFound(words, i + 1);
  return ok(formatSet(table, set, now));
}
