import { mkdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { TortieError } from "../lib/index.ts";
import { writeFileAtomic, writePathAtomic } from "./atomic-file.ts";
import { FileBackend, SNAPSHOT, type StoreSummary, WAL } from "./file-backend.ts";
import { ProcessLock } from "./process-lock.ts";
import { decodeSnapshot, encodeHeader, encodeSnapshot } from "./wal-format.ts";

/**
 * `tortie store check|backup|restore`, after `etcdctl snapshot status|save|restore`. A backup is one file in the
 * snapshot format (sealed: it carries its own checksum), holding every key at one revision.
 */

/** The store's directory under a state dir. */
function storeDirOf(stateDir: string): string {
  return join(resolve(stateDir), "store");
}

/** Verifies every record of the log and the snapshot; throws the first problem (one line). */
export function checkStore(stateDir: string): StoreSummary {
  const dir = storeDirOf(stateDir);
  if (!statSafe(dir)) throw new TortieError("NotFound", `there is no store at ${dir}`);
  return new FileBackend(dir).summary();
}

/** Verifies a backup file; returns its revision and key count. */
export function checkBackup(file: string): { revision: number; keys: number; bytes: number } {
  const text = readBackup(file);
  const snap = decodeSnapshot(text, file, "backup");
  return { revision: snap.revision, keys: snap.entries.length, bytes: text.length };
}

/** Saves the whole store, read under the lock (consistent while writers run), to `file` atomically (0600). */
export async function backupStore(
  stateDir: string,
  file: string,
): Promise<{ revision: number; keys: number; bytes: number }> {
  const dir = storeDirOf(stateDir);
  if (!statSafe(dir)) throw new TortieError("NotFound", `there is no store at ${dir}`);
  if (sameDir(dirname(resolve(file)), dir))
    throw new TortieError(
      "Invalid",
      `cannot write the backup ${file} into the store's own directory ${dir} (it could replace the snapshot or the log); choose a path outside it`,
    );
  const backend = new FileBackend(dir);
  const { text, revision, keys } = await backend.exportSnapshot();
  await backend.close();
  try {
    writePathAtomic(resolve(file), text);
  } catch (e) {
    throw new TortieError("Invalid", `cannot write the backup ${file}: ${(e as Error).message}`);
  }
  // Read back what landed on disk: a backup that does not verify is no backup.
  checkBackup(file);
  return { revision, keys, bytes: text.length };
}

/**
 * Replaces the store with a verified backup, under the lock. The restored store's revision is the backup's, or
 * one past the store's current revision if that is higher (revisions never go back: watchers and caches of
 * running processes see a compaction and list again). A damaged current store is replaced all the same.
 * The new snapshot is written first, then the new log (each atomically). The restored revision is above every
 * revision of the old log, so a crash between the two leaves a store that is refused as damaged (the old log ends
 * before the snapshot's revision), never a mix of old and restored keys; run restore again. Readers that open the
 * store between the two writes see the same disagreement and read again until the small log is in place.
 */
export async function restoreStore(
  stateDir: string,
  file: string,
): Promise<{ revision: number; keys: number; storeRevision: number }> {
  const text = readBackup(file);
  const snap = decodeSnapshot(text, file, "backup");
  const dir = storeDirOf(stateDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new TortieError("Invalid", `cannot use ${dir} as a store: ${(e as Error).message}`);
  }
  return new ProcessLock(dir).withLock(() => {
    const current = currentRevision(dir);
    const revision = current >= snap.revision ? current + 1 : snap.revision;
    writeFileAtomic(dir, SNAPSHOT, encodeSnapshot(revision, snap.entries));
    writeFileAtomic(dir, WAL, encodeHeader(revision));
    return { revision: snap.revision, keys: snap.entries.length, storeRevision: revision };
  });
}

/** The store's revision; for a damaged store, the highest revision any of its files mentions. */
function currentRevision(dir: string): number {
  try {
    return new FileBackend(dir).summary().revision;
  } catch {
    let max = 0;
    for (const [name, re] of [
      [SNAPSHOT, /"revision":(\d+)/g],
      [WAL, /"(?:r|base)":(\d+)/g],
    ] as const) {
      let text = "";
      try {
        text = readFileSync(join(dir, name), "latin1");
      } catch {
        continue;
      }
      for (const m of text.matchAll(re)) max = Math.max(max, Number(m[1]));
    }
    return max;
  }
}

function readBackup(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new TortieError("NotFound", `the backup "${file}" does not exist`);
    throw new TortieError("Invalid", `cannot read the backup "${file}": ${(e as Error).message}`);
  }
}

/** Whether two paths name one directory (through links); false if either is not there. */
function sameDir(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
