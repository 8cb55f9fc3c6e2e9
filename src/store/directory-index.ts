/**
 * Keys grouped by directory (everything up to the last "/"), with each directory's child directories.
 * Registry keys are paths (/registry/<group>/<plural>/[<namespace>/]<name>), and almost every listing asks
 * for one kind or one namespace: this answers those in time proportional to the answer, not to the store.
 */
export class DirectoryIndex {
  private readonly keys = new Map<string, Set<string>>();
  private readonly children = new Map<string, Set<string>>();

  add(key: string): void {
    const dir = parentOf(key);
    let set = this.keys.get(dir);
    if (!set) {
      set = new Set();
      this.keys.set(dir, set);
      this.linkDir(dir);
    }
    set.add(key);
  }

  remove(key: string): void {
    const dir = parentOf(key);
    const set = this.keys.get(dir);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) this.keys.delete(dir);
  }

  /** Every key starting with `prefix`, in no particular order. */
  *keysUnder(prefix: string): Generator<string> {
    const slash = prefix.lastIndexOf("/");
    const dir = prefix.slice(0, slash + 1);
    const rest = prefix.slice(slash + 1);
    if (rest === "") {
      yield* this.walk(dir);
      return;
    }
    // A partial name: the matching keys sit in `dir` itself or below child directories named rest*.
    for (const key of this.keys.get(dir) ?? []) if (key.startsWith(prefix)) yield key;
    for (const child of this.children.get(dir) ?? []) if (child.startsWith(prefix)) yield* this.walk(child);
  }

  private *walk(dir: string): Generator<string> {
    yield* this.keys.get(dir) ?? [];
    for (const child of this.children.get(dir) ?? []) yield* this.walk(child);
  }

  /** Registers `dir` under its parent directories (once); empty directories stay registered, which is harmless. */
  private linkDir(dir: string): void {
    let child = dir;
    while (child !== "") {
      const parent = parentOf(child.slice(0, -1));
      let set = this.children.get(parent);
      if (!set) {
        set = new Set();
        this.children.set(parent, set);
      }
      if (set.has(child)) return;
      set.add(child);
      child = parent;
    }
  }
}

/** "/a/b/c" → "/a/b/"; "/a/b/" → "/a/b/"; "c" → "". */
function parentOf(key: string): string {
  return key.slice(0, key.lastIndexOf("/") + 1);
}
