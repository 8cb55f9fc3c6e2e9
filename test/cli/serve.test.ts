/**
 * `tortie serve`, `tortie kubeconfig`, `up`/`down` starting and stopping the server, and tortie's own commands
 * forwarded through it: process-level, through bin/tortie, each test on a temporary state dir of its own.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  endpointPath,
  kubeconfigPath,
  processStartTime,
  readEndpoint,
} from "../../src/cli/serve-endpoint.ts";

const BIN = fileURLToPath(new URL("../../bin/tortie", import.meta.url));
const NOW = "2026-01-02T03:04:05Z";

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function tortie(
  dir: string,
  args: string[],
  o: { env?: Record<string, string>; input?: string; cwd?: string } = {},
): Run {
  const r = spawnSync(process.execPath, [BIN, "--state-dir", dir, ...args], {
    encoding: "utf8",
    cwd: o.cwd ?? dir,
    input: o.input ?? "",
    env: { ...process.env, TORTIE_NOW: NOW, TORTIE_NO_SERVER: "", ...o.env },
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const local = (dir: string, args: string[], o: { input?: string; cwd?: string } = {}) =>
  tortie(dir, args, { ...o, env: { TORTIE_NO_SERVER: "1" } });
/** Run with bin/tortie's trace on: stderr then says whether the command was forwarded. */
const traced = (dir: string, args: string[], o: { input?: string; cwd?: string } = {}) =>
  tortie(dir, args, { ...o, env: { TORTIE_TRACE_START: "1" } });
const wasForwarded = (r: Run) => /tortie: forwarded the command/.test(r.err);
const withoutTrace = (err: string) =>
  err
    .split("\n")
    .filter((l) => !l.startsWith("tortie: ") || !/(forwarded|ran |rebuilt|cannot build)/.test(l))
    .join("\n");

const alive = (pid: number, start: number | undefined) => {
  const now = processStartTime(pid);
  return now !== undefined && now === start;
};

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A temporary state dir; any server still running for it at the end is killed, and the dir removed. */
function stateDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tortie-serve-"));
  t.after(() => {
    const record = readEndpoint(dir);
    if (record && alive(record.pid, record.start)) process.kill(record.pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** `tortie serve` as a child process, listening once this resolves; killed at the end of the test. */
async function serve(t: TestContext, dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, "--state-dir", dir, "serve"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TORTIE_NO_SERVER: "" },
  });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  t.after(() => {
    if (!exited) child.kill("SIGKILL");
  });
  await until("the server listens", () => {
    if (exited) throw new Error("tortie serve exited before it listened");
    const record = readEndpoint(dir);
    return record !== undefined && record.pid === child.pid && record.state === "listening";
  });
  return child;
}

test("serve writes an owner-only kubeconfig and endpoint.json; kubeconfig prints its path", async (t) => {
  const dir = stateDir(t);
  assert.equal(local(dir, ["up", "--no-serve"]).code, 0);
  const none = tortie(dir, ["kubeconfig"]);
  assert.equal(none.code, 1);
  assert.match(none.err, /^error: no API server is running for this state dir; .*\n$/);
  const child = await serve(t, dir);
  const record = readEndpoint(dir)!;
  assert.equal(record.pid, child.pid);
  assert.match(record.url!, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(statSync(endpointPath(dir)).mode & 0o777, 0o600);
  assert.equal(statSync(kubeconfigPath(dir)).mode & 0o777, 0o600);
  const kubeconfig = readFileSync(kubeconfigPath(dir), "utf8");
  assert.match(kubeconfig, new RegExp(`server: "${record.url}"`));
  assert.match(kubeconfig, /current-context: "tortie-lab"/);
  assert.deepEqual(tortie(dir, ["kubeconfig"]), { code: 0, out: `${kubeconfigPath(dir)}\n`, err: "" });
  // A second server for the same state dir refuses in one line.
  const second = tortie(dir, ["serve"]);
  assert.equal(second.code, 1);
  assert.equal(
    second.err,
    `error: an API server (pid ${child.pid}) already serves this state dir at ${record.url}\n`,
  );
  // SIGTERM: a clean exit, endpoint.json removed.
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  child.kill("SIGTERM");
  assert.equal(await exit, 0);
  assert.equal(readEndpoint(dir), undefined);
});

test("a forwarded command prints exactly what the local run prints", async (t) => {
  const dir = stateDir(t);
  assert.equal(local(dir, ["up", "--no-serve", "--app", "yaobank"]).code, 0);
  await serve(t, dir);
  for (const args of [
    ["kubectl", "get", "pods", "-A"],
    ["kubectl", "get", "pods", "-n", "yaobank", "-o", "wide"],
    ["kubectl", "get", "pod", "nope"],
    ["calicoctl", "get", "ippools"],
    ["status"],
  ]) {
    const forwarded = traced(dir, args);
    assert.ok(wasForwarded(forwarded), `${args.join(" ")} was not forwarded: ${forwarded.err}`);
    const here = local(dir, args);
    assert.deepEqual(
      { code: forwarded.code, out: forwarded.out, err: withoutTrace(forwarded.err) },
      here,
      args.join(" "),
    );
  }
  // Not forwarded: what runs until interrupted, and help.
  assert.ok(!wasForwarded(traced(dir, ["kubectl", "get", "--help"])));
  assert.ok(!wasForwarded(traced(dir, ["kubectl", "logs", "-f", "nope", "--tail", "0", "-n", "x"])));
});

test("forwarded writes take effect: apply -f with a path relative to the client, and -f - from stdin", async (t) => {
  const dir = stateDir(t);
  assert.equal(local(dir, ["up", "--no-serve"]).code, 0);
  await serve(t, dir);
  const work = mkdtempSync(join(tmpdir(), "tortie-serve-cwd-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  writeFileSync(join(work, "ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-file\n");
  const fromFile = traced(dir, ["kubectl", "apply", "-f", "ns.yaml"], { cwd: work });
  assert.ok(wasForwarded(fromFile), fromFile.err);
  assert.equal(fromFile.out, "namespace/from-file created\n");
  const fromStdin = traced(dir, ["kubectl", "apply", "-f", "-"], {
    cwd: work,
    input: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-stdin\n",
  });
  assert.ok(wasForwarded(fromStdin), fromStdin.err);
  assert.equal(fromStdin.out, "namespace/from-stdin created\n");
  const names = local(dir, ["kubectl", "get", "ns", "-o", "name"]).out;
  assert.match(names, /^namespace\/from-file$/m);
  assert.match(names, /^namespace\/from-stdin$/m);
  // A missing file is the client's path, reported as the local run reports it.
  const missing = traced(dir, ["kubectl", "apply", "-f", "nope.yaml"], { cwd: work });
  assert.equal(missing.code, 1);
  assert.equal(withoutTrace(missing.err), 'error: the path "nope.yaml" does not exist\n');
});

test("up starts a server and down stops it; removing the state dir stops one too", async (t) => {
  const dir = stateDir(t);
  const up = tortie(dir, ["up"]);
  assert.equal(up.code, 0, up.err);
  const record = readEndpoint(dir)!;
  assert.equal(record.state, "listening");
  assert.match(
    up.out,
    new RegExp(`^API server: ${record.url} \\(export KUBECONFIG=${kubeconfigPath(dir)}\\)$`, "m"),
  );
  assert.ok(alive(record.pid, record.start));
  // `up` again keeps the server it has.
  const again = tortie(dir, ["up"]);
  assert.equal(again.code, 0);
  assert.equal(readEndpoint(dir)!.pid, record.pid);
  const down = tortie(dir, ["down"]);
  assert.equal(down.code, 0, down.err);
  assert.ok(!alive(record.pid, record.start), "down left the server running");
  assert.equal(readEndpoint(dir), undefined);

  assert.equal(tortie(dir, ["up"]).code, 0);
  const second = readEndpoint(dir)!;
  assert.equal(second.port, record.port, "a restarted server keeps its port");
  rmSync(dir, { recursive: true, force: true });
  await until("the server notices its state dir is gone", () => !alive(second.pid, second.start), 15_000);
});

test("a killed server's stale endpoint.json does not break commands", async (t) => {
  const dir = stateDir(t);
  assert.equal(local(dir, ["up", "--no-serve"]).code, 0);
  const child = await serve(t, dir);
  const exit = new Promise((r) => child.on("exit", r));
  child.kill("SIGKILL");
  await exit;
  assert.equal(readEndpoint(dir)?.pid, child.pid, "the killed server left its endpoint.json");
  const r = traced(dir, ["kubectl", "get", "pods", "-A"]);
  assert.ok(!wasForwarded(r));
  assert.deepEqual(
    { code: r.code, out: r.out },
    { code: 0, out: local(dir, ["kubectl", "get", "pods", "-A"]).out },
  );
  assert.equal(tortie(dir, ["kubeconfig"]).code, 1);
  // A new server takes the state dir over.
  await serve(t, dir);
  assert.ok(wasForwarded(traced(dir, ["kubectl", "get", "pods", "-A"])));
});

test("the kubeconfig, server/port and serve.log are owner-only even when they existed with a looser mode", async (t) => {
  const dir = stateDir(t);
  assert.equal(local(dir, ["up", "--no-serve"]).code, 0);
  const loose = [kubeconfigPath(dir), join(dir, "server", "port"), join(dir, "server", "serve.log")];
  mkdirSync(join(dir, "server"), { recursive: true, mode: 0o755 });
  chmodSync(join(dir, "server"), 0o755);
  for (const path of loose) {
    writeFileSync(path, "");
    chmodSync(path, 0o644);
  }
  const up = tortie(dir, ["up"]);
  assert.equal(up.code, 0, up.err);
  t.after(() => tortie(dir, ["down"]));
  for (const path of loose) assert.equal(statSync(path).mode & 0o777, 0o600, path);
  assert.equal(statSync(join(dir, "server")).mode & 0o777, 0o700);
});
