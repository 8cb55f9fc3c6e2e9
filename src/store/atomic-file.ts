import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** fsyncs a directory, so a rename in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file so that readers see the old content or the new, never a mix: temp file (mode 0600, only the
 * owner may read the cluster's state), fsync, rename, fsync of the directory.
 */
export function writeFileAtomic(dir: string, name: string, data: string | Buffer): void {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openExclusive(tmp);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let written = 0;
    while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkQuietly(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, join(dir, name));
  } catch (e) {
    // E.g. the target is a directory: the temp file must not stay behind.
    unlinkQuietly(tmp);
    throw e;
  }
  fsyncDir(dir);
}

/**
 * Creates `tmp` afresh (O_EXCL, 0600): a file or link already there (left by a crashed process of the same pid,
 * or planted in a shared directory such as /tmp) is removed first, never written through.
 */
function openExclusive(tmp: string): number {
  try {
    return openSync(tmp, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    unlinkSync(tmp);
    return openSync(tmp, "wx", 0o600);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // The first error is the one to report.
  }
}

/** `writeFileAtomic` for a path. */
export function writePathAtomic(path: string, data: string | Buffer): void {
  writeFileAtomic(dirname(path), basename(path), data);
}
