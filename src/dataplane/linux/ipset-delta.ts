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
