/**
 * A bounded memo for parsed rule parts. Kube-proxy's and Felix's rules repeat across chains, across hosts and
 * across syncs in one process, so the compiled form of a rule (or of one match or target) is looked up by its
 * text before it is built again. Only values that nothing mutates are kept: compiled matches and targets, and
 * rule templates without their counters.
 *
 * Two generations bound the memory: entries go into `young`; when it is full, `young` becomes `old` and the
 * previous `old` is dropped. A hit in `old` is promoted, so what keeps being used stays.
 */
export class BoundedMemo<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(private readonly limit: number) {}

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: string, value: V): void {
    if (this.young.size >= this.limit) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
