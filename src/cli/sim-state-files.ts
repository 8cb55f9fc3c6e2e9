/**
 * The sim dataplane's saved state in the state directory, split so that a command reads and writes only what
 * it touched:
 *
 * - `sim-state.json`: the global part (virtual clock, randomness, the BGP outcome's fingerprint and horizon);
 * - `sim/<host>.json`: one host's part (its and its pods' counters, conntrack, neighbours, ephemeral ports, the
 *   routes BIRD programmed), read when the host is built and written only if it was (and changed);
 * - `sim/<host>.bgp.json`: its BIRD's sessions, read and written by full BGP runs only;
 * - `logs/<namespace>_<pod>.log`: a pod's app log, appended to, rotated at 10 MiB as the kubelet does
 *   (containerLogMaxSize; the previous file is `….log.1`); `kubectl logs` shows the current file.
 *
 * Without a state directory (tests' in-memory contexts) the same parts live in memory, per context.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { SimGlobalState, SimHostState, SimState, SimStateUpdate } from "../agent/index.ts";
import type { BirdSavedState } from "../dataplane/sim/index.ts";
import { TortieError } from "../lib/index.ts";

/** The kubelet's default containerLogMaxSize (10Mi). */
const LOG_MAX_BYTES = 10 * 1024 * 1024;

interface MemoryState {
  global: SimGlobalState;
  hosts: Map<string, SimHostState>;
  sessions: Map<string, BirdSavedState[string] | undefined>;
  logs: Map<string, string[]>;
}

const memoryStates = new WeakMap<object, MemoryState>();

function globalStatePath(stateDir: string): string {
  return join(stateDir, "sim-state.json");
}

function hostPath(stateDir: string, host: string): string {
  return join(stateDir, "sim", `${host}.json`);
}

function sessionsPath(stateDir: string, host: string): string {
  return join(stateDir, "sim", `${host}.bgp.json`);
}

/** Per loaded state, the text each host file had when read, so that an unchanged part is not written again. */
const readTexts = new WeakMap<SimState, Map<string, string>>();

/**
 * A host's file (or undefined if there is none). When it is unreadable, the advice is to delete the global file:
 * the next command then starts afresh and runs BGP in full, rewriting every host's file. Deleting the host's file
 * alone would leave a lazy command replaying the saved BGP outcome without that host's routes.
 */
function readHostFile<T>(path: string, texts: Map<string, string>, stateDir: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  texts.set(path, text);
  try {
    return parseObject(text) as T;
  } catch (e) {
    throw unreadable(path, e, `delete ${globalStatePath(stateDir)}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** What is wrong with a host file's shape (a damaged or foreign file), or undefined when it is a host's state. */
function hostStateProblem(h: SimHostState): string | undefined {
  const maps: [string, (v: unknown) => boolean][] = [
    ["counters", (v) => Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === "number")],
    ["conntrack", (v) => Array.isArray(v) && v.every(isObject)],
    ["ephemeral", (v) => typeof v === "number"],
    ["neighbours", (v) => Array.isArray(v) && v.every(isObject)],
  ];
  const fields = h as unknown as Record<string, unknown>;
  for (const [field, valid] of maps) {
    const m = fields[field];
    if (!isObject(m)) return `"${field}" is not an object`;
    for (const [k, v] of Object.entries(m)) if (!valid(v)) return `"${field}.${k}" has the wrong shape`;
  }
  if (h.bgpRoutes !== undefined && !(Array.isArray(h.bgpRoutes) && h.bgpRoutes.every(isObject)))
    return `"bgpRoutes" is not a list of routes`;
  if (h.bgpPort !== undefined && typeof h.bgpPort !== "number") return `"bgpPort" is not a number`;
  return undefined;
}

/** JSON that must be an object (a damaged file can hold `null`, a number or a list). */
function parseObject(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (!isObject(value))
    throw new Error(
      `expected a JSON object, found ${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value}`,
    );
  return value as Record<string, unknown>;
}

/** Writes a host file unless it held that text when the command read it. */
function writeHostFile(path: string, text: string, texts: Map<string, string> | undefined): void {
  if (texts?.get(path) === text) return;
  writeAtomic(path, text);
}

function logsDir(stateDir: string): string {
  return join(stateDir, "logs");
}

function logPath(stateDir: string, pod: string): string {
  return join(logsDir(stateDir), `${pod.replace("/", "_")}.log`);
}

function unreadable(path: string, e: unknown, fix = "delete the file"): TortieError {
  return new TortieError(
    "Invalid",
    `${path}: the sim dataplane's saved state is unreadable (${(e as Error).message}); ${fix} to start the dataplane afresh`,
  );
}

function readJson<T>(path: string): T {
  try {
    return parseObject(readFileSync(path, "utf8")) as T;
  } catch (e) {
    throw unreadable(path, e);
  }
}

/** Write-then-rename; the temporary file is this process's own, so two commands saving at once never share it. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const INITIAL: SimGlobalState = { now: 0, rngState: 0x2545f491 };

/** The global part of a saved state (only its own fields: older layouts kept everything in this file). */
function globalOf(raw: Record<string, unknown>): SimGlobalState {
  const g: SimGlobalState = {
    now: typeof raw.now === "number" ? raw.now : INITIAL.now,
    rngState: typeof raw.rngState === "number" ? raw.rngState : INITIAL.rngState,
  };
  if (typeof raw.wall === "number") g.wall = raw.wall;
  const inputs = raw.inputs as SimGlobalState["inputs"] | undefined;
  if (inputs && typeof inputs.key === "string") g.inputs = inputs;
  const bgp = raw.bgp as SimGlobalState["bgp"] | undefined;
  if (bgp && typeof bgp.fingerprint === "string") g.bgp = bgp;
  const notes = raw.notes as SimGlobalState["notes"] | undefined;
  if (notes && typeof notes.fingerprint === "string") g.notes = notes;
  return g;
}

/** The saved state of `stateDir` (or of the in-memory context `key`); hosts' parts are read when asked for. */
export function loadSimState(stateDir: string | undefined, key: object): SimState {
  if (stateDir === undefined) {
    const m = memoryStates.get(key);
    if (!m) return { global: { ...INITIAL }, host: () => undefined, bgpSessions: () => undefined };
    return {
      global: m.global,
      host: (name) => structuredClone(m.hosts.get(name)),
      bgpSessions: (name) => m.sessions.get(name),
    };
  }
  const path = globalStatePath(stateDir);
  if (!existsSync(path))
    return { global: { ...INITIAL }, host: () => undefined, bgpSessions: () => undefined };
  const global = globalOf(readJson<Record<string, unknown>>(path));
  const texts = new Map<string, string>();
  const state: SimState = {
    global,
    host: (name) => {
      const path = hostPath(stateDir, name);
      const host = readHostFile<SimHostState>(path, texts, stateDir);
      const problem = host && hostStateProblem(host);
      if (problem) throw unreadable(path, new Error(problem), `delete ${globalStatePath(stateDir)}`);
      return host;
    },
    bgpSessions: (name) =>
      readHostFile<BirdSavedState[string]>(sessionsPath(stateDir, name), texts, stateDir),
  };
  readTexts.set(state, texts);
  return state;
}

/** Saves what a command changed: new log lines first, then the hosts it built, then the global part. */
export function saveSimStateUpdate(stateDir: string | undefined, key: object, u: SimStateUpdate): void {
  if (stateDir === undefined) {
    const m = memoryStates.get(key) ?? {
      global: u.global,
      hosts: new Map(),
      sessions: new Map(),
      logs: new Map(),
    };
    m.global = u.global;
    for (const [host, s] of u.hosts) m.hosts.set(host, structuredClone(s));
    for (const [host, s] of u.bgpSessions ?? []) m.sessions.set(host, s);
    for (const [pod, lines] of u.logs) m.logs.set(pod, [...(m.logs.get(pod) ?? []), ...lines]);
    memoryStates.set(key, m);
    return;
  }
  if (u.logs.size) {
    mkdirSync(logsDir(stateDir), { recursive: true });
    for (const [pod, lines] of u.logs) appendLog(logPath(stateDir, pod), lines);
  }
  if (u.bgpSessions) {
    // A full BGP run's outcome goes to every host's file: until all are written, no saved outcome may be
    // replayed (a command interrupted here leaves the next one to run BGP in full).
    const { bgp: _outcome, ...rest } = u.global;
    writeAtomic(globalStatePath(stateDir), JSON.stringify(rest));
  }
  if (u.hosts.size || u.bgpSessions?.size) mkdirSync(join(stateDir, "sim"), { recursive: true });
  const texts = u.source && readTexts.get(u.source);
  // Routes replayed from the saved outcome belong to the full run that made them. Another command may have run
  // BGP in full since this one loaded them: its outcome (on disk now) is kept, not overwritten by the older one.
  const replayed = u.bgpSessions === undefined;
  for (const [host, s] of u.hosts) {
    const path = hostPath(stateDir, host);
    writeHostFile(path, JSON.stringify(replayed ? withBgpOnDisk(path, s) : s), texts);
  }
  for (const [host, s] of u.bgpSessions ?? []) {
    const path = sessionsPath(stateDir, host);
    if (s) writeHostFile(path, JSON.stringify(s), texts);
    else rmSync(path, { force: true });
  }
  let global = u.global;
  if (replayed) {
    const onDisk = existsSync(globalStatePath(stateDir))
      ? globalOf(readJson<Record<string, unknown>>(globalStatePath(stateDir)))
      : undefined;
    const { bgp: _loaded, ...rest } = u.global;
    global = onDisk?.bgp ? { ...rest, bgp: onDisk.bgp } : rest;
  }
  writeAtomic(globalStatePath(stateDir), JSON.stringify(global));
}

/** A host's part with the BGP outcome its file holds now (a concurrent full run's), rather than the one loaded. */
function withBgpOnDisk(path: string, s: SimHostState): SimHostState {
  let disk: SimHostState | undefined;
  try {
    disk = JSON.parse(readFileSync(path, "utf8")) as SimHostState;
  } catch {
    disk = undefined;
  }
  const { bgpRoutes: _routes, bgpPort: _port, ...rest } = s;
  return {
    ...rest,
    ...(disk?.bgpRoutes ? { bgpRoutes: disk.bgpRoutes } : {}),
    ...(disk?.bgpPort !== undefined ? { bgpPort: disk.bgpPort } : {}),
  };
}

/** Appends lines to a log, first moving a file that would grow past `maxBytes` to `….1` (kubelet's rotation). */
export function appendLog(path: string, lines: string[], maxBytes = LOG_MAX_BYTES): void {
  const text = lines.map((l) => `${l}\n`).join("");
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    // No log yet.
  }
  if (size > 0 && size + Buffer.byteLength(text) > maxBytes) renameSync(path, `${path}.1`);
  appendFileSync(path, text);
}

/** Every pod's current log (`NS/POD` → lines). */
export function readSimLogs(stateDir: string | undefined, key: object): Record<string, string[]> {
  if (stateDir === undefined) return Object.fromEntries(memoryStates.get(key)?.logs ?? []);
  const dir = logsDir(stateDir);
  const out: Record<string, string[]> = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    const m = /^([^_]+)_(.+)\.log$/.exec(f);
    if (!m) continue;
    const text = readFileSync(join(dir, f), "utf8");
    out[`${m[1]}/${m[2]}`] = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  }
  return out;
}

/** `down`: the dataplane's memory goes with the cluster. */
export function forgetSimStateFiles(stateDir: string | undefined, key: object): void {
  if (stateDir === undefined) {
    memoryStates.delete(key);
    return;
  }
  rmSync(globalStatePath(stateDir), { force: true });
  rmSync(join(stateDir, "sim"), { recursive: true, force: true });
  rmSync(logsDir(stateDir), { recursive: true, force: true });
}
