import { createHash } from "node:crypto";
import { createServer, type Server } from "node:net";
import { TortieError } from "../lib/index.ts";
import { lockHolder, readOrCreateLockKey } from "./lock-key.ts";

/**
 * A mutex between processes that the kernel releases when its holder dies, even by SIGKILL: an abstract
 * Unix socket (Linux). Binding succeeds for exactly one process at a time, and the name is gone the moment its
 * holder dies, so the lock is never stale. Abstract sockets are per network namespace; every tortie process that
 * writes a store runs in the root one.
 *
 * The name is derived from a random secret in `<store>/lock.key` (0600 in a 0700 directory, made once), not
 * from the store's path: a process that cannot read the state dir (another user) cannot name the socket, so it
 * cannot squat it and wedge every write. The key is read when the lock is first taken, so readers never make it.
 */
export class ProcessLock {
  private readonly storeDir: string;
  private address: string | undefined;
  private server: Server | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(storeDir: string) {
    this.storeDir = storeDir;
  }

  /** The abstract socket's name (without the leading NUL), made from the store's lock key. */
  lockName(): string {
    this.address ??= `\0tortie-lock-${createHash("sha256")
      .update(readOrCreateLockKey(this.storeDir))
      .digest("hex")
      .slice(0, 40)}`;
    return this.address.slice(1);
  }

  private tryBind(): Promise<Server | undefined> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") resolve(undefined);
        else reject(err);
      });
      server.listen(`\0${this.lockName()}`, () => resolve(server));
    });
  }

  private async acquire(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    while (true) {
      const server = await this.tryBind();
      if (server) {
        server.unref();
        this.server = server;
        return;
      }
      if (Date.now() > deadline)
        throw new TortieError(
          "Locked",
          `the store ${this.storeDir} is locked by ${lockHolder(this.lockName())} (waited ${timeoutMs} ms)`,
        );
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 20);
    }
  }

  private release(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** Runs `fn` holding the lock; calls from this process queue up behind each other. */
  withLock<T>(fn: () => Promise<T> | T, timeoutMs = lockTimeoutMs()): Promise<T> {
    const run = this.queue.then(async () => {
      await this.acquire(timeoutMs);
      try {
        return await fn();
      } finally {
        await this.release();
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
