import type { Chain, Table } from "./tables.ts";

/**
 * One table while a restore payload is applied to it: the table underneath is not touched; a chain the payload
 * writes is copied on its first write (and only that chain), a deleted chain is marked. Committing applies
 * the changes to the table underneath in place, so `--noflush` costs what the payload changes, not the size
 * of the table, and a payload that fails leaves the table exactly as it was.
 */
export class StagedTable {
  /** The payload's chains: a Chain written (or created) by it, or null where it deleted one. */
  readonly changed = new Map<string, Chain | null>();

  constructor(readonly base: Table) {}

  get(name: string): Chain | undefined {
    const c = this.changed.get(name);
    if (c !== undefined) return c ?? undefined;
    return this.base.get(name);
  }

  has(name: string): boolean {
    const c = this.changed.get(name);
    if (c !== undefined) return c !== null;
    return this.base.has(name);
  }

  /** A chain this payload may change: its own copy of the chain underneath, made on first use. */
  writable(name: string): Chain | undefined {
    const c = this.changed.get(name);
    if (c !== undefined) return c ?? undefined;
    const under = this.base.get(name);
    if (!under) return undefined;
    const copy: Chain = { ...under, rules: [...under.rules] };
    this.changed.set(name, copy);
    return copy;
  }

  set(name: string, chain: Chain): void {
    this.changed.set(name, chain);
  }

  delete(name: string): void {
    this.changed.set(name, null);
  }

  /** Every chain name as the table will have it, in its order (the table's chains first). */
  *names(): Generator<string> {
    for (const n of this.base.keys()) if (this.changed.get(n) !== null) yield n;
    for (const [n, c] of this.changed) if (c !== null && !this.base.has(n)) yield n;
  }

  /**
   * The first rule that jumps to a chain the table will not have, as `[chain, target]`. Every jump was checked
   * against the table when its rule was parsed, so only a chain this payload deleted can be missing: rules are
   * read only when it deleted one, and then only for jumps to the deleted names, before an exact scan in the
   * table's order names the first offender.
   */
  danglingJump(): [string, string] | undefined {
    const deleted = new Set<string>();
    for (const [n, c] of this.changed) if (c === null) deleted.add(n);
    if (deleted.size === 0) return undefined;
    let found = false;
    for (const c of this.changed.values()) if (c && jumpsToAny(c, deleted)) found = true;
    if (!found)
      for (const [n, c] of this.base)
        if (!deleted.has(n) && jumpsToAny(c, deleted)) {
          found = true;
          break;
        }
    if (!found) return undefined;
    for (const n of this.names()) {
      const c = this.get(n)!;
      const target = firstDangling(c, this);
      if (target !== undefined) return [c.name, target];
    }
    return undefined;
  }

  /** Writes the payload's chains into the table underneath. */
  commit(): Table {
    for (const [n, c] of this.changed) {
      if (c === null) this.base.delete(n);
      else this.base.set(n, c);
    }
    return this.base;
  }
}

function jumpsToAny(c: Chain, names: Set<string>): boolean {
  for (const r of c.rules) {
    const a = r.target?.action;
    if (a && (a.kind === "JUMP" || a.kind === "GOTO") && names.has(a.chain)) return true;
  }
  return false;
}

function firstDangling(c: Chain, t: StagedTable): string | undefined {
  for (const r of c.rules) {
    const a = r.target?.action;
    if (a && (a.kind === "JUMP" || a.kind === "GOTO") && !t.has(a.chain)) return a.chain;
  }
  return undefined;
}
