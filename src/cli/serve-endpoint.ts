/**
 * `<stateDir>/server/endpoint.json`: which process serves a state dir's API, and where. `tortie serve` claims it
 * before listening and fills it in once it listens; every other tortie process reads it to find the server.
 * Kept free of heavy imports: a forwarded command reads it before anything else is loaded.
 */
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface EndpointRecord {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/PID/stat), so a reused pid is not taken for it. */
  start: number | undefined;
  state: "starting" | "listening";
  port?: number;
  url?: string;
  /** What a forwarding client needs to reach the server (the file is the owner's only, as the kubeconfig is). */
  caCertPem?: string;
  token?: string;
}

export const serverDir = (stateDir: string): string => join(stateDir, "server");
export const endpointPath = (stateDir: string): string => join(serverDir(stateDir), "endpoint.json");
export const kubeconfigPath = (stateDir: string): string => join(stateDir, "kubeconfig");
export const serveLogPath = (stateDir: string): string => join(serverDir(stateDir), "serve.log");
/** The port the last server listened on, kept after it exits so the next one takes it again. */
export const lastPortPath = (stateDir: string): string => join(serverDir(stateDir), "port");

/**
 * A process's start time (field 22 of /proc/PID/stat), undefined when it does not exist or has exited. The same few lines as
 * dataplane/linux's startTime, kept here: importing that module would load the linux dataplane on every command.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces and parentheses): state, then starttime 19 later.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie has exited; only its parent has not collected it yet.
    if (fields[0] === "Z") return undefined;
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

export function readEndpoint(stateDir: string): EndpointRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(endpointPath(stateDir), "utf8")) as EndpointRecord;
    return typeof record?.pid === "number" ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the record's process is still the one that wrote it. */
export function recordIsLive(record: EndpointRecord): boolean {
  const start = processStartTime(record.pid);
  return start !== undefined && (record.start === undefined || start === record.start);
}

/** The endpoint of a live server listening for this state dir; undefined when none (no file, or a stale one). */
export function liveEndpoint(stateDir: string): EndpointRecord | undefined {
  const record = readEndpoint(stateDir);
  return record && record.state === "listening" && recordIsLive(record) ? record : undefined;
}

/** Replaces endpoint.json in one step: a reader sees the old record or the new one, never half of one. */
export function writeEndpoint(stateDir: string, record: EndpointRecord): void {
  writeOwnerOnly(endpointPath(stateDir), `${JSON.stringify(record)}\n`);
}

/**
 * Replaces a file with owner-only content in one step. `writeFileSync`'s mode applies only when it creates the
 * file, so a kubeconfig left world-readable (or a temp file left by a killed process) would keep its mode:
 * the temp file is chmod-ed before it takes the name.
 */
export function writeOwnerOnly(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function removeEndpoint(stateDir: string): void {
  rmSync(endpointPath(stateDir), { force: true });
}
