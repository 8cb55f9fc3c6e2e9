import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type CliContext, openClusterStore } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/main.ts";
import type { ResourceClient } from "../../src/store/index.ts";

export const FIXED_NOW = new Date("2026-01-02T03:04:05Z");

/**
 * Every file under `dir`, path and bytes (latin1, so any byte change shows): "nothing written" means two of these
 * are equal.
 */
export function snapshotState(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[p] = readFileSync(p, "latin1");
    }
  };
  walk(dir);
  return out;
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/** A tortie CLI bound to a fresh state dir, run in-process with a fixed clock. */
export class CliHarness {
  readonly stateDir = mkdtempSync(join(tmpdir(), "tortie-cli-"));
  private storeClient: ResourceClient | undefined;
  now = FIXED_NOW;

  store(): ResourceClient {
    this.storeClient ??= openClusterStore(this.stateDir, () => this.now);
    return this.storeClient;
  }

  async run(line: string | string[], stdin = ""): Promise<RunResult> {
    const argv = Array.isArray(line) ? line : splitArgs(line);
    let out = "";
    let err = "";
    const ctx: CliContext = {
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
      now: () => this.now,
      stdin: () => stdin,
      store: () => this.store(),
      stateDir: this.stateDir,
    };
    const code = await runCli(argv, ctx);
    return { code, out, err };
  }

  /** A context on this harness's state that prints nothing (for calling the CLI's library functions directly). */
  silentContext(): CliContext {
    return {
      out: () => {},
      err: () => {},
      now: () => this.now,
      stdin: () => "",
      store: () => this.store(),
      stateDir: this.stateDir,
    };
  }

  cleanup(): void {
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Splits a command line the way a shell would for the simple quoting the seeds use. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"]+)/g;
  let cur: string | undefined;
  let last = -1;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const piece = m[1] ?? m[2] ?? m[3] ?? "";
    if (cur !== undefined && m.index === last) cur += piece;
    else {
      if (cur !== undefined) out.push(cur);
      cur = piece;
    }
    last = re.lastIndex;
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

const goldenDir = new URL("../golden/", import.meta.url).pathname;

/** Compares with test/golden/NAME; UPDATE_GOLDEN=1 rewrites it instead. */
export function assertGolden(name: string, actual: string): void {
  const path = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(path)) {
    if (process.env.CI && !existsSync(path)) assert.fail(`golden file ${name} is missing`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.equal(actual, readFileSync(path, "utf8"), `output differs from golden file ${name}`);
}

export function fixture(name: string): string {
  return new URL(`../fixtures/${name}`, import.meta.url).pathname;
}
