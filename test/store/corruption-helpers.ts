import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeContext } from "../../src/cli/context.ts";
import { runCli } from "../../src/cli/main.ts";

export const bin = new URL("../../bin/tortie", import.meta.url).pathname;

export interface Run {
  code: number | null;
  signal?: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** bin/tortie as its own process: the real exit status and stderr. */
export function tortie(stateDir: string, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [bin, "--state-dir", stateDir, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** The CLI entry point in this process (for the many reads of the suite: the same code, no process start-up). */
export async function tortieInProcess(stateDir: string, args: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const ctx = {
    ...makeContext(stateDir),
    out: (t: string) => {
      out += t;
    },
    err: (t: string) => {
      err += t;
    },
  };
  const code = await runCli(args, ctx);
  return { code, out, err };
}

/** Every file under `dir` with a hash of its bytes (permissions are not content). */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p, `${rel}${e}/`);
      else out[`${rel}${e}`] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir, "");
  return out;
}

/** One line on stderr, no stack trace, exit 1. */
export function assertOneLineRefusal(r: Run, re: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit status (stderr: ${r.err})`);
  assert.equal(r.err.trimEnd().split("\n").length, 1, `${what}: one line on stderr, got:\n${r.err}`);
  assert.doesNotMatch(r.err, /^\s+at /m, `${what}: no stack trace`);
  assert.match(r.err, re, what);
  assert.match(r.err, /restore a backup with `tortie store restore FILE`, or move the state dir aside/, what);
}

export function manifest(ns: string, count: number, tag: string): string {
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`];
  for (let i = 0; i < count; i++)
    docs.push(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: ${ns}\ndata:\n  k: ${tag}-${i}\n`,
    );
  return docs.join("---\n");
}

export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix: string): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }
  cleanup(): void {
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export function copyState(from: string, to: string): string {
  mkdirSync(to, { recursive: true });
  cpSync(from, to, { recursive: true });
  return to;
}

export function write(path: string, text: string | Buffer): void {
  writeFileSync(path, text);
}

/** ConfigMap names `kubectl get cm -A -o name` printed. */
export function cmNames(out: string): string[] {
  return out.split("\n").filter((l) => l.startsWith("configmap/"));
}
