import type { Hook } from "../netfilter/index.ts";
import { formatDuration } from "./datatypes.ts";
import type { NftChain, NftRule, NftSet, NftTable } from "./model.ts";
import { formatKey, sortElements, verdictPrint } from "./rule.ts";
import { type Nftables, STD_PRIORITIES } from "./ruleset.ts";

const HOOK_NAMES: Record<Hook, string> = {
  PREROUTING: "prerouting",
  INPUT: "input",
  FORWARD: "forward",
  OUTPUT: "output",
  POSTROUTING: "postrouting",
};

/**
 * nft 1.0's priority names: within ±10 of a standard priority, as `dstnat - 10`; `dstnat` only on
 * prerouting and `srcnat` only on postrouting (nft 1.0.6, family ip).
 */
export function priorityText(priority: number, hook: Hook): string {
  for (const [name, value] of STD_PRIORITIES) {
    if (name === "dstnat" && hook !== "PREROUTING") continue;
    if (name === "srcnat" && hook !== "POSTROUTING") continue;
    const offset = priority - value;
    if (offset < -10 || offset > 10) continue;
    return offset === 0 ? name : `${name} ${offset > 0 ? "+" : "-"} ${Math.abs(offset)}`;
  }
  return `${priority}`;
}

export function ruleText(r: NftRule): string {
  if (r.counterAt < 0 || !r.counter) return r.parts.join(" ");
  const parts = [...r.parts];
  parts[r.counterAt] = `counter packets ${r.counter.packets} bytes ${r.counter.bytes}`;
  return parts.join(" ");
}

function setBlock(s: NftSet, now: number): string[] {
  const out = [`\t${s.map ? "map" : "set"} ${s.name} {`];
  out.push(`\t\ttype ${s.types.map((t) => t.name).join(" . ")}${s.map ? " : verdict" : ""}`);
  if (s.size !== undefined) out.push(`\t\tsize ${s.size}`);
  const flags = ["constant", "dynamic", "interval", "timeout"].filter((f) => s.flags.has(f));
  if (flags.length) out.push(`\t\tflags ${flags.join(",")}`);
  if (s.timeout !== undefined) out.push(`\t\ttimeout ${formatDuration(s.timeout)}`);
  if (s.comment !== undefined) out.push(`\t\tcomment "${s.comment}"`);
  const live = [...s.exact.values(), ...s.intervals].filter(
    (e) => e.expires === undefined || e.expires > now,
  );
  if (live.length) {
    const perLine = s.types.length > 1 ? 1 : s.types[0]!.perLine;
    let text = "";
    sortElements(s.types, live).forEach((e, i) => {
      if (i > 0) text += i % perLine === 0 ? ",\n\t\t\t     " : ", ";
      text += formatKey(s.types, e.key);
      if (e.timeout !== undefined && e.expires !== undefined)
        text += ` timeout ${formatDuration(e.timeout)} expires ${formatDuration(e.expires - now)}`;
      if (e.comment !== undefined) text += ` comment "${e.comment}"`;
      if (e.verdict) text += ` : ${verdictPrint(e.verdict)}`;
    });
    out.push(`\t\telements = { ${text} }`);
  }
  out.push("\t}");
  return out;
}

function chainBlock(c: NftChain): string[] {
  const out = [`\tchain ${c.name} {`];
  if (c.comment !== undefined) out.push(`\t\tcomment "${c.comment}"`);
  if (c.base)
    out.push(
      `\t\ttype ${c.base.type} hook ${HOOK_NAMES[c.base.hook]} priority ${priorityText(c.base.priority, c.base.hook)}; policy ${c.base.policy};`,
    );
  for (const r of c.rules) out.push(`\t\t${ruleText(r)}`);
  out.push("\t}");
  return out;
}

/** `nft list table ip NAME`: sets and maps first, then chains, in the order they were created. */
export function formatTable(t: NftTable, now: number): string {
  const out = [`table ${t.family} ${t.name} {`];
  if (t.comment !== undefined) out.push(`\tcomment "${t.comment}"`);
  const blocks = [
    ...[...t.sets.values()].map((s) => setBlock(s, now)),
    ...[...t.chains.values()].map(chainBlock),
  ];
  blocks.forEach((b, i) => {
    if (i > 0) out.push("");
    out.push(...b);
  });
  out.push("}");
  return `${out.join("\n")}\n`;
}

/** `nft list ruleset`. */
export function formatRuleset(nft: Nftables): string {
  const now = nft.clock();
  return [...nft.tables.values()].map((t) => formatTable(t, now)).join("");
}

/** `nft list chain ip TABLE CHAIN`. */
export function formatChain(t: NftTable, c: NftChain): string {
  return `table ${t.family} ${t.name} {\n${chainBlock(c).join("\n")}\n}\n`;
}

/** `nft list set|map ip TABLE NAME`. */
export function formatSet(t: NftTable, s: NftSet, now: number): string {
  return `table ${t.family} ${t.name} {\n${setBlock(s, now).join("\n")}\n}\n`;
}

/** Rules with a `counter` statement, keyed by table, chain and rule text (for counters that outlive a reload). */
export function counterEntries(nft: Nftables): [string, { packets: number; bytes: number }][] {
  const out: [string, { packets: number; bytes: number }][] = [];
  for (const t of nft.tables.values())
    for (const c of t.chains.values()) {
      const seen = new Map<string, number>();
      for (const r of c.rules) {
        if (!r.counter) continue;
        const text = r.parts.join(" ");
        const n = seen.get(text) ?? 0;
        seen.set(text, n + 1);
        out.push([`${t.family} ${t.name}|${c.name}|${text}#${n}`, r.counter]);
      }
    }
  return out;
}
