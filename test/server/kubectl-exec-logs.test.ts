import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  type CommandIO,
  kubeconfigText,
  type PodExecRequest,
  type PodLogRequest,
} from "../../src/server/index.ts";
import { startTestServer, type TestServer } from "./api-server-harness.ts";

const KUBECTL = "/usr/bin/kubectl";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl; a non-zero exit is an outcome here, not a failure. */
function kubectl(args: string[], env: Record<string, string>, stdin?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, args, { env }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(stdin ?? "");
  });
}

/** A pod to exec into and read logs of, and the environment that points the real kubectl at the server. */
async function kubectlEnv(s: TestServer): Promise<Record<string, string>> {
  await s.host.store.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "customer-1", namespace: "default" },
    spec: { nodeName: "node1", containers: [{ name: "customer", image: "yaobank/customer" }] },
  });
  const home = join(s.dir, "..");
  const kubeconfig = join(home, "kubeconfig");
  writeFileSync(
    kubeconfig,
    kubeconfigText({ url: s.server.url, caCertPem: s.caCertPem, token: s.token, clusterName: "test" }),
    { mode: 0o600 },
  );
  return { PATH: process.env.PATH ?? "", HOME: home, KUBECONFIG: kubeconfig };
}

test("real kubectl exec over the server's WebSocket: output, stdin, exit codes", {
  skip: !existsSync(KUBECTL) && "no /usr/bin/kubectl",
}, async (t) => {
  const s = await startTestServer(t);
  const seen: PodExecRequest[] = [];
  s.host.execInPod = async (request: PodExecRequest, io: CommandIO) => {
    seen.push(request);
    const input = await io.stdin();
    io.stdout(`ran ${request.command.join(" ")}\n`);
    if (input) io.stdout(`stdin: ${input}`);
    io.stderr("a warning\n");
    return Number(/(\d+)$/.exec(request.command.join(" "))?.[1] ?? 0);
  };
  const env = await kubectlEnv(s);

  const hello = await kubectl(["exec", "customer-1", "--", "echo", "hello"], env);
  assert.equal(hello.stdout, "ran echo hello\n");
  assert.equal(hello.stderr, "a warning\n");
  assert.equal(hello.code, 0);

  const piped = await kubectl(["exec", "-i", "customer-1", "--", "cat"], env, "from kubectl\n");
  assert.equal(piped.stdout, "ran cat\nstdin: from kubectl\n");
  assert.equal(piped.code, 0);

  const failed = await kubectl(["exec", "customer-1", "--", "sh", "-c", "exit 3"], env);
  assert.equal(failed.code, 3);
  assert.match(failed.stderr, /command terminated with exit code 3/);
  assert.deepEqual(seen[0], {
    namespace: "default",
    pod: "customer-1",
    command: ["echo", "hello"],
    stdin: false,
    tty: false,
    container: "customer",
  });

  // The WebSocket upgrade is refused; kubectl falls back to SPDY, whose answer carries the same reason.
  const badContainer = await kubectl(["exec", "customer-1", "-c", "db", "--", "ls"], env);
  assert.equal(badContainer.code, 1);
  assert.equal(
    badContainer.stderr,
    "Error from server (BadRequest): container db is not valid for pod customer-1\n",
  );

  const missing = await kubectl(["exec", "nope", "--", "ls"], env);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /pods "nope" not found/);
});

test("real kubectl logs through the server: the host's text, the query it sent, follow refused", {
  skip: !existsSync(KUBECTL) && "no /usr/bin/kubectl",
}, async (t) => {
  const s = await startTestServer(t);
  const seen: PodLogRequest[] = [];
  s.host.podLogs = async (request) => {
    seen.push(request);
    return "GET / 200\nGET /health 200\n";
  };
  const env = await kubectlEnv(s);
  const logs = await kubectl(["logs", "customer-1", "--tail", "2", "--timestamps"], env);
  assert.equal(logs.stdout, "GET / 200\nGET /health 200\n");
  assert.equal(logs.code, 0);
  assert.deepEqual(seen, [
    { namespace: "default", pod: "customer-1", container: "customer", tailLines: 2, timestamps: true },
  ]);
  const badContainer = await kubectl(["logs", "customer-1", "-c", "db"], env);
  assert.notEqual(badContainer.code, 0);
  assert.match(badContainer.stderr, /container db is not valid for pod customer-1/);
  const follow = await kubectl(["logs", "-f", "customer-1"], env);
  assert.notEqual(follow.code, 0);
  assert.match(follow.stderr, /not supported yet: follow/);
});
