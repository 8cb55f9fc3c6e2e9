import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, test } from "node:test";
import { CliHarness, fixture } from "./harness.ts";

const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const h = new CliHarness();
after(() => h.cleanup());

const env = { ...process.env, TORTIE_NOW: "2026-01-02T03:04:05Z" };

/** Starts `bin/tortie ARGS` on the harness's state dir, collecting what it prints. */
function tortie(args: string[]): {
  child: ChildProcess;
  out: () => string;
  exit: Promise<[number | null, string | null]>;
} {
  const child = spawn(process.execPath, [bin, "--state-dir", h.stateDir, ...args], { env });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<[number | null, string | null]>((resolve) =>
    child.on("exit", (code, signal) => resolve([code, signal])),
  );
  return { child, out: () => out, exit };
}

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("kubectl logs -f (a process) prints what another process's curl makes customer log; SIGINT ends it as it ends kubectl", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  assert.equal((await h.run("exec host1 -- curl 198.19.0.1:30180")).code, 0);

  const follow = tortie(["kubectl", "logs", "-f", "deploy/customer", "-n", "yaobank"]);
  await until("the log so far", () => follow.out().split("\n").length > 1);
  assert.equal(follow.out(), '198.19.0.1 - - [02/Jan/2026 03:04:05] "GET / HTTP/1.1" 200 -\n');

  const curl = tortie(["exec", "host1", "--", "curl", "198.19.0.1:30180/later"]);
  assert.deepEqual(await curl.exit, [0, null], curl.out());
  await until("the new line", () => follow.out().includes("/later"));
  assert.match(follow.out(), /\n198\.19\.0\.1 - - \[[^\]]+\] "GET \/later HTTP\/1\.1" 404 -\n$/);

  // kubectl installs no handler: Ctrl-C kills it by SIGINT (the shell reports 130), and so it is here.
  follow.child.kill("SIGINT");
  assert.deepEqual(await follow.exit, [null, "SIGINT"]);

  const again = tortie(["kubectl", "logs", "--follow", "-l", "app=customer", "-n", "yaobank"]);
  await until("the log so far", () => again.out().includes("/later"));
  again.child.kill("SIGTERM");
  assert.deepEqual(await again.exit, [null, "SIGTERM"]);
});
