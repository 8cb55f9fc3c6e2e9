/**
 * The host `tortie serve` gives the API server (src/cli/serve-host.ts): its one job queue is never held by a
 * client slow to send an exec's stdin, and it runs only the command lines a client forwards.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { createServeHost } from "../../src/cli/serve-host.ts";
import type { CommandIO, PodExecRequest } from "../../src/server/index.ts";

function hostForTest(t: TestContext) {
  const root = mkdtempSync(join(tmpdir(), "tortie-serve-host-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const log: string[] = [];
  return { host: createServeHost(join(root, "state"), (line) => log.push(line)), log };
}

const catRequest: PodExecRequest = {
  namespace: "yaobank",
  pod: "customer-1",
  command: ["cat"],
  stdin: true,
  tty: false,
};

function ioWithStdin(stdin: () => Promise<string>, signal = new AbortController().signal): CommandIO {
  return { stdout: () => {}, stderr: () => {}, stdin, signal };
}

// Without the fix the exec holds the queue while it waits for stdin, and stdin waits for the queue: the test
// then ends by its timeout, as a failure.
test("an exec waiting for its stdin does not hold the queue", { timeout: 60_000 }, async (t) => {
  const { host } = hostForTest(t);
  let queueWasFree!: () => void;
  const freed = new Promise<void>((resolve) => {
    queueWasFree = resolve;
  });
  // The client sends its stdin only once the queue has run everything queued before (`sleep 25 | kubectl exec -i`).
  const exec = host
    .execInPod(
      catRequest,
      ioWithStdin(() => freed.then(() => "hello\n")),
    )
    .then(
      (code) => code,
      () => "failed",
    );
  await host.idle();
  queueWasFree();
  // The pod does not exist in this empty cluster: the exec's own outcome does not matter here, only that it ends.
  await exec;
});

test("an exec whose client went away while sending stdin ends with 130 and runs nothing", async (t) => {
  const { host } = hostForTest(t);
  const gone = new AbortController();
  gone.abort();
  let output = "";
  const io: CommandIO = {
    stdout: (c) => {
      output += c;
    },
    stderr: (c) => {
      output += c;
    },
    stdin: async () => "partial",
    signal: gone.signal,
  };
  assert.equal(await host.execInPod(catRequest, io), 130);
  assert.equal(output, "");
});

test("the host refuses the command lines a client never forwards, in one line", (t) => {
  const { host } = hostForTest(t);
  for (const argv of [
    ["store", "backup", "/tmp/x.bak"],
    ["--state-dir", "/tmp/s", "store", "restore", "/tmp/x.bak"],
    ["internal", "serve-app", "--image", "x"],
    ["serve"],
    ["down"],
    ["up"],
    ["exec", "node1", "--", "ip", "route"],
    ["calicoctl", "ipam", "check", "-o", "/tmp/report.json"],
    ["kubectl", "get", "pods", "--watch"],
    [],
  ]) {
    const refusal = host.commandRefusal(argv);
    assert.ok(refusal, `${argv.join(" ")} was not refused`);
    assert.doesNotMatch(refusal, /\n/);
    assert.match(refusal, /^the API server does not run "tortie/);
  }
  assert.equal(host.commandRefusal(["--state-dir", "/tmp/s", "kubectl", "get", "pods"]), undefined);
  assert.equal(host.commandRefusal(["calicoctl", "ipam", "check"]), undefined);
});
