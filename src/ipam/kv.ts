import type { ApiObject } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";

/** Calico retries every compare-and-swap this many times before giving up. */
export const DATASTORE_RETRIES = 100;

/** IPAM's writes hand their values over to the store: every object written is built fresh and never changed after. */
export const HAND_OVER = { handOver: true } as const;

/** The next version of an object with a new spec (generation moves on; the rest is shared, never changed). */
export function withSpec(obj: ApiObject, spec: unknown): ApiObject {
  return { ...obj, metadata: { ...obj.metadata, generation: (obj.metadata.generation ?? 0) + 1 }, spec };
}

export interface KvEntry {
  key: string;
  value: unknown;
  createRevision: number;
  modRevision: number;
}

/**
 * What IPAM needs from a store: etcd-style revisions and compare-and-swap. Declared here, not imported from
 * the store (same layer), and satisfied structurally by every StoreBackend.
 */
export interface IpamKv {
  revision(): Promise<number>;
  get(key: string): Promise<KvEntry | undefined>;
  list(prefix: string): Promise<{ items: KvEntry[]; revision: number }>;
  /** `hints.handOver`: the store may keep `value` itself rather than a copy (see the store's WriteHints). */
  create(key: string, value: unknown, hints?: { handOver?: boolean }): Promise<KvEntry>;
  update(
    key: string,
    value: unknown,
    expectedModRevision?: number,
    hints?: { handOver?: boolean },
  ): Promise<KvEntry>;
  delete(key: string, expectedModRevision?: number): Promise<KvEntry>;
  history(
    prefix: string,
    fromRevision: number,
  ): Promise<{ type: "put" | "delete"; key: string; value: unknown; revision: number }[]>;
}

export function isCode(e: unknown, code: "Conflict" | "AlreadyExists" | "NotFound" | "Compacted"): boolean {
  return e instanceof TortieError && e.code === code;
}

interface CacheEntry {
  modRevision: number;
  /** Undefined for a tombstone: a delete we know of, kept so older events cannot resurrect the key. */
  value: unknown;
}

/**
 * A local copy of one kind's objects, brought up to date from the store's history before each IPAM operation
 * (like an informer, but synchronous with the caller). Reads are local; every write is still a CAS against
 * the store, so a stale copy costs a retry, never a double allocation.
 */
export class KindCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly byIndex = new Map<string, Set<string>>();
  private cursor = -1;

  constructor(
    private readonly kv: IpamKv,
    readonly prefix: string,
    /** Optional secondary index (e.g. a block affinity's host). */
    private readonly indexOf?: (value: unknown) => string | undefined,
  ) {}

  async sync(): Promise<void> {
    if (this.cursor < 0) return this.reload();
    const rev = await this.kv.revision();
    let events: Awaited<ReturnType<IpamKv["history"]>>;
    try {
      events = await this.kv.history(this.prefix, this.cursor);
    } catch (e) {
      if (isCode(e, "Compacted")) return this.reload();
      throw e;
    }
    let last = rev;
    for (const e of events) {
      last = Math.max(last, e.revision);
      if (e.type === "put") this.set(e.key, e.revision, e.value);
      else this.set(e.key, e.revision, undefined);
    }
    this.cursor = Math.max(this.cursor, last);
  }

  private async reload(): Promise<void> {
    const { items, revision } = await this.kv.list(this.prefix);
    this.entries.clear();
    this.byIndex.clear();
    for (const it of items) this.set(it.key, it.modRevision, it.value);
    this.cursor = revision;
  }

  /** Records a value (or, with `value` undefined, a delete) unless the cache already has something newer. */
  set(key: string, modRevision: number, value: unknown): void {
    const cur = this.entries.get(key);
    if (cur && cur.modRevision >= modRevision) return;
    if (cur?.value !== undefined) this.unindex(key, cur.value);
    this.entries.set(key, { modRevision, value });
    if (value !== undefined && this.indexOf) {
      const ix = this.indexOf(value);
      if (ix !== undefined) {
        let set = this.byIndex.get(ix);
        if (!set) {
          set = new Set();
          this.byIndex.set(ix, set);
        }
        set.add(key);
      }
    }
  }

  /** Re-reads one key from the store (after a failed CAS). */
  async refresh(key: string): Promise<KvEntry | undefined> {
    const cur = await this.kv.get(key);
    if (cur) this.set(key, cur.modRevision, cur.value);
    else {
      const existing = this.entries.get(key);
      if (existing?.value !== undefined) {
        this.unindex(key, existing.value);
        this.entries.set(key, { modRevision: await this.kv.revision(), value: undefined });
      }
    }
    return cur;
  }

  get(key: string): { modRevision: number; value: unknown } | undefined {
    const e = this.entries.get(key);
    return e && e.value !== undefined ? e : undefined;
  }

  *values(): Generator<{ key: string; modRevision: number; value: unknown }> {
    for (const [key, e] of this.entries) if (e.value !== undefined) yield { key, ...e };
  }

  keysIndexedBy(ix: string): string[] {
    return [...(this.byIndex.get(ix) ?? [])];
  }

  private unindex(key: string, value: unknown): void {
    if (!this.indexOf) return;
    const ix = this.indexOf(value);
    if (ix !== undefined) this.byIndex.get(ix)?.delete(key);
  }
}
