/**
 * ipset changes as `ipset restore` text: sets created and members added or deleted before the iptables rules
 * that use them change, sets destroyed after. A set whose `create` line changed is rebuilt under a temporary
 * name and swapped in (a set a rule references cannot be destroyed).
 */

interface SetText {
  create: string;
  members: string[];
}

/** `ipset save`/restore text → set name → its create line (after the name) and member lines. */
export function parseIpsets(text: string): Map<string, SetText> {
  const sets = new Map<string, SetText>();
  for (const raw of text.split("\n")) {
    const line = raw.trim().replace(/\s+/g, " ");
    if (!line || line.startsWith("#")) continue;
    const m = /^(create|add|-N|-A) (\S+) ?(.*)$/.exec(line);
    if (!m) throw new Error(`ipset payload: unsupported line: ${line}`);
    const [, op, name, rest] = m as unknown as [string, string, string, string];
    if (op === "create" || op === "-N") sets.set(name, { create: rest, members: [] });
    else {
      const s = sets.get(name);
      if (!s) throw new Error(`ipset payload: add to a set not created first: ${line}`);
      s.members.push(rest);
    }
  }
  return sets;
}

/** `before`: lines for restore before the rules change; `after`: the destroys after. Both "" when nothing to do. */
export function ipsetDelta(previous: string, next: string): { before: string; after: string } {
  const p = parseIpsets(previous);
  const n = parseIpsets(next);
  const before: string[] = [];
  const after: string[] = [];
  let tmp = 0;
  for (const [name, set] of n) {
    const old = p.get(name);
    if (!old) {
      before.push(`create ${name} ${set.create}`, ...set.members.map((m) => `add ${name} ${m}`));
    } else if (old.create !== set.create) {
      const t = `tt-swap-${process.pid % 100000}-${tmp++}`;
      before.push(
        `create ${t} ${set.create}`,
        ...set.members.map((m) => `add ${t} ${m}`),
        `swap ${t} ${name}`,
        `destroy ${t}`,
      );
    } else {
      const had = new Set(old.members);
      const has = new Set(set.members);
      before.push(
        ...old.members.filter((m) => !has.has(m)).map((m) => `del ${name} ${m}`),
        ...set.members.filter((m) => !had.has(m)).map((m) => `add ${name} ${m}`),
      );
    }
  }
  for (const name of p.keys()) if (!n.has(name)) after.push(`destroy ${name}`);
  const text = (lines: string[]) => (lines.length ? `${lines.join("\n")}\n` : "");
  return { before: text(before), after: text(after) };
}

/** Create options whose value the kernel picks or rounds: never compared. */
const KERNEL_CHOSEN = new Set(["hashsize", "bucketsize", "initval"]);
/** Create options that take a value (the rest are flags such as `counters` or `comment`). */
const VALUED = new Set([
  "family",
  "hashsize",
  "maxelem",
  "timeout",
  "netmask",
  "bucketsize",
  "initval",
  "range",
  "size",
  "markmask",
]);

function createOptions(create: string): { type: string; options: Map<string, string> } {
  const [type = "", ...words] = create.split(" ").filter(Boolean);
  const options = new Map<string, string>([["family", "inet"]]);
  for (let i = 0; i < words.length; i++)
    if (VALUED.has(words[i]!)) options.set(words[i]!, words[++i] ?? "");
    else options.set(words[i]!, "");
  return { type, options };
}

/** Whether the kernel's create line (`ipset save`, with the sizes it chose) makes the set `wanted` describes. */
export function sameCreate(kernel: string, wanted: string): boolean {
  const k = createOptions(kernel);
  const w = createOptions(wanted);
  if (k.type !== w.type) return false;
  for (const [key, value] of w.options)
    if (!KERNEL_CHOSEN.has(key) && k.options.get(key) !== value) return false;
  return true;
}

/** A member as the kernel prints it: an IPv4 /32 as the bare address, without timeouts and counters. */
export function canonicalMember(member: string): string {
  return member
    .replace(/\b(\d{1,3}(?:\.\d{1,3}){3})\/32\b/g, "$1")
    .replace(/\s+(?:timeout|packets|bytes)\s+\d+/g, "")
    .trim();
}

/**
 * The kernel's `ipset save` text with each set that matches the description's spelt as the description spells
 * it (create line, members): `ipsetDelta(aligned, wanted)` then holds only real differences, so a reconcile
 * changes only the members that differ instead of rebuilding every set, and an empty delta means no drift.
 */
export function alignIpsetsToWanted(kernel: string, wanted: string): string {
  const k = parseIpsets(kernel);
  const w = parseIpsets(wanted);
  const out: string[] = [];
  for (const [name, set] of k) {
    const ws = w.get(name);
    const same = ws !== undefined && sameCreate(set.create, ws.create);
    const spelt = new Map((same ? ws.members : []).map((m) => [canonicalMember(m), m]));
    out.push(`create ${name} ${same ? ws.create : set.create}`);
    for (const m of set.members) {
      const c = canonicalMember(m);
      out.push(`add ${name} ${spelt.get(c) ?? c}`);
    }
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
