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
  const fd = openSync(tmp, "w", 0o600);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let written = 0;
    while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The first error is the one to report.
    }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

/** `writeFileAtomic` for a path. */
export function writePathAtomic(path: string, data: string | Buffer): void {
  writeFileAtomic(dirname(path), basename(path), data);
}
