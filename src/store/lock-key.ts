import { randomBytes } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { TortieError } from "../lib/index.ts";
import { fsyncDir } from "./atomic-file.ts";

export const LOCK_KEY = "lock.key";

/**
 * The store's lock secret: 32 random hex digits in `<store>/lock.key`, mode 0600. Made once: written to a temp
 * file, then hard-linked into place, which fails if another process got there first (then its key is used).
 * So no process ever reads a half-written key.
 */
export function readOrCreateLockKey(storeDir: string): string {
  const path = join(storeDir, LOCK_KEY);
  for (let attempt = 0; attempt < 2; attempt++) {
    let text: string | undefined;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        throw new TortieError(
          "Internal",
          `cannot read the store's lock key ${path}: ${(e as Error).message}`,
        );
    }
    if (text !== undefined) {
      if (/^[0-9a-f]{32}\n?$/.test(text)) return text.trim();
      throw new TortieError(
        "Internal",
        `the store's lock key ${path} is damaged; delete it when no tortie process is running`,
      );
    }
    const tmp = join(storeDir, `.${LOCK_KEY}.${process.pid}.tmp`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${randomBytes(16).toString("hex")}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      fsyncDir(storeDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
  throw new TortieError("Internal", `cannot make the store's lock key ${path}`);
}

/**
 * Who holds the abstract socket `name`, for the message of a lock that was not released in time: the kernel
 * lists bound abstract sockets in /proc/net/unix with their inode, and a process's open sockets show as
 * `socket:[inode]` under /proc/PID/fd (readable for the user's own processes only).
 */
export function lockHolder(name: string): string {
  let inode: string | undefined;
  try {
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n")) {
      const cols = line.trim().split(/\s+/);
      // Node binds the full 108-byte address: the padding NULs show as trailing "@".
      if (cols[7]?.replace(/@+$/, "") === `@${name}`) inode = cols[6];
    }
  } catch {
    return "another tortie process";
  }
  if (!inode) return "another tortie process";
  const want = `socket:[${inode}]`;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== want) continue;
      } catch {
        continue;
      }
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      } catch {
        // Gone meanwhile.
      }
      return `process ${pid}${cmd ? ` (${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd})` : ""}`;
    }
  }
  return "a process tortie cannot see (another user's?)";
}
