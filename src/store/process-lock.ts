import { randomBytes } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from "node:fs";
import { join } from "node:path";
import { TortieError } from "../lib/index.ts";
import { describeHolder, isAlive, parseHolderFile, parseTempDir, selfIdentity } from "./lock-holder.ts";

/**
 * A mutex between processes, kept inside the store's own directory (0700), so no other user can see, take,
 * block or remove it. The lock is the directory `<store>/<name>.lock` holding one holder file
 * `h.<pid>.<start>.<boot>.<rand>` (see lock-holder.ts).
 *
 * - Acquire: make a private temp dir `<store>/.<name>.lock.<pid>.<start>.<boot>.<rand>` with the holder file in
 *   it, then rename it onto `<name>.lock`. Linux's rename(2) of a directory succeeds only if the target is missing
 *   or empty (replaced atomically) and fails with ENOTEMPTY/EEXIST while it holds a holder file: exactly one
 *   process wins.
 * - Release: unlink the holder file, then rmdir the lock (ENOTEMPTY/ENOENT: another process already put its own
 *   there in place of the empty one).
 * - A holder that died (even by SIGKILL) is stale: its pid is gone, a zombie, or another process (start time or
 *   boot id differ). A waiter unlinks exactly that holder file, by its unique name, so a live holder's file is
 *   never removed; the empty lock is then replaced by the next rename. Temp dirs of dead processes are removed
 *   when a lock is found taken.
 *
 * Every process that takes a store's lock must see the others' pids (share a pid namespace and /proc), which
 * every tortie command on one machine does.
 */
export class ProcessLock {
  private readonly storeDir: string;
  private readonly name: string;
  private readonly target: string;
  private readonly tempPrefix: string;
  /** Our holder file inside the lock while we hold it. */
  private held: string | undefined;
  /** Our temp dir (with its holder file) while we try to take the lock. */
  private temp: { dir: string; file: string } | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Whether this lock has looked for temp dirs left by dead processes yet. */
  private swept = false;

  /** `name` is the lock's: "store" for the store's writers (the default), "controllers" for the leader lock. */
  constructor(storeDir: string, name = "store") {
    this.storeDir = storeDir;
    this.name = name;
    this.target = join(storeDir, `${name}.lock`);
    this.tempPrefix = `.${name}.lock.`;
  }

  /** One attempt: true if we hold the lock now. */
  private tryRename(): boolean {
    if (!this.temp) {
      const id = `${selfIdentity()}.${randomBytes(6).toString("hex")}`;
      const dir = join(this.storeDir, `${this.tempPrefix}${id}`);
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        mkdirSync(this.storeDir, { recursive: true, mode: 0o700 });
        mkdirSync(dir, { mode: 0o700 });
      }
      const file = `h.${id}`;
      closeSync(openSync(join(dir, file), "wx", 0o600));
      this.temp = { dir, file };
    }
    try {
      renameSync(this.temp.dir, this.target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") return false;
      if (code === "ENOTDIR") throw this.unexpected(`${this.name}.lock`);
      throw e;
    }
    this.held = join(this.target, this.temp.file);
    this.temp = undefined;
    return true;
  }

  /** After a failed attempt: the pid of a live holder to wait for, or undefined to try again at once. */
  private inspect(): number | undefined {
    let entries: string[];
    try {
      entries = readdirSync(this.target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ENOTDIR") throw this.unexpected(`${this.name}.lock`);
      throw e;
    }
    const [entry, other] = entries;
    if (entry === undefined) return undefined;
    const holder = parseHolderFile(entry);
    if (!holder || other !== undefined)
      throw this.unexpected(`${this.name}.lock/${holder && other ? other : entry}`);
    if (isAlive(holder)) return holder.pid;
    try {
      unlinkSync(join(this.target, entry)); // stale: its holder died
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // another waiter reaped it first
    }
    return undefined;
  }

  /** Removes temp dirs of processes that died while taking this lock (never a live process's). */
  private sweepTemps(): void {
    let names: string[];
    try {
      names = readdirSync(this.storeDir);
    } catch {
      return;
    }
    for (const n of names) {
      const maker = parseTempDir(n, this.tempPrefix);
      try {
        if (maker && !isAlive(maker)) rmSync(join(this.storeDir, n), { recursive: true, force: true });
      } catch {
        // Another process is sweeping it too; the next sweep tries again.
      }
    }
  }

  private dropTemp(): void {
    const temp = this.temp;
    this.temp = undefined;
    if (temp) rmSync(temp.dir, { recursive: true, force: true });
  }

  private unexpected(entry: string): TortieError {
    return new TortieError(
      "Internal",
      `the store ${this.storeDir} has an unexpected lock entry ${entry}; remove it when no tortie process is running`,
    );
  }

  private async acquire(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    let swept = false;
    let spins = 0;
    try {
      while (true) {
        if (this.tryRename()) break;
        const pid = this.inspect(); // undefined: free or stale, try again at once
        if (!swept) {
          swept = true;
          this.sweepTemps();
        }
        if (Date.now() > deadline)
          throw new TortieError(
            "Locked",
            `the store ${this.storeDir} is locked by ${pid ? describeHolder(pid) : "another tortie process"} (waited ${timeoutMs} ms)`,
          );
        if (pid === undefined && ++spins < 50) continue;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 20);
      }
    } catch (e) {
      this.dropTemp();
      if (e instanceof TortieError) throw e;
      throw new TortieError(
        "Internal",
        `cannot take the lock of the store ${this.storeDir}: ${(e as Error).message}`,
      );
    }
    // Once per ProcessLock even without contention: what processes killed while waiting left behind.
    if (!swept && !this.swept) this.sweepTemps();
    this.swept = true;
  }

  /** Gives the lock up. Never throws: the write under it is done, and a holder file left behind goes stale. */
  private release(): void {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    try {
      unlinkSync(held);
      // ENOTEMPTY/ENOENT: another process already replaced the empty lock with its own.
      rmdirSync(this.target);
    } catch {
      // Nothing to do.
    }
  }

  /** Runs `fn` holding the lock; calls from this process queue up behind each other. */
  withLock<T>(fn: () => Promise<T> | T, timeoutMs = lockTimeoutMs()): Promise<T> {
    const run = this.queue.then(async () => {
      await this.acquire(timeoutMs);
      try {
        return await fn();
      } finally {
        this.release();
      }
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** 30 s, or `TORTIE_LOCK_TIMEOUT_MS` (tests that check the message of a lock held too long). */
function lockTimeoutMs(): number {
  const raw = process.env.TORTIE_LOCK_TIMEOUT_MS;
  return raw && /^\d+$/.test(raw) ? Number(raw) : 30_000;
}
