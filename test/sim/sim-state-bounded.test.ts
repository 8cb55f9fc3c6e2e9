/**
 * The saved sim state stays bounded with use: 10,000 curls (in one process, one second of virtual time apart, as
 * commands typed a second apart would see the clock) leave about as much state as 1,000 do (conntrack entries
 * expire on the virtual clock, counters are per rule), and pods' logs live in their own files, rotated as the
 * kubelet rotates them.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runSimCommand } from "../../src/agent/index.ts";
import type { CliContext } from "../../src/cli/context.ts";
import { openLazySimCluster, saveSimState } from "../../src/cli/exec.ts";
import { appendLog } from "../../src/cli/sim-state-files.ts";
import { CliHarness } from "../cli/harness.ts";
import { ok, podFromWide } from "../scenarios/bgp-helpers.ts";

const h = new CliHarness();
const scratch = mkdtempSync(join(tmpdir(), "tortie-logs-"));
after(() => {
  h.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const ctx: CliContext = h.silentContext();

/** Bytes of the saved dataplane state (the global file and every host's), logs apart. */
function stateBytes(): number {
  const dir = join(h.stateDir, "sim");
  let n = statSync(join(h.stateDir, "sim-state.json")).size;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

function savedConntrack(): number {
  let most = 0;
  const dir = join(h.stateDir, "sim");
  for (const f of readdirSync(dir)) {
    if (f.endsWith(".bgp.json")) continue;
    const s = JSON.parse(readFileSync(join(dir, f), "utf8")) as { conntrack: Record<string, unknown[]> };
    for (const entries of Object.values(s.conntrack)) most = Math.max(most, entries.length);
  }
  return most;
}

async function curls(n: number, url: string): Promise<void> {
  const cluster = await openLazySimCluster(ctx);
  const node1 = cluster.kernel("node1")!;
  for (let i = 0; i < n; i++) {
    cluster.net.now += 1000;
    const r = runSimCommand(cluster, node1, ["curl", "-s", url]);
    assert.equal(r.code, 0, r.stderr);
  }
  saveSimState(ctx, cluster);
  // The commands took that long: the wall clock the next command sees has moved on as much.
  h.now = new Date(h.now.getTime() + n * 1000);
}

test("10,000 curls leave the saved state about as large as 1,000 do", async () => {
  assert.equal((await h.run("up --app yaobank")).code, 0);
  const summary = podFromWide(await ok(h, "kubectl get pods -n yaobank -o wide"), "summary-");
  const url = `http://${summary.ip}:80/`;
  await curls(1000, url);
  const at1k = stateBytes();
  await curls(9000, url);
  const at10k = stateBytes();
  assert.ok(at10k <= at1k * 1.25, `saved state grew from ${at1k} to ${at10k} bytes`);
  // What is alive at the end: a request a second makes two TCP connections (curl → summary → database), each
  // kept 120 s in TIME_WAIT, and the summary's DNS lookups (UDP, 30 s): some 270 entries, not 10,000s.
  const live = savedConntrack();
  assert.ok(live > 0 && live <= 400, `${live} conntrack entries saved`);
  // The summary's log is its own file, one line per request, and `kubectl logs` reads it.
  const logs = await ok(h, `kubectl logs -n yaobank ${summary.name}`);
  assert.equal(logs.split("\n").filter((l) => l !== "").length, 10_000);
  assert.ok(!readFileSync(join(h.stateDir, "sim-state.json"), "utf8").includes("GET / HTTP/1.1"));
});

test("a pod's log is rotated when it would grow past the kubelet's limit; the current file is what is shown", () => {
  const path = join(scratch, "yaobank_database.log");
  appendLog(path, ["a".repeat(40)], 100);
  appendLog(path, ["b".repeat(40)], 100);
  assert.equal(existsSync(`${path}.1`), false);
  appendLog(path, ["c".repeat(40)], 100);
  assert.equal(readFileSync(`${path}.1`, "utf8"), `${"a".repeat(40)}\n${"b".repeat(40)}\n`);
  assert.equal(readFileSync(path, "utf8"), `${"c".repeat(40)}\n`);
});
