/**
 * The linux dataplane's record, <stateDir>/linux/record.json: an intent log. Every namespace and process is
 * written here BEFORE it is created, so a `kill -9` midway leaves enough to clean up; `applied` is the last
 * description applied completely and `pending` is set while an apply runs (the next apply then reconciles fully).
 * An apply that adds nothing to the record (a policy change) sets `pending` with an empty marker file beside it,
 * record.pending, instead of rewriting the whole record (~100 KB) a second time; reading the record merges it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterDataplane } from "../../calc/index.ts";
import type { BirdBinaries } from "./host-tools.ts";
import type { RecordedProcess } from "./processes.ts";

export interface LinuxRecord {
  version: 1;
  cluster: string;
  prefix: string;
  stateDir: string;
  /** Kernel namespace names this state dir created (or is about to). */
  namespaces: string[];
  /** Process key (`<host>/<process id>` or `<host>/bird`) → its pid (0 while it starts), namespace, start time. */
  pids: Record<string, RecordedProcess>;
  /** The BIRD binaries resolved at the first apply (`up`): later commands need no TORTIE_BIRD2_DIR. */
  birdBinaries?: BirdBinaries;
  applied?: ClusterDataplane;
  /**
   * Kernel namespace → the digest of its nft tables as the kernel listed them right after tortie loaded them
   * (`nft-digest.ts`), for the drift check: kube-proxy's nftables mode only.
   */
  nftDigests?: Record<string, string>;
  pending: boolean;
}

export function linuxDir(stateDir: string): string {
  return join(stateDir, "linux");
}

export function recordPath(stateDir: string): string {
  return join(linuxDir(stateDir), "record.json");
}

/** The marker that says `pending` without the record being rewritten. */
function pendingMarkPath(stateDir: string): string {
  return join(linuxDir(stateDir), "record.pending");
}

export function readRecord(stateDir: string): LinuxRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(stateDir), "utf8");
  } catch {
    return undefined;
  }
  let record: LinuxRecord;
  try {
    record = JSON.parse(text) as LinuxRecord;
  } catch (e) {
    throw new Error(
      `${recordPath(stateDir)} is not valid JSON (${(e as Error).message}); remove it after 'ip netns list' cleanup`,
    );
  }
  if (!record.pending && existsSync(pendingMarkPath(stateDir))) record.pending = true;
  return record;
}

/**
 * Sets the record on disk pending, as writeRecord({...r, pending: true}) would, when nothing else in it changes:
 * an empty file is made (no ~100 KB rewrite). The next writeRecord of a record not pending removes it.
 */
export function markRecordPending(r: LinuxRecord): void {
  r.pending = true;
  writeFileSync(pendingMarkPath(r.stateDir), "", { mode: 0o600 });
}

/** Writes the record atomically (a temporary file renamed over it), readable by root only. */
export function writeRecord(r: LinuxRecord): void {
  mkdirSync(linuxDir(r.stateDir), { recursive: true, mode: 0o700 });
  const path = recordPath(r.stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(r)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  // Only after the record says so: a kill between the two leaves it pending (a full reconcile), never the reverse.
  if (!r.pending) rmSync(pendingMarkPath(r.stateDir), { force: true });
}
