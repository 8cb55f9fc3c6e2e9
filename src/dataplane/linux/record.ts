/**
 * The linux dataplane's record, <stateDir>/linux/record.json: an intent log. Every namespace and process is
 * written here BEFORE it is created, so a `kill -9` midway leaves enough to clean up; `applied` is the last
 * description applied completely and `pending` is set while an apply runs (the next apply then reconciles fully).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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
  pending: boolean;
}

export function linuxDir(stateDir: string): string {
  return join(stateDir, "linux");
}

export function recordPath(stateDir: string): string {
  return join(linuxDir(stateDir), "record.json");
}

export function readRecord(stateDir: string): LinuxRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(stateDir), "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as LinuxRecord;
  } catch (e) {
    throw new Error(
      `${recordPath(stateDir)} is not valid JSON (${(e as Error).message}); remove it after 'ip netns list' cleanup`,
    );
  }
}

/** Writes the record atomically (a temporary file renamed over it), readable by root only. */
export function writeRecord(r: LinuxRecord): void {
  mkdirSync(linuxDir(r.stateDir), { recursive: true, mode: 0o700 });
  const path = recordPath(r.stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(r)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
