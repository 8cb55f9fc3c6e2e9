import { createHash } from "node:crypto";
import { createServer, type Server } from "node:net";
import { TortieError } from "../lib/index.ts";

/**
 * A mutex between processes that the kernel releases when its holder dies, even by SIGKILL: an abstract
 * Unix socket (Linux) named after the store directory. Binding succeeds for exactly one process at a time.
 * Abstract sockets are per network namespace; every tortie process that writes a store runs in the root one.
 */
export class ProcessLock {
  private readonly address: string;
  private server: Server | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(storeDir: string) {
    this.address = `\0tortie-store-${createHash("sha256").update(storeDir).digest("hex").slice(0, 32)}`;
  }

  private tryBind(): Promise<Server | undefined> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") resolve(undefined);
        else reject(err);
      });
      server.listen(this.address, () => resolve(server));
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
          `the store is locked by another tortie process (waited ${timeoutMs} ms)`,
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
  withLock<T>(fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
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
