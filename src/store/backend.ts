/**
 * The storage seam. Shaped after etcd v3 (revisions, create/mod revisions per key, watch from a revision,
 * compaction) so an etcd backend can be added without changing any caller.
 */
export interface StoredValue {
  key: string;
  value: unknown;
  /** Revision at which the key was created. */
  createRevision: number;
  /** Revision of the last write to the key; becomes the object's resourceVersion. */
  modRevision: number;
}

export interface WatchEvent {
  type: "put" | "delete";
  key: string;
  /** The value after a put; the last value before a delete. */
  value: unknown;
  revision: number;
}

/**
 * How a value reaches the store. By default the store keeps its own deep copy, so the caller may go on changing
 * the object it passed. With `handOver` a trusted in-process writer gives the value away instead: it promises
 * never to change it (or anything reachable from it) again, and the store keeps it as is, saving the copy. Nothing
 * else changes: readers still get values they must not mutate, history and compare-and-swap are the same.
 */
export interface WriteHints {
  handOver?: boolean;
}

export interface StoreBackend {
  /** The latest revision (0 for an empty store). */
  revision(): Promise<number>;
  get(key: string): Promise<StoredValue | undefined>;
  /** Every key with this prefix, sorted by key, and the revision the listing is consistent with. */
  list(prefix: string): Promise<{ items: StoredValue[]; revision: number }>;
  /** Fails with AlreadyExists if the key exists. */
  create(key: string, value: unknown, hints?: WriteHints): Promise<StoredValue>;
  /** Fails with NotFound, or Conflict when `expectedModRevision` is given and is not current. */
  update(key: string, value: unknown, expectedModRevision?: number, hints?: WriteHints): Promise<StoredValue>;
  /** Fails with NotFound, or Conflict as update. Returns the deleted value with the delete's revision. */
  delete(key: string, expectedModRevision?: number): Promise<StoredValue>;
  /** Events after `fromRevision` for keys with this prefix; Compacted if that history was discarded. */
  history(prefix: string, fromRevision: number): Promise<WatchEvent[]>;
  /** Delivers history after `fromRevision`, then every later event, until the returned function is called. */
  watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void): Promise<() => void>;
  /** Discards history up to and including `revision`. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
