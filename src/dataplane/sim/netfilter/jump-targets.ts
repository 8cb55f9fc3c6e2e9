import type { Chain, Table } from "./tables.ts";

/** A rule's jump or goto: the chain it names. */
interface JumpAction {
  chain: string;
}

/**
 * The chains jumps lead to, as `traverse` resolved them, by table and by the rule's target action (compiled
 * targets are shared by every rule that writes them alike, so one entry serves them all). A lookup by the
 * action's identity costs less than one by the chain's name, which, read from rule text, is compared character
 * by character. The tables change only in `restore`, which empties this when it commits; a table object that
 * replaced another gets entries of its own.
 */
export class JumpTargets {
  private byTable = new WeakMap<Table, Map<JumpAction, Chain>>();
  /** The table of the last lookup and its entries: a traversal's jumps are all in one table. */
  private lastTable: Table | undefined;
  private last: Map<JumpAction, Chain> | undefined;

  resolve(table: Table, action: JumpAction): Chain | undefined {
    let resolved = table === this.lastTable ? this.last : this.byTable.get(table);
    if (!resolved) {
      resolved = new Map();
      this.byTable.set(table, resolved);
    }
    this.lastTable = table;
    this.last = resolved;
    const hit = resolved.get(action);
    if (hit) return hit;
    const chain = table.get(action.chain);
    if (chain) resolved.set(action, chain);
    return chain;
  }

  clear(): void {
    this.byTable = new WeakMap();
    this.lastTable = undefined;
    this.last = undefined;
  }
}
