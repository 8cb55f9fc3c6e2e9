import { closeSync, openSync, readSync } from "node:fs";
import { MAX_MANIFEST_BYTES, manifestTooLargeMessage, TortieError } from "../lib/index.ts";

const CHUNK = 1 << 20;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Reads a file descriptor to its end, but never more than `limit` bytes: one byte past it is refused with
 * one line naming the source, so `-f /dev/zero` or an endless pipe stops at once instead of filling memory.
 */
export function readFdBounded(fd: number, source: string, limit = MAX_MANIFEST_BYTES): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, limit + 1 - total));
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(pause, 0, 0, 5); // a non-blocking stdin with nothing yet: wait a little
        continue;
      }
      if (code === "EOF") break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    total += n;
    if (total > limit) throw new TortieError("Invalid", `${source}: ${manifestTooLargeMessage()}`);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

/** `readFdBounded` on a path (opened read-only, closed even on failure). */
export function readFileBounded(path: string, limit = MAX_MANIFEST_BYTES): string {
  const fd = openSync(path, "r");
  try {
    return readFdBounded(fd, path, limit);
  } finally {
    closeSync(fd);
  }
}
