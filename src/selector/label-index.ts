import { evaluate, type Labels, type SelectorNode } from "./ast.ts";
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

  /** An upper bound on how many items an operand can match, read off the index. */
  private estimate(node: SelectorNode): number {
    const values = (label: string) => this.byName.get(label);
    switch (node.op) {
      case "eq":
        return values(node.label)?.get(node.value)?.size ?? 0;
      case "in":
        return node.values.reduce((n, v) => n + (values(node.label)?.get(v)?.size ?? 0), 0);
      case "has":
      case "contains":
      case "startswith":
      case "endswith": {
        let n = 0;
        for (const ids of values(node.label)?.values() ?? []) n += ids.size;
        return n;
      }
      case "and":
        return Math.min(...node.operands.map((o) => this.estimate(o)));
      default:
        return this.labelsOf.size;
    }
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
        // Start from the operand with the fewest candidates (estimated from the index without building sets),
        // then keep the candidates the other operands match, evaluated per candidate.
        const operands = flattenAnd(node.operands);
        let best = 0;
        let bestSize = Number.POSITIVE_INFINITY;
        for (const [i, n] of operands.entries()) {
          const size = this.estimate(n);
          if (size < bestSize) [best, bestSize] = [i, size];
        }
        const candidates = this.eval(operands[best]!);
        // A negation whose positive form matches few items is cheaper to subtract than to test per candidate.
        const subtract: SelectorNode[] = [];
        const test: SelectorNode[] = [];
        for (const [i, n] of operands.entries()) {
          if (i === best) continue;
          const positive = positiveForm(n);
          if (positive && this.estimate(positive) < candidates.size) subtract.push(positive);
          else test.push(n);
        }
        for (const p of subtract) for (const id of this.eval(p)) candidates.delete(id);
        if (test.length === 0) return candidates;
        const out = new Set<K>();
        for (const id of candidates) {
          const labels = this.labelsOf.get(id)!;
          if (test.every((n) => evaluate(n, labels))) out.add(id);
        }
        return out;
      }
    }
  }
}

function flattenAnd(operands: SelectorNode[]): SelectorNode[] {
  return operands.flatMap((n) => (n.op === "and" ? flattenAnd(n.operands) : [n]));
}

/** The positive selector a negation removes: `a != v` → `a == v`, `a not in S` → `a in S`, `!x` → `x`. */
function positiveForm(n: SelectorNode): SelectorNode | undefined {
  if (n.op === "not") return n.operand;
  if (n.op === "ne") return { op: "eq", label: n.label, value: n.value };
  if (n.op === "notin") return { op: "in", label: n.label, values: n.values };
  return undefined;
}
