import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ManifestEntry, parseManifests } from "../api/index.ts";
import { externalIPAdmission, serviceAllocation } from "../control/index.ts";
import { bundledManifestForUrl } from "../lab/index.ts";
import { TortieError, UnsupportedError } from "../lib/index.ts";
import { openStateStore, type ResourceClient, resolveStateDir } from "../store/index.ts";
import { readFdBounded, readFileBounded } from "./bounded-read.ts";
import { type LineSource, stdinLines } from "./line-source.ts";

/** What every command needs: where output goes, the clock, and the store (opened on first use). */
export interface CliContext {
  out: (text: string) => void;
  err: (text: string) => void;
  now: () => Date;
  stdin: () => string;
  /** Standard input line by line, for `tortie shell` (absent: `stdin()` split into lines, no prompts). */
  lines?: () => LineSource;
  store: () => ResourceClient;
  /** Ends commands that run until interrupted (`logs -f`) in-process; a process ends them with SIGINT. */
  signal?: AbortSignal;
  /** Where the sim dataplane keeps its state between commands (counters, conntrack, logs); memory if absent. */
  stateDir?: string;
  /**
   * The host a tortie tool runs on (`tortie exec node1 -- sudo calicoctl node status`, or a line of
   * `tortie shell node1`), and whether as root (through sudo); absent when typed as `tortie …` itself.
   */
  onHost?: { name: string; root: boolean };
  /**
   * Starts `tortie serve` for the state dir in the background (`up`). A capability of the process's own context
   * only: a context made in-process (the tests) has none, so no server is started behind their back.
   */
  startServer?: () => Promise<void>;
}

/** TORTIE_NOW pins the clock (tests and golden files); otherwise the wall clock. */
export function cliClock(): () => Date {
  const fixed = process.env.TORTIE_NOW;
  if (fixed) {
    const d = new Date(fixed);
    if (Number.isNaN(d.getTime())) throw new TortieError("Usage", `TORTIE_NOW is not a timestamp: ${fixed}`);
    return () => d;
  }
  return () => new Date();
}

export function makeContext(stateDirFlag: string | undefined): CliContext {
  let store: ResourceClient | undefined;
  const now = cliClock();
  let lines: LineSource | undefined;
  const context: CliContext = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    now,
    stdin: () => readFdBounded(0, "STDIN"),
    lines: () => {
      lines ??= stdinLines();
      return lines;
    },
    stateDir: resolveStateDir(stateDirFlag),
    startServer: async () => {
      const { startServerInBackground } = await import("./serve-lifecycle.ts");
      await startServerInBackground(context, resolveStateDir(stateDirFlag));
    },
    store: () => {
      store ??= openClusterStore(resolveStateDir(stateDirFlag), now);
      return store;
    },
  };
  return context;
}

/**
 * The state dir's store (on its recorded datastore: the file store, or etcd) with the API server's admission steps:
 * service IP and node port allocation, then the externalIPs rule (CVE-2020-8554), which sees the allocated cluster IP.
 */
export function openClusterStore(stateDir: string, now: () => Date): ResourceClient {
  return openStateStore(stateDir, { now }).use(serviceAllocation).use(externalIPAdmission);
}

/**
 * Reads `-f FILE` (or `-` for stdin; repeatable, as kubectl's is) into manifest entries, in the order given. A
 * directory contributes its `.json`, `.yaml` and `.yml` files in name order (kubectl's walk, without -R); a
 * missing path is a one-line error.
 */
export function readManifests(ctx: CliContext, files: string | readonly string[]): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  for (const file of typeof files === "string" ? [files] : files)
    for (const path of manifestPaths(file)) entries.push(...readManifestFile(ctx, path));
  return entries;
}

const MANIFEST_EXTENSIONS = [".json", ".yaml", ".yml"];

/** kubectl's test: a URL is `http://` or `https://` text, whatever the local filesystem holds under that path. */
const isUrl = (file: string) => /^https?:\/\//.test(file);

function manifestPaths(file: string): string[] {
  // The URL test comes before any stat: `https://../x` must never name a local directory (a dir `https:` in cwd).
  if (file === "-" || isUrl(file)) return [file];
  let isDirectory = false;
  try {
    isDirectory = statSync(file).isDirectory();
  } catch {
    return [file]; // readManifestFile says why
  }
  if (!isDirectory) return [file];
  return readdirSync(file, { withFileTypes: true })
    .filter((d) => !d.isDirectory() && MANIFEST_EXTENSIONS.some((ext) => d.name.endsWith(ext)))
    .map((d) => join(file, d.name))
    .sort();
}

function readManifestFile(ctx: CliContext, file: string): ManifestEntry[] {
  if (file === "-") return parseManifests(ctx.stdin(), "STDIN");
  if (isUrl(file)) {
    const shipped = bundledManifestForUrl(file);
    if (shipped === undefined)
      throw new UnsupportedError(`reading manifests from URLs (tortie has no network access): ${file}`);
    return parseManifests(shipped, file);
  }
  let text: string;
  try {
    text = readFileBounded(file);
  } catch (e) {
    if (e instanceof TortieError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new TortieError("NotFound", `the path "${file}" does not exist`);
    throw new TortieError("Invalid", `cannot read "${file}": ${(e as Error).message}`);
  }
  return parseManifests(text, file);
}
