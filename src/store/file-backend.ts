import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { deepClone, TortieError } from "../lib/index.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import type { StoreBackend, StoredValue, WatchEvent, WriteHints } from "./backend.ts";
import { faultBeforeWalAppend } from "./fault-injection.ts";
import { KeySpace } from "./memory-backend.ts";
import { tighten } from "./permissions.ts";
import { ProcessLock } from "./process-lock.ts";
import {
  decodeSnapshot,
  encodeHeader,
  encodeRecord,
  encodeSnapshot,
  type LogHeader,
  type LogRecord,
  RECOVERY,
} from "./wal-format.ts";
import { WalScanner } from "./wal-scanner.ts";

export const SNAPSHOT = "snapshot.json";
export const WAL = "wal.log";

/** Blocks this thread for `ms` (a reload racing a compaction waits for the compacting writer to finish). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** What `tortie store check` reports about a store that read cleanly. */
export interface StoreSummary {
  dir: string;
  revision: number;
  keys: number;
  snapshot: { revision: number; format: number; bytes: number } | undefined;
  log: { base: number; format: number; records: number; bytes: number; tornBytes: number } | undefined;
}

/** A write waiting for the next group commit. `value` is already the store's own copy. */
interface PendingWrite {
  op: "create" | "update" | "delete";
  key: string;
  value: unknown;
  expected: number | undefined;
  resolve: (stored: StoredValue) => void;
  reject: (e: unknown) => void;
}

export interface FileBackendOptions {
  /** Rewrite the snapshot once the log holds this many records (and more than the store has keys). */
  compactAfterRecords?: number;
  /** How often watchers look for writes by other processes. */
  pollIntervalMs?: number;
}

/**
 * The embedded store: a snapshot plus a write-ahead log under one directory.
 *
 * - Durable: each write is one log line, fdatasync'ed before the call returns. Group commit: writes issued while
 *   the lock is being taken (concurrent callers in this process) go out together, one fdatasync for all of them;
 *   each is still checked in call order against the state the ones before it leave, and each call resolves
 *   only after that fdatasync.
 * - Crash-safe: a write torn by a crash is an incomplete last line; readers ignore it and the next writer
 *   truncates it. Snapshots are replaced atomically.
 * - Multi-process: writers serialise on a ProcessLock and first catch up with the log; readers need no lock.
 *   The log's first line names the snapshot revision it continues, so a reader racing a compaction notices.
 */
export class FileBackend implements StoreBackend {
  private readonly dir: string;
  private readonly lock: ProcessLock;
  private space = new KeySpace();
  private walIno = -1;
  private walOffset = 0;
  private walRecords = 0;
  /** Checks each log line read, and knows the last revision and line number. */
  private scan: WalScanner;
  private snapInfo: StoreSummary["snapshot"];
  /** The store was found damaged: every later call fails with this, and nothing is written. */
  private failure: unknown;
  private readonly options: Required<FileBackendOptions>;
  private pollTimer: NodeJS.Timeout | undefined;
  private watchers = 0;
  private pending: PendingWrite[] = [];
  private commitQueued = false;
  private syncs = 0;

  constructor(dir: string, options: FileBackendOptions = {}) {
    this.dir = resolve(dir);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Tighten a store made by an older tortie (or under a loose umask); another user's store is left alone.
      tighten(this.dir, 0o700);
      for (const name of [SNAPSHOT, WAL]) tighten(join(this.dir, name), 0o600);
    } catch (e) {
      throw new TortieError("Invalid", `cannot use ${this.dir} as a store: ${(e as Error).message}`);
    }
    this.lock = new ProcessLock(this.dir);
    this.scan = new WalScanner(this.walPath());
    this.options = { compactAfterRecords: 50_000, pollIntervalMs: 50, ...options };
    this.reload();
  }

  private walPath(): string {
    return join(this.dir, WAL);
  }

  /** Loads snapshot + log from scratch (at start, or after another process compacted). */
  private reload(): void {
    let mismatch = "";
    for (let attempt = 0; attempt < 10; attempt++) {
      if (attempt > 0) sleepSync(2 * attempt);
      const space = new KeySpace();
      const snapPath = join(this.dir, SNAPSHOT);
      let snapRev = 0;
      let text: Buffer | undefined;
      try {
        text = readFileSync(snapPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT")
          throw this.fail(
            new TortieError("Internal", `cannot read store snapshot ${snapPath}: ${(e as Error).message}`),
          );
      }
      this.snapInfo = undefined;
      if (text !== undefined) {
        let snap: ReturnType<typeof decodeSnapshot>;
        try {
          snap = decodeSnapshot(text, snapPath);
        } catch (e) {
          throw this.fail(e);
        }
        for (const [key, c, m, value] of snap.entries)
          space.load({ key, value, createRevision: c, modRevision: m });
        space.rev = snap.revision;
        space.compactedRevision = snap.revision;
        snapRev = snap.revision;
        this.snapInfo = { revision: snapRev, format: snap.format, bytes: text.length };
      }
      this.space = space;
      this.walIno = -1;
      this.walOffset = 0;
      this.walRecords = 0;
      this.scan = new WalScanner(this.walPath());
      this.scan.lastRev = snapRev;
      const header = this.readWalTail(true);
      if (header === undefined) return; // no log yet
      // A log whose base is older than the snapshot is the one a compaction folded in and then died (or is
      // about to replace): fine as long as it reaches the snapshot's revision (records up to it are skipped).
      if (header.base === snapRev || (header.base < snapRev && this.scan.lastRev >= snapRev)) return;
      // Otherwise a compaction may be racing us (we read the old snapshot and the new log, or the reverse).
      mismatch =
        header.base > snapRev
          ? `store log ${this.walPath()} continues revision ${header.base}, but the snapshot holds revision ${snapRev}`
          : `store log ${this.walPath()} ends at revision ${this.scan.lastRev}, before the snapshot's revision ${snapRev}`;
    }
    throw this.fail(new TortieError("Internal", `${mismatch}; ${RECOVERY}`));
  }

  /** Remembers that the store is damaged (nothing may be written any more) and returns the error to throw. */
  private fail(e: unknown): unknown {
    this.failure = e;
    return e;
  }

  /**
   * Applies complete log lines past our offset, checking each (header shape, checksum, record shape, revisions
   * counting up by one). Returns the header when it was read. Only a torn tail is passed over: a last line
   * without its newline (a write in progress, or cut by a crash); the next writer truncates it. Any other damage
   * throws, naming the line.
   */
  private readWalTail(fromStart = false): LogHeader | undefined {
    let fd: number;
    try {
      fd = openSync(this.walPath(), "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw this.fail(
        new TortieError("Internal", `cannot read store log ${this.walPath()}: ${(e as Error).message}`),
      );
    }
    try {
      const st = fstatSync(fd);
      if (!fromStart && st.ino !== this.walIno) {
        closeSync(fd);
        fd = -1;
        this.reload();
        return undefined;
      }
      if (!st.isFile())
        throw this.fail(
          new TortieError(
            "Internal",
            `cannot read store log ${this.walPath()}: it is not a regular file; ${RECOVERY}`,
          ),
        );
      this.walIno = st.ino;
      if (st.size === 0 && this.walOffset === 0)
        throw this.fail(this.scan.damaged(0, "the log is empty, but it always starts with a header line"));
      if (st.size <= this.walOffset) return undefined;
      const buf = Buffer.alloc(st.size - this.walOffset);
      let read = 0;
      try {
        while (read < buf.length) {
          const n = readSync(fd, buf, read, buf.length - read, this.walOffset + read);
          if (n === 0) break;
          read += n;
        }
      } catch (e) {
        // An I/O error (EIO from a failing disk) is one line, like any other unreadable store.
        throw this.fail(
          new TortieError(
            "Internal",
            `cannot read store log ${this.walPath()}: ${(e as Error).message}; ${RECOVERY}`,
          ),
        );
      }
      let header: LogHeader | undefined;
      let start = 0;
      while (true) {
        const nl = buf.indexOf(10, start);
        if (nl === -1 || nl >= read) {
          // The header is written whole (by a rename), so a header without its newline is damage, not a crash.
          if (this.walOffset + start === 0)
            throw this.fail(this.scan.damaged(0, "the header line is incomplete"));
          break; // a torn tail: nothing more to apply
        }
        const offset = this.walOffset + start;
        let got: ReturnType<WalScanner["next"]>;
        try {
          got = this.scan.next(buf.subarray(start, nl), offset, buf.indexOf(10, nl + 1) === -1);
        } catch (e) {
          throw this.fail(e);
        }
        start = nl + 1;
        if ("base" in got) {
          header = got;
          // A log continuing a newer snapshot than ours: the caller reads both again.
          if (fromStart && got.base > this.space.rev) break;
          continue;
        }
        if (got.r > this.space.rev) {
          const cur = this.space.entries.get(got.k);
          if (got.t === "delete" && !cur)
            throw this.fail(
              this.scan.damaged(
                offset,
                `the record deletes ${got.k}, which does not exist`,
                got.r,
                this.scan.lines,
              ),
            );
          const createRevision =
            got.t === "put" ? (got.c ?? (cur ? cur.createRevision : got.r)) : cur!.createRevision;
          this.space.apply(
            { type: got.t, key: got.k, value: got.t === "put" ? got.v : cur!.value, revision: got.r },
            createRevision,
          );
        }
        this.walRecords++;
      }
      this.walOffset += start;
      return header;
    } finally {
      if (fd !== -1) closeSync(fd);
    }
  }

  /** Catches up with other processes' writes. */
  private refresh(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.walIno === -1) {
      if (existsSync(this.walPath())) this.reload();
      return;
    }
    let st: { ino: number; size: number };
    try {
      st = statSync(this.walPath());
    } catch {
      return;
    }
    // A log shorter than what we read was rolled back under us (a writer whose append failed cuts its lines off
    // again): what we applied from it never happened, so read it all again.
    if (st.ino !== this.walIno || st.size < this.walOffset) this.reload();
    else if (st.size > this.walOffset) this.readWalTail();
  }

  private createWal(baseRevision: number): void {
    const header = encodeHeader(baseRevision);
    writeFileAtomic(this.dir, WAL, header);
    const st = statSync(this.walPath());
    this.walIno = st.ino;
    this.walOffset = st.size;
    this.walRecords = 0;
    this.scan.started(baseRevision);
  }

  /** Appends log lines with one write and one fdatasync: a batch is durable as a whole before anyone is told. */
  private appendRecords(recs: LogRecord[]): void {
    if (this.walIno === -1) this.createWal(this.space.rev);
    const fd = openSync(this.walPath(), "r+");
    try {
      // Drop a torn tail left by a writer that died mid-write, so the log stays line-aligned. (Never extend it:
      // refresh() has just read the log, so it cannot be shorter than what we read.)
      if (fstatSync(fd).size > this.walOffset) ftruncateSync(fd, this.walOffset);
      let text = "";
      for (const rec of recs) text += encodeRecord(rec);
      const data = Buffer.from(text);
      try {
        faultBeforeWalAppend(fd, data, this.walOffset);
        let written = 0;
        while (written < data.length)
          written += writeSync(fd, data, written, data.length - written, this.walOffset + written);
        fdatasyncSync(fd);
      } catch (e) {
        // Every call of the batch fails, so none of it may stay: complete lines of a partly written batch would
        // otherwise be applied by the next refresh (ours or another process's) as if they had succeeded.
        try {
          ftruncateSync(fd, this.walOffset);
        } catch {
          // Nothing more to do here; the error to report is the first one.
        }
        throw e;
      }
      this.syncs++;
      this.walOffset += data.length;
      this.walRecords += recs.length;
      this.scan.appended(recs);
    } finally {
      closeSync(fd);
    }
  }

  /** How many fdatasyncs of the log this instance has made (group commit makes fewer than writes). */
  get logSyncs(): number {
    return this.syncs;
  }

  private write(
    op: "create" | "update" | "delete",
    key: string,
    value: unknown,
    expected: number | undefined,
    hints?: WriteHints,
  ): Promise<StoredValue> {
    // Copied now: the caller may change its object as soon as this returns, before the commit runs.
    const stored = op === "delete" || hints?.handOver ? value : deepClone(value);
    return new Promise((resolve, reject) => {
      this.pending.push({ op, key, value: stored, expected, resolve, reject });
      this.scheduleCommit();
    });
  }

  /** Queues one commit for everything pending; writes that arrive before it takes the lock join it. */
  private scheduleCommit(): void {
    if (this.commitQueued) return;
    this.commitQueued = true;
    let ran = false;
    this.lock
      .withLock(() => {
        ran = true;
        this.commitQueued = false;
        this.commit(this.pending.splice(0));
      })
      .catch((e) => {
        if (ran) return; // commit() settles every write of its batch itself
        // The lock could not be taken: every write waiting for this commit fails with that reason.
        this.commitQueued = false;
        for (const w of this.pending.splice(0)) w.reject(e);
      });
  }

  /**
   * Under the lock: catches up with other processes, checks each write in call order against the state the
   * earlier ones leave (a failed check fails that write alone), appends the rest with one fdatasync, then
   * applies them and resolves their calls.
   */
  private commit(batch: PendingWrite[]): void {
    const accepted: { w: PendingWrite; rec: LogRecord; event: WatchEvent; createRevision: number }[] = [];
    // Writes that fail their check are told a turn later, after the ones that won have gone on: a batch fails
    // every CAS loser of a hot key at once, and if they all retried before the winner's next step (as Calico's
    // block claim needs it to win several CAS in a row) no one would finish. One at a time under the lock, the
    // winner's next write always got in first; this keeps that.
    const failed: (() => void)[] = [];
    setImmediate(() => {
      for (const f of failed) f();
    });
    try {
      this.refresh();
      const staged = new Map<string, StoredValue | null>();
      let r = this.space.rev;
      for (const w of batch) {
        let cur: StoredValue | undefined;
        try {
          cur = this.space.checkWrite(w.op, w.key, w.expected, staged);
        } catch (e) {
          failed.push(() => w.reject(e));
          continue;
        }
        r++;
        const createRevision = cur ? cur.createRevision : r;
        if (w.op === "delete") {
          staged.set(w.key, null);
          accepted.push({
            w,
            rec: { r, t: "delete", k: w.key },
            event: { type: "delete", key: w.key, value: cur!.value, revision: r },
            createRevision,
          });
        } else {
          staged.set(w.key, { key: w.key, value: w.value, createRevision, modRevision: r });
          accepted.push({
            w,
            rec: { r, t: "put", k: w.key, v: w.value, c: createRevision },
            event: { type: "put", key: w.key, value: w.value, revision: r },
            createRevision,
          });
        }
      }
      if (accepted.length === 0) return;
      this.appendRecords(accepted.map((a) => a.rec));
    } catch (e) {
      // Nothing of the batch is applied. Writes that failed their check keep their own error (a settled promise
      // ignores the second reject).
      for (const f of failed.splice(0)) f();
      for (const w of batch) w.reject(e);
      return;
    }
    // Each write is applied even if a watcher throws on an earlier one (that write's call fails, as it did
    // before group commit): the log already holds them all, and this process reads it only past walOffset.
    const results: (StoredValue | { failed: unknown })[] = accepted.map((a) => {
      try {
        return this.space.apply(a.event, a.createRevision);
      } catch (e) {
        return { failed: e };
      }
    });
    try {
      if (this.walRecords >= this.options.compactAfterRecords && this.walRecords > this.space.entries.size)
        this.snapshot();
    } catch (e) {
      for (const a of accepted) a.w.reject(e);
      return;
    }
    for (let i = 0; i < accepted.length; i++) {
      const r = results[i]!;
      if ("failed" in r) accepted[i]!.w.reject(r.failed);
      else accepted[i]!.w.resolve(r);
    }
  }

  /** Folds the log into a new snapshot (under the lock). History before it is gone: watchers get Compacted. */
  private snapshot(): void {
    const text = encodeSnapshot(
      this.space.rev,
      [...this.space.entries.values()].map((e) => [e.key, e.createRevision, e.modRevision, e.value]),
    );
    writeFileAtomic(this.dir, SNAPSHOT, text);
    this.snapInfo = { revision: this.space.rev, format: 2, bytes: text.length };
    this.createWal(this.space.rev);
    this.space.compact(this.space.rev);
  }

  /** What `tortie store check` prints: everything was verified on the way in (and again from the start now). */
  summary(): StoreSummary {
    this.reload();
    const h = this.scan.header;
    let size = 0;
    try {
      size = statSync(this.walPath()).size;
    } catch {
      // No log yet.
    }
    return {
      dir: this.dir,
      revision: this.space.rev,
      keys: this.space.entries.size,
      snapshot: this.snapInfo,
      log: h && {
        base: h.base,
        format: h.format,
        records: this.walRecords,
        bytes: size,
        tornBytes: size - this.walOffset,
      },
    };
  }

  /**
   * The whole store as one sealed snapshot (the backup format), read under the lock so no write is half in it:
   * every write acknowledged before the call is in it.
   */
  exportSnapshot(): Promise<{ text: Buffer; revision: number; keys: number }> {
    return this.lock.withLock(() => {
      this.refresh();
      const entries = [...this.space.entries.values()].map(
        (e) => [e.key, e.createRevision, e.modRevision, e.value] as [string, number, number, unknown],
      );
      return {
        text: encodeSnapshot(this.space.rev, entries),
        revision: this.space.rev,
        keys: entries.length,
      };
    });
  }

  async revision(): Promise<number> {
    this.refresh();
    return this.space.rev;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    this.refresh();
    return this.space.entries.get(key);
  }

  async list(prefix: string) {
    this.refresh();
    return { items: this.space.list(prefix), revision: this.space.rev };
  }

  create(key: string, value: unknown, hints?: WriteHints): Promise<StoredValue> {
    return this.write("create", key, value, undefined, hints);
  }

  update(
    key: string,
    value: unknown,
    expectedModRevision?: number,
    hints?: WriteHints,
  ): Promise<StoredValue> {
    return this.write("update", key, value, expectedModRevision, hints);
  }

  delete(key: string, expectedModRevision?: number): Promise<StoredValue> {
    return this.write("delete", key, undefined, expectedModRevision);
  }

  async history(prefix: string, fromRevision: number): Promise<WatchEvent[]> {
    this.refresh();
    return this.space.history(prefix, fromRevision);
  }

  async watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void): Promise<() => void> {
    this.refresh();
    let space = this.space;
    let last = fromRevision;
    const deliver = (e: WatchEvent) => {
      last = e.revision;
      onEvent(e);
    };
    let unsubscribe = space.subscribe(prefix, fromRevision, deliver);
    this.watchers++;
    if (!this.pollTimer) {
      this.pollTimer = setInterval(() => {
        try {
          this.refresh();
        } catch {
          // Damage found by the poll: remembered in `failure`, and the next call of this backend throws it.
        }
      }, this.options.pollIntervalMs);
      this.pollTimer.unref();
    }
    const check = setInterval(() => {
      // A reload (after another process compacted) replaces the key space: re-subscribe from where we were.
      if (this.space !== space) {
        unsubscribe();
        space = this.space;
        unsubscribe = space.subscribe(prefix, last, deliver);
      }
    }, this.options.pollIntervalMs);
    check.unref();
    return () => {
      unsubscribe();
      clearInterval(check);
      if (--this.watchers === 0 && this.pollTimer) {
        clearInterval(this.pollTimer);
        this.pollTimer = undefined;
      }
    };
  }

  compact(revision: number): Promise<void> {
    return this.lock.withLock(() => {
      this.refresh();
      if (revision >= this.space.rev) this.snapshot();
      else this.space.compact(revision);
    });
  }

  async close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }
}
