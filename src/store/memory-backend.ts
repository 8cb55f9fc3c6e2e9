import { AlreadyExistsError, ConflictError, deepClone, NotFoundError, TortieError } from "../lib/index.ts";
import type { StoreBackend, StoredValue, WatchEvent, WriteHints } from "./backend.ts";
import { DirectoryIndex } from "./directory-index.ts";

/** Applies one write to an in-memory key space; shared by the memory and file backends. */
export class KeySpace {
  readonly entries = new Map<string, StoredValue>();
  /** Keys grouped by directory, so listing one kind or namespace does not scan every key. */
  private readonly dirs = new DirectoryIndex();
  rev = 0;
  compactedRevision = 0;
  readonly events: WatchEvent[] = [];
  private readonly listeners = new Set<{ prefix: string; fn: (e: WatchEvent) => void }>();

  /**
   * The key's current entry if the write may go ahead; throws AlreadyExists, NotFound or Conflict otherwise.
   * `pending` holds writes accepted but not applied yet (a group commit), null for a delete: they count as done.
   */
  checkWrite(
    op: "create" | "update" | "delete",
    key: string,
    expectedModRevision?: number,
    pending?: Map<string, StoredValue | null>,
  ): StoredValue | undefined {
    const staged = pending?.get(key);
    const cur = staged === undefined ? this.entries.get(key) : (staged ?? undefined);
    if (op === "create" && cur) throw new AlreadyExistsError(`key ${key} already exists`);
    if (op !== "create" && !cur) throw new NotFoundError(`key ${key} not found`);
    if (cur && expectedModRevision !== undefined && cur.modRevision !== expectedModRevision)
      throw new ConflictError(`key ${key} is at revision ${cur.modRevision}, not ${expectedModRevision}`);
    return cur;
  }

  /** Adds an entry read from a snapshot (no event: history starts after the snapshot). */
  load(stored: StoredValue): void {
    if (!this.entries.has(stored.key)) this.dirs.add(stored.key);
    this.entries.set(stored.key, stored);
  }

  /** Records a write at revision `rev` (which must be the next one). */
  apply(e: WatchEvent, createRevision: number): StoredValue {
    this.rev = e.revision;
    let stored: StoredValue;
    if (e.type === "put") {
      stored = { key: e.key, value: e.value, createRevision, modRevision: e.revision };
      if (!this.entries.has(e.key)) this.dirs.add(e.key);
      this.entries.set(e.key, stored);
    } else {
      const prev = this.entries.get(e.key)!;
      this.entries.delete(e.key);
      this.dirs.remove(e.key);
      stored = { ...prev, modRevision: e.revision };
    }
    this.events.push(e);
    for (const l of this.listeners) if (e.key.startsWith(l.prefix)) l.fn(e);
    return stored;
  }

  list(prefix: string): StoredValue[] {
    const out: StoredValue[] = [];
    for (const key of this.dirs.keysUnder(prefix)) out.push(this.entries.get(key)!);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  history(prefix: string, fromRevision: number): WatchEvent[] {
    if (fromRevision < this.compactedRevision)
      throw new TortieError(
        "Compacted",
        `revision ${fromRevision} has been compacted (oldest is ${this.compactedRevision})`,
      );
    // Events are in revision order: binary-search the first one after `fromRevision`.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.revision > fromRevision) hi = mid;
      else lo = mid + 1;
    }
    const out: WatchEvent[] = [];
    for (let i = lo; i < this.events.length; i++) {
      const e = this.events[i]!;
      if (e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }

  compact(revision: number): void {
    const keep = this.events.filter((e) => e.revision > revision);
    this.events.length = 0;
    this.events.push(...keep);
    this.compactedRevision = Math.max(this.compactedRevision, Math.min(revision, this.rev));
  }

  subscribe(prefix: string, fromRevision: number, fn: (e: WatchEvent) => void): () => void {
    for (const e of this.history(prefix, fromRevision)) fn(e);
    const l = { prefix, fn };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

/** A store that lives and dies with the process: for tests and simulations. */
export class MemoryBackend implements StoreBackend {
  protected readonly space = new KeySpace();

  async revision(): Promise<number> {
    return this.space.rev;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    return this.space.entries.get(key);
  }

  async list(prefix: string) {
    return { items: this.space.list(prefix), revision: this.space.rev };
  }

  async create(key: string, value: unknown, hints?: WriteHints): Promise<StoredValue> {
    this.space.checkWrite("create", key);
    const rev = this.space.rev + 1;
    const stored = hints?.handOver ? value : deepClone(value);
    return this.space.apply({ type: "put", key, value: stored, revision: rev }, rev);
  }

  async update(
    key: string,
    value: unknown,
    expectedModRevision?: number,
    hints?: WriteHints,
  ): Promise<StoredValue> {
    const cur = this.space.checkWrite("update", key, expectedModRevision)!;
    const rev = this.space.rev + 1;
    const stored = hints?.handOver ? value : deepClone(value);
    return this.space.apply({ type: "put", key, value: stored, revision: rev }, cur.createRevision);
  }

  async delete(key: string, expectedModRevision?: number): Promise<StoredValue> {
    const cur = this.space.checkWrite("delete", key, expectedModRevision)!;
    const rev = this.space.rev + 1;
    return this.space.apply({ type: "delete", key, value: cur.value, revision: rev }, cur.createRevision);
  }

  async history(prefix: string, fromRevision: number): Promise<WatchEvent[]> {
    return this.space.history(prefix, fromRevision);
  }

  async watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void): Promise<() => void> {
    return this.space.subscribe(prefix, fromRevision, onEvent);
  }

  async compact(revision: number): Promise<void> {
    this.space.compact(revision);
  }

  async close(): Promise<void> {}
}
