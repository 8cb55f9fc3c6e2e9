import { AlreadyExistsError, ConflictError, NotFoundError, TortieError } from "../lib/index.ts";
import type { StoreBackend, StoredValue, WatchEvent } from "./backend.ts";
import {
  decodeKv,
  EtcdClient,
  type EtcdKv,
  encodeKey,
  type GatewayJson,
  isCompactedMessage,
  prefixEnd,
} from "./etcd-client.ts";

/** How soon a broken watch stream is opened again, doubling per failed try up to the maximum. */
const RESUME_FIRST_DELAY_MS = 100;
const RESUME_MAX_DELAY_MS = 2000;

export interface EtcdBackendOptions {
  /**
   * Prepended to every key and taken off again (etcdctl's `--prefix`-style namespacing, as `etcd --namespace`
   * proxies do); "" (the default) keeps the registry layout at the root, so `etcdctl get --prefix /registry` shows it.
   */
  keyPrefix?: string;
}

/**
 * The store on etcd v3, Calico's own etcd datastore: etcd's revisions are the store's, create and update are
 * transactions comparing create_revision and mod_revision, values are JSON. Revisions are etcd's global ones, so
 * a fresh etcd starts at 1 and another writer to the same etcd moves them too.
 */
export class EtcdBackend implements StoreBackend {
  private readonly client: EtcdClient;
  private readonly keyPrefix: string;
  /** Set by close(): broken watches are not resumed any more. */
  private closed = false;

  constructor(endpoints: readonly string[], options: EtcdBackendOptions = {}) {
    this.client = new EtcdClient(endpoints);
    this.keyPrefix = options.keyPrefix ?? "";
  }

  get endpoints(): string {
    return this.client.endpointList;
  }

  async revision(): Promise<number> {
    const r = await this.client.call("/v3/kv/range", { key: encodeKey("\0"), count_only: true });
    return Number(r.header.revision);
  }

  async get(key: string): Promise<StoredValue | undefined> {
    const r = await this.client.call("/v3/kv/range", { key: this.etcdKey(key) });
    const kv = r.kvs?.[0];
    return kv ? this.stored(decodeKv(kv)) : undefined;
  }

  async list(prefix: string): Promise<{ items: StoredValue[]; revision: number }> {
    const full = this.keyPrefix + prefix;
    const r = await this.client.call("/v3/kv/range", {
      key: encodeKey(full || "\0"),
      range_end: prefixEnd(full),
    });
    return {
      items: (r.kvs ?? []).map((kv: GatewayJson) => this.stored(decodeKv(kv))),
      revision: Number(r.header.revision),
    };
  }

  async create(key: string, value: unknown): Promise<StoredValue> {
    const k = this.etcdKey(key);
    const json = toJson(value);
    const r = await this.txn(
      [{ key: k, target: "CREATE", result: "EQUAL", create_revision: "0" }],
      { request_put: { key: k, value: encodeKey(json) } },
      key,
    );
    if (!r.succeeded) throw new AlreadyExistsError(`key ${key} already exists`);
    const revision = Number(r.header.revision);
    return { key, value: JSON.parse(json), createRevision: revision, modRevision: revision };
  }

  async update(key: string, value: unknown, expectedModRevision?: number): Promise<StoredValue> {
    const k = this.etcdKey(key);
    const json = toJson(value);
    const r = await this.txn(
      this.existsAt(k, expectedModRevision),
      { request_put: { key: k, value: encodeKey(json), prev_kv: true } },
      key,
    );
    this.failed(r, key, expectedModRevision);
    const prev = decodeKv(r.responses[0].response_put.prev_kv);
    return {
      key,
      value: JSON.parse(json),
      createRevision: prev.createRevision,
      modRevision: Number(r.header.revision),
    };
  }

  async delete(key: string, expectedModRevision?: number): Promise<StoredValue> {
    const k = this.etcdKey(key);
    const r = await this.txn(
      this.existsAt(k, expectedModRevision),
      {
        request_delete_range: { key: k, prev_kv: true },
      },
      key,
    );
    this.failed(r, key, expectedModRevision);
    const prev = decodeKv(r.responses[0].response_delete_range.prev_kvs[0]);
    return { ...this.stored(prev), modRevision: Number(r.header.revision) };
  }

  /**
   * The events after `fromRevision` up to the current revision. A watch on the prefix alone cannot tell when it
   * has caught up (a prefix may have no event at the current revision), so this watches every key and stops at
   * the current revision, which always has an event: etcd moves its revision only by writing.
   */
  async history(prefix: string, fromRevision: number): Promise<WatchEvent[]> {
    const current = await this.revision();
    const events: WatchEvent[] = [];
    // A fresh etcd is at revision 1 without ever having written: there is no event to wait for.
    if (fromRevision >= current || current <= 1) return events;
    const full = this.keyPrefix + prefix;
    let compacted: number | undefined;
    const { done } = await this.client.stream(
      {
        create_request: {
          key: encodeKey("\0"),
          range_end: encodeKey("\0"),
          start_revision: String(Math.max(fromRevision + 1, 1)),
          prev_kv: true,
        },
      },
      (result) => {
        if (result.compact_revision !== undefined && result.canceled) {
          compacted = Number(result.compact_revision);
          return false;
        }
        for (const e of result.events ?? []) {
          const revision = Number(e.kv?.mod_revision ?? 0);
          if (revision > current) return false;
          if (decodeKv(e.kv).key.startsWith(full)) events.push(this.event(e));
          if (revision === current) return false;
        }
        return true;
      },
    );
    const failure = await done;
    if (compacted === undefined && failure) throw failure;
    if (compacted !== undefined)
      throw new TortieError(
        "Compacted",
        `revision ${fromRevision} has been compacted (oldest is ${compacted})`,
      );
    return events;
  }

  /**
   * A watch outlives its etcd stream: when the stream breaks (etcd restarted, the connection dropped), it is
   * opened again from the last delivered revision, retried until etcd answers or the watch is stopped, as etcd's
   * own clients resume. Without that, a caller (an API watch, `kubectl get -w`) would wait forever for events.
   */
  async watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void): Promise<() => void> {
    // etcd reports a compacted start only after "created": ask first, so the caller gets Compacted as a rejection.
    await this.assertNotCompacted(fromRevision);
    const full = this.keyPrefix + prefix;
    let last = fromRevision;
    let stopped = false;
    let stopStream = () => {};
    let retryTimer: NodeJS.Timeout | undefined;
    const open = async (): Promise<void> => {
      const { stop, done } = await this.client.stream(
        {
          create_request: {
            key: encodeKey(full || "\0"),
            range_end: prefixEnd(full),
            start_revision: String(last + 1),
            prev_kv: true,
          },
        },
        (result) => {
          // A cancel (a compaction past `last`) ends the watch: resuming would skip the compacted events.
          if (stopped || result.canceled) return false;
          for (const e of result.events ?? []) {
            const event = this.event(e);
            last = event.revision;
            onEvent(event);
          }
          return true;
        },
      );
      // Stopped while this (re)opened: the new stream must not stay open until its first event.
      if (stopped || this.closed) return stop();
      stopStream = stop;
      void done.then((failure) => {
        if (failure && !stopped && !this.closed) resume(RESUME_FIRST_DELAY_MS);
      });
    };
    const resume = (delayMs: number) => {
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        if (stopped || this.closed) return;
        open().catch(() => resume(Math.min(delayMs * 2, RESUME_MAX_DELAY_MS)));
      }, delayMs);
      // A retry never keeps a process alive by itself.
      retryTimer.unref();
    };
    await open();
    return () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      stopStream();
    };
  }

  async compact(revision: number): Promise<void> {
    const target = Math.min(revision, await this.revision());
    try {
      await this.client.call("/v3/kv/compaction", { revision: String(target), physical: false });
    } catch (e) {
      // Compacting to where etcd already compacted is done, as it is for the other backends.
      if (!(e instanceof TortieError && e.code === "Compacted")) throw e;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.close();
  }

  /** Reads at `fromRevision`: etcd refuses a compacted one (revision 0 means "now", so 1 stands for it). */
  private async assertNotCompacted(fromRevision: number): Promise<void> {
    const current = await this.revision();
    if (fromRevision >= current) return;
    try {
      await this.client.call("/v3/kv/range", {
        key: encodeKey("\0"),
        count_only: true,
        revision: String(Math.max(fromRevision, 1)),
      });
    } catch (e) {
      if (e instanceof TortieError && isCompactedMessage(e.message))
        throw new TortieError("Compacted", `revision ${fromRevision} has been compacted`);
      throw e;
    }
  }

  private async txn(compare: unknown[], success: unknown, key: string): Promise<GatewayJson> {
    return this.client.call("/v3/kv/txn", {
      compare,
      success: [success],
      // On failure, the key as it is: tells NotFound from Conflict.
      failure: [{ request_range: { key: this.etcdKey(key) } }],
    });
  }

  /** The key exists, and is at `expectedModRevision` when one is given. */
  private existsAt(k: string, expectedModRevision?: number): unknown[] {
    const compare: unknown[] = [{ key: k, target: "CREATE", result: "GREATER", create_revision: "0" }];
    if (expectedModRevision !== undefined)
      compare.push({ key: k, target: "MOD", result: "EQUAL", mod_revision: String(expectedModRevision) });
    return compare;
  }

  private failed(r: GatewayJson, key: string, expectedModRevision?: number): void {
    if (r.succeeded) return;
    const cur = r.responses?.[0]?.response_range?.kvs?.[0];
    if (!cur) throw new NotFoundError(`key ${key} not found`);
    throw new ConflictError(
      `key ${key} is at revision ${decodeKv(cur).modRevision}, not ${expectedModRevision}`,
    );
  }

  private event(e: GatewayJson): WatchEvent {
    const kv = decodeKv(e.kv);
    const key = kv.key.slice(this.keyPrefix.length);
    if (e.type === "DELETE") {
      const prev = e.prev_kv ? decodeKv(e.prev_kv) : undefined;
      return {
        type: "delete",
        key,
        value: prev ? decodeValue(prev.value) : undefined,
        revision: kv.modRevision,
      };
    }
    return { type: "put", key, value: decodeValue(kv.value), revision: kv.modRevision };
  }

  private etcdKey(key: string): string {
    return encodeKey(this.keyPrefix + key);
  }

  private stored(kv: EtcdKv): StoredValue {
    return {
      key: kv.key.slice(this.keyPrefix.length),
      value: decodeValue(kv.value),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
    };
  }
}

/** Values are JSON in etcd (what `etcdctl get` prints); `undefined` is stored as null. */
function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}

function decodeValue(text: string): unknown {
  return JSON.parse(text);
}
