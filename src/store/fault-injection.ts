import { fdatasyncSync, writeSync } from "node:fs";

/**
 * TEST-ONLY fault injection for the crash suite: `TORTIE_FAULT_KILL_AFTER_WAL_BYTES=N`.
 *
 * This process counts the bytes it appends to a store's write-ahead log (record lines only; the header that
 * starts a new log is written by an atomic rename, not appended, and is not counted). When an append would take
 * the running total past N, exactly the bytes up to N are written (a torn record, possibly zero bytes of it),
 * fdatasync'ed, and the process sends itself SIGKILL: what a power cut or `kill -9` mid-write leaves behind.
 * N = 0 kills at the first append, before any of its bytes. Unset, empty or not a non-negative integer: off.
 * Never set it outside tests.
 */
const ENV = "TORTIE_FAULT_KILL_AFTER_WAL_BYTES";

let appended = 0;

function limit(): number | undefined {
  const raw = process.env[ENV];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * Called with the bytes an append is about to write at `offset` of the log open as `fd`. Returns normally when
 * the whole append may go ahead (and counts it); otherwise writes the allowed prefix and kills this process.
 */
export function faultBeforeWalAppend(fd: number, data: Buffer, offset: number): void {
  const n = limit();
  if (n === undefined) return;
  if (appended + data.length <= n) {
    appended += data.length;
    return;
  }
  const allowed = n - appended;
  let written = 0;
  while (written < allowed) written += writeSync(fd, data, written, allowed - written, offset + written);
  fdatasyncSync(fd);
  process.kill(process.pid, "SIGKILL");
  // SIGKILL cannot be caught; should the signal be slow to land, never let the rest of the append happen.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
