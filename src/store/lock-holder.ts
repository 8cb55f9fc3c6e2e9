import { readFileSync } from "node:fs";

/**
 * Who holds a store lock, told apart from every other process that ever had its pid: `<pid>.<start>.<boot>`,
 * where `start` is the process's start time (field 22 of /proc/PID/stat, in clock ticks since boot) and `boot`
 * the first 8 hex digits of /proc/sys/kernel/random/boot_id. A pid reused by a later process has another start
 * time; a pid from before a reboot has another boot id.
 */
export interface LockHolder {
  pid: number;
  start: string;
  boot: string;
}

/** `h.<pid>.<start>.<boot>.<rand>`: a holder file's name (the rand tells apart two locks of one process). */
const HOLDER_FILE = /^h\.(\d+)\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]+$/;

/** `<pid>.<start>.<boot>.<rand>` after a prefix: a lock's temp dir. */
const TEMP_SUFFIX = /^(\d+)\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]+$/;

let self: string | undefined;

/** This process's `<pid>.<start>.<boot>` (read once). Without /proc, start and boot are zeros. */
export function selfIdentity(): string {
  self ??= `${process.pid}.${procStat(process.pid)?.start ?? "0"}.${bootId()}`;
  return self;
}

/** The holder a lock's holder file names, or undefined if the name is not one. */
export function parseHolderFile(name: string): LockHolder | undefined {
  const m = HOLDER_FILE.exec(name);
  return m ? { pid: Number(m[1]), start: m[2] as string, boot: m[3] as string } : undefined;
}

/** The process that made a lock's temp dir `<prefix><pid>.<start>.<boot>.<rand>`, or undefined. */
export function parseTempDir(name: string, prefix: string): LockHolder | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const m = TEMP_SUFFIX.exec(name.slice(prefix.length));
  return m ? { pid: Number(m[1]), start: m[2] as string, boot: m[3] as string } : undefined;
}

/**
 * Whether `h` is still running: same boot, the pid exists and is not a zombie (a SIGKILLed child its parent has
 * not waited for yet), and its start time is the holder's. When the pid exists but /proc does not show it (a
 * /proc mounted with hidepid), it counts as alive: a lock is never taken from a process that may be running.
 */
export function isAlive(h: LockHolder): boolean {
  if (h.boot !== bootId() || h.pid <= 0) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    // EPERM: it exists, as another user's process.
  }
  const stat = procStat(h.pid);
  if (!stat) return true;
  return stat.state !== "Z" && stat.state !== "X" && stat.start === h.start;
}

/** `process PID (its command line)`, in one line, for the message of a lock held too long. */
export function describeHolder(pid: number): string {
  let cmd = "";
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter(Boolean)
      .join(" ")
      .replace(/[\s\p{Cc}]+/gu, " ")
      .trim();
  } catch {
    // Gone meanwhile, or not ours to read.
  }
  return `process ${pid}${cmd ? ` (${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd})` : ""}`;
}

let boot: string | undefined;

function bootId(): string {
  if (boot === undefined) {
    try {
      boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8);
    } catch {
      boot = "";
    }
    if (!/^[0-9a-f]{8}$/.test(boot)) boot = "00000000";
  }
  return boot;
}

/** State (field 3) and start time (field 22) of /proc/PID/stat; the command name (field 2) may hold spaces. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = rest[0];
  const start = rest[19];
  return state && start && /^\d+$/.test(start) ? { state, start } : undefined;
}
