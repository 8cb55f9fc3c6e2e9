/**
 * Process-level clusters for comparing the real kubectl with `tortie kubectl`: `bin/tortie up --app yaobank` on a
 * temporary state dir, with the clock pinned (TORTIE_NOW, which the server `up` starts inherits, so the server's
 * AGE cells and tortie's agree), and copies of that state dir taken before any server runs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processStartTime, readEndpoint } from "../../src/cli/serve-endpoint.ts";

export const KUBECTL = "/usr/bin/kubectl";
/** The scenario tests' clock (test/cli/harness.ts FIXED_NOW). */
export const NOW = "2026-01-02T03:04:05Z";
const BIN = fileURLToPath(new URL("../../bin/tortie", import.meta.url));

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a process to its end with `input` on stdin. */
export function runProcess(
  command: string,
  args: string[],
  o: { env: NodeJS.ProcessEnv; input?: string; cwd?: string },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: o.env, cwd: o.cwd ?? "/", stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(o.input ?? "");
  });
}

/** bin/tortie's start trace (TORTIE_TRACE_START=1), which says whether a command was forwarded. */
const TRACE_LINE = /^tortie: .*(forwarded|ran |rebuilt|cannot build|bundle|sources)/;

/** One state dir, with or without its API server. */
export class SeedCluster {
  constructor(
    readonly dir: string,
    /** kubectl's HOME (its discovery cache), private to the test. */
    readonly home: string,
  ) {}

  /** `tortie --state-dir DIR …`: through the server when `server` (forwarded), else on the state dir itself. */
  async tortie(
    args: string[],
    o: { input?: string; server?: boolean } = {},
  ): Promise<Run & { forwarded: boolean }> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TORTIE_NOW: NOW,
      TORTIE_NO_SERVER: o.server ? "" : "1",
      TORTIE_TRACE_START: "1",
    };
    const r = await runProcess(process.execPath, [BIN, "--state-dir", this.dir, ...args], {
      env,
      input: o.input,
      cwd: this.dir,
    });
    const lines = r.err.split("\n");
    const forwarded = lines.some((l) => /^tortie: forwarded the command/.test(l));
    return { ...r, err: lines.filter((l) => !TRACE_LINE.test(l)).join("\n"), forwarded };
  }

  /** The real kubectl with this cluster's kubeconfig (or another one, e.g. with a wrong token). */
  kubectl(args: string[], o: { input?: string; kubeconfig?: string } = {}): Promise<Run> {
    return runProcess(KUBECTL, ["--kubeconfig", o.kubeconfig ?? this.kubeconfig(), ...args], {
      env: this.kubectlEnv(),
      input: o.input,
      cwd: this.dir,
    });
  }

  kubectlEnv(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, HOME: this.home };
  }

  kubeconfig(): string {
    return join(this.dir, "kubeconfig");
  }

  /** A copy of this cluster's kubeconfig whose bearer token is wrong. */
  kubeconfigWithWrongToken(): string {
    const path = join(this.home, "wrong-token.kubeconfig");
    const text = readFileSync(this.kubeconfig(), "utf8").replace(/token: .*/, 'token: "not-the-token"');
    assert.ok(/not-the-token/.test(text), "the kubeconfig names a token");
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** Waits until the server has settled after the writes sent so far: a forwarded command queues behind that. */
  async settled(): Promise<void> {
    const r = await this.tortie(["kubectl", "get", "ns"], { server: true });
    assert.equal(r.code, 0, r.err);
    assert.ok(r.forwarded, "the barrier command went through the server");
  }
}

export interface SeedClusters {
  /** The real kubectl and tortie's own commands (local and forwarded) read this one; its server runs. */
  a: SeedCluster;
  /** A copy of `a` before any server ran, without a server: `tortie kubectl` works on the state dir. */
  b: SeedCluster;
  /** Another copy, with a server of its own: `tortie kubectl` is forwarded to it. */
  c: SeedCluster;
  cleanup(): void;
}

/** `up --app yaobank` once, copied twice; servers for `a` and `c` (started by `up`, as users start them). */
export async function startSeedClusters(): Promise<SeedClusters> {
  const root = mkdtempSync(join(tmpdir(), "tortie-seed-kubectl-"));
  const home = join(root, "home");
  mkdirSync(home, { mode: 0o700 });
  const [a, b, c] = ["a", "b", "c"].map((n) => new SeedCluster(join(root, n), home)) as [
    SeedCluster,
    SeedCluster,
    SeedCluster,
  ];
  const cleanup = () => {
    for (const cluster of [a, c]) {
      const record = readEndpoint(cluster.dir);
      if (record && processStartTime(record.pid) === record.start) process.kill(record.pid, "SIGKILL");
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    mkdirSync(a.dir);
    const up = await a.tortie(["up", "--app", "yaobank", "--no-serve"]);
    assert.equal(up.code, 0, up.err);
    cpSync(a.dir, b.dir, { recursive: true });
    cpSync(a.dir, c.dir, { recursive: true });
    for (const cluster of [a, c]) {
      const serve = await cluster.tortie(["up", "--app", "yaobank"], { server: true });
      assert.equal(serve.code, 0, serve.err);
      assert.match(serve.out, /^API server: https:\/\/127\.0\.0\.1:\d+ /m, serve.out + serve.err);
    }
    const kubeconfig = await a.tortie(["kubeconfig"], { server: true });
    assert.equal(kubeconfig.out, `${a.kubeconfig()}\n`);
  } catch (e) {
    cleanup();
    throw e;
  }
  return { a, b, c, cleanup };
}
