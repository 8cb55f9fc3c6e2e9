import type { Labels, SelectorNode } from "./ast.ts";
import type { Selector } from "./selector.ts";

/**
 * An inverted index from label name and value to items, so "which items does this selector match" is answered
 * with set operations over the labels the selector names instead of evaluating it against every item.
 * Negations (`!=`, `not in`, `!`) are answered as complements, which is the only place the whole set is read.
 */
export class LabelIndex<K> {
  private readonly labelsOf = new Map<K, Labels>();
  private readonly byName = new Map<string, Map<string, Set<K>>>();

  get size(): number {
    return this.labelsOf.size;
  }

  labels(id: K): Labels | undefined {
    return this.labelsOf.get(id);
  }

  ids(): IterableIterator<K> {
    return this.labelsOf.keys();
  }

  set(id: K, labels: Labels): void {
    this.delete(id);
    this.labelsOf.set(id, labels);
    for (const [name, value] of Object.entries(labels)) {
      let values = this.byName.get(name);
      if (!values) {
        values = new Map();
        this.byName.set(name, values);
      }
      let ids = values.get(value);
      if (!ids) {
        ids = new Set();
        values.set(value, ids);
      }
      ids.add(id);
    }
  }

  delete(id: K): void {
    const old = this.labelsOf.get(id);
    if (!old) return;
    this.labelsOf.delete(id);
    for (const [name, value] of Object.entries(old)) {
      const values = this.byName.get(name)!;
      const ids = values.get(value)!;
      ids.delete(id);
      if (ids.size === 0) values.delete(value);
      if (values.size === 0) this.byName.delete(name);
    }
  }

  /** The ids whose labels the selector matches. */
  query(selector: Selector | SelectorNode): Set<K> {
    return this.eval("ast" in selector ? selector.ast : selector);
  }

  private all(): Set<K> {
    return new Set(this.labelsOf.keys());
  }

  private withValues(label: string, keep: (value: string) => boolean): Set<K> {
    const out = new Set<K>();
    for (const [value, ids] of this.byName.get(label) ?? [])
      if (keep(value)) for (const id of ids) out.add(id);
    return out;
  }

  private complement(of: Set<K>): Set<K> {
    const out = new Set<K>();
    for (const id of this.labelsOf.keys()) if (!of.has(id)) out.add(id);
    return out;
  }

  private eval(node: SelectorNode): Set<K> {
    switch (node.op) {
      case "all":
      case "global":
        return this.all();
      case "has":
        return this.withValues(node.label, () => true);
      case "eq":
        return new Set(this.byName.get(node.label)?.get(node.value));
      case "ne":
        return this.complement(new Set(this.byName.get(node.label)?.get(node.value)));
      case "in":
        return this.withValues(node.label, (v) => node.values.includes(v));
      case "notin":
        return this.complement(this.withValues(node.label, (v) => node.values.includes(v)));
      case "contains":
        return this.withValues(node.label, (v) => v.includes(node.value));
      case "startswith":
        return this.withValues(node.label, (v) => v.startsWith(node.value));
      case "endswith":
        return this.withValues(node.label, (v) => v.endsWith(node.value));
      case "not":
        return this.complement(this.eval(node.operand));
      case "or": {
        const out = new Set<K>();
        for (const operand of node.operands) for (const id of this.eval(operand)) out.add(id);
        return out;
      }
      case "and": {
        // Intersect the positive operands smallest first; negated operands only remove from the result.
        const positive = node.operands.filter((n) => n.op !== "not");
        const negated = node.operands.filter((n) => n.op === "not");
        const sets = positive.map((n) => this.eval(n)).sort((a, b) => a.size - b.size);
        let out = sets.length > 0 ? sets[0]! : this.all();
        for (const s of sets.slice(1)) {
          const next = new Set<K>();
          for (const id of out) if (s.has(id)) next.add(id);
          out = next;
        }
        for (const n of negated) {
          if (out.size === 0) break;
          const excluded = this.eval((n as { operand: SelectorNode }).operand);
          for (const id of excluded) out.delete(id);
        }
        return out;
      }
    }
  }
}
