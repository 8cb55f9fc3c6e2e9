/**
 * Rules compared the way iptables-save prints them. The kernel hands back its own canonical text (matches
 * reordered, `/32` added, marks in short hex, `--or-mark` as `--set-xmark`), so comparing the rendered text with
 * `iptables-save` as strings would see every kube-proxy chain as changed and reload it, resetting its counters.
 * A rule is reduced to the bag of its options with their values normalised: two rules are the same when their
 * bags are (the order of matches inside one rule does not change what it matches for the modules rendered here).
 */
import type { ChainState, IptablesState } from "../../calc/index.ts";
import { parseProtocol } from "../../net/index.ts";

/** Long option names → the short ones iptables-save prints. */
const SHORT: Record<string, string> = {
  "--source": "-s",
  "--src": "-s",
  "--destination": "-d",
  "--dst": "-d",
  "--protocol": "-p",
  "--jump": "-j",
  "--goto": "-g",
  "--in-interface": "-i",
  "--out-interface": "-o",
  "--match": "-m",
  "--fragment": "-f",
};

/** Splits a rule into words as a shell would (double and single quotes removed); quoted words are never options. */
function words(rule: string): { text: string; quoted: boolean }[] {
  const out: { text: string; quoted: boolean }[] = [];
  for (const m of rule.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) {
    if (m[1] !== undefined) out.push({ text: m[1].replace(/\\(.)/g, "$1"), quoted: true });
    else if (m[2] !== undefined) out.push({ text: m[2], quoted: true });
    else out.push({ text: m[3]!, quoted: false });
  }
  return out;
}

/** `0x00004000` → `0x4000` (also inside `value/mask`). */
function shortHex(v: string): string {
  return v.replace(/0x0*([0-9a-fA-F]+)/g, (_, h: string) => `0x${h.toLowerCase()}`);
}

function hostPrefix(v: string): string {
  return /^\d+\.\d+\.\d+\.\d+$/.test(v) ? `${v}/32` : v;
}

/** One option and its values, normalised as iptables-save prints them. */
function normaliseItem(option: string, values: string[]): string[] {
  const o = SHORT[option] ?? option;
  const v = values.map(shortHex);
  switch (o) {
    case "-s":
    case "-d":
      return [`${o} ${v.map(hostPrefix).join(" ")}`];
    case "--or-mark":
      return [`--set-xmark ${v[0]}/${v[0]}`];
    case "--xor-mark":
      return [`--set-xmark ${v[0]}/0x0`];
    case "--set-mark":
      return [`--set-xmark ${v[0]!.includes("/") ? v[0] : `${v[0]}/0xffffffff`}`];
    case "--probability":
      return [`${o} ${Number(v[0])}`];
    default:
      return [[o, ...v].join(" ")];
  }
}

/** A rule's canonical key: its normalised options, sorted (a `!` stays with the option it negates). */
export function canonicalRule(rule: string): string {
  const items: string[] = [];
  let negate = false;
  let option: string | undefined;
  let values: string[] = [];
  const flush = () => {
    if (option !== undefined)
      for (const item of normaliseItem(option, values)) items.push(negate ? `! ${item}` : item);
    option = undefined;
    values = [];
    negate = false;
  };
  let pendingNegate = false;
  for (const w of words(rule)) {
    if (!w.quoted && w.text === "!") {
      flush();
      pendingNegate = true;
      continue;
    }
    if (!w.quoted && w.text.startsWith("-") && w.text.length > 1 && !/^-\d/.test(w.text)) {
      flush();
      option = w.text;
      negate = pendingNegate;
      pendingNegate = false;
      continue;
    }
    values.push(w.text);
  }
  flush();
  // `-p tcp --dport N` loads as `-p tcp -m tcp --dport N`: the implicit match is printed.
  const proto = items.find((i) => /^-p (tcp|udp|sctp)$/.test(i))?.slice(3);
  if (proto && !items.includes(`-m ${proto}`) && items.some((i) => /^(! )?--(d|s)port /.test(i)))
    items.push(`-m ${proto}`);
  // A protocol by its number: Felix writes `-p 4`, iptables-save prints /etc/protocols' name (`-p ipencap`).
  return items
    .map((i) =>
      i.replace(/^((?:! )?-p) (\S+)$/, (all, p: string, name: string) => {
        const num = parseProtocol(name);
        return num === undefined ? all : `${p} ${num}`;
      }),
    )
    .sort()
    .join(" ");
}

function sameCanonical(a: ChainState, b: ChainState): boolean {
  return (
    a.policy === b.policy &&
    a.rules.length === b.rules.length &&
    a.rules.every((r, i) => r === b.rules[i] || canonicalRule(r) === canonicalRule(b.rules[i]!))
  );
}

/**
 * The kernel's state (folded from iptables-save) with every chain that equals the wanted one in canonical form
 * replaced by the wanted text, so that a text delta against `wanted` reloads only the chains that really differ.
 */
export function alignToWanted(kernel: IptablesState, wanted: IptablesState): IptablesState {
  const out: IptablesState = new Map();
  for (const [table, chains] of kernel) {
    const w = wanted.get(table);
    const copy = new Map<string, ChainState>();
    for (const [name, c] of chains) {
      const wc = w?.get(name);
      copy.set(name, wc && sameCanonical(c, wc) ? { ...wc, rules: [...wc.rules] } : c);
    }
    out.set(table, copy);
  }
  return out;
}

/** The chains (`table/chain`) that differ in canonical form: for the cheap drift check. */
export function canonicalChainsDiffer(kernel: IptablesState, wanted: IptablesState): string[] {
  const aligned = alignToWanted(kernel, wanted);
  const out: string[] = [];
  for (const table of new Set([...aligned.keys(), ...wanted.keys()])) {
    const k = aligned.get(table) ?? new Map<string, ChainState>();
    const w = wanted.get(table) ?? new Map<string, ChainState>();
    for (const chain of new Set([...k.keys(), ...w.keys()])) {
      const kc = k.get(chain);
      const wc = w.get(chain);
      const emptyBuiltin = (c: ChainState | undefined) =>
        c === undefined || (c.builtin && c.rules.length === 0 && (c.policy ?? "ACCEPT") === "ACCEPT");
      if (emptyBuiltin(kc) && emptyBuiltin(wc) && (kc?.builtin ?? wc?.builtin)) continue;
      if (!kc || !wc || !sameCanonical(kc, wc)) out.push(`${table}/${chain}`);
    }
  }
  return out.sort();
}
