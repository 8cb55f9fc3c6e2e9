/**
 * The server side of forwarding (src/server/forward.ts) with a host whose runCommand is scripted: the frames, the
 * exit code, stdin, and the requests it refuses without running anything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardable } from "../../src/cli/forward.ts";
import { forwardedCommandResponse } from "../../src/server/forward.ts";
import type { CommandIO, ForwardedCommand, ServerHost } from "../../src/server/index.ts";

function scriptedHost(
  run: (c: ForwardedCommand, io: CommandIO) => Promise<number>,
  commandRefusal: (argv: string[]) => string | undefined = () => undefined,
): {
  host: ServerHost;
  ran: ForwardedCommand[];
} {
  const ran: ForwardedCommand[] = [];
  const host = {
    commandRefusal,
    runCommand: (c: ForwardedCommand, io: CommandIO) => {
      ran.push(c);
      return run(c, io);
    },
  } as unknown as ServerHost;
  return { host, ran };
}

const post = (body: unknown) =>
  new Request("https://127.0.0.1/tortie/v1/commands", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const frames = async (r: Response) =>
  (await r.text())
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test("a forwarded command streams stdout and stderr frames in order, then its exit code", async () => {
  const { host, ran } = scriptedHost(async (_c, io) => {
    io.stdout("one\n");
    io.stderr(`stdin was ${await io.stdin()}\n`);
    io.stdout("two\n");
    return 3;
  });
  const r = await forwardedCommandResponse(
    host,
    post({
      argv: ["kubectl", "get", "pods"],
      cwd: "/tmp",
      env: { TORTIE_NOW: "2026-01-02T03:04:05Z" },
      stdin: "x",
    }),
  );
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/x-tortie-frames");
  assert.deepEqual(await frames(r), [{ o: "one\n" }, { e: "stdin was x\n" }, { o: "two\n" }, { exit: 3 }]);
  assert.deepEqual(ran, [
    { argv: ["kubectl", "get", "pods"], cwd: "/tmp", env: { TORTIE_NOW: "2026-01-02T03:04:05Z" } },
  ]);
});

test("a command that throws ends with an internal error line and exit 1", async () => {
  const { host } = scriptedHost(async () => {
    throw new Error("boom");
  });
  const got = await frames(await forwardedCommandResponse(host, post({ argv: [], cwd: "/", env: {} })));
  // One line for the client; the stack goes to the server's log only.
  assert.deepEqual(got, [{ e: "internal error: boom\n" }, { exit: 1 }]);
});

test("a command line the host refuses is a 400 Status with its one line and runs nothing", async () => {
  const { host, ran } = scriptedHost(
    async () => 0,
    (argv) => (argv[0] === "store" ? 'the API server does not run "tortie store backup …"' : undefined),
  );
  const r = await forwardedCommandResponse(
    host,
    post({ argv: ["store", "backup", "/tmp/x"], cwd: "/", env: {} }),
  );
  assert.equal(r.status, 400);
  const status = (await r.json()) as { reason: string; message: string };
  assert.equal(status.reason, "BadRequest");
  assert.equal(status.message, 'the API server does not run "tortie store backup …"');
  assert.deepEqual(ran, []);
});

test("malformed requests are 400 Status objects and run nothing", async () => {
  const { host, ran } = scriptedHost(async () => 0);
  for (const [body, message] of [
    ["{", "the request body is not JSON"],
    [{ argv: "get", cwd: "/" }, "argv: must be an array of strings"],
    [{ argv: [], cwd: "relative" }, "cwd: must be an absolute path"],
    [
      { argv: [], cwd: "/", env: { PATH: "/evil" } },
      'env: "PATH": only TORTIE_* variables with string values',
    ],
    [{ argv: [], cwd: "/", stdin: 1 }, "stdin: must be a string"],
  ] as const) {
    const r = await forwardedCommandResponse(host, post(body));
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason: "BadRequest",
      code: 400,
    });
  }
  assert.deepEqual(ran, []);
});

test("which command lines are forwarded", () => {
  const yes = [
    ["kubectl", "get", "pods", "-A"],
    ["get", "pods"],
    ["kubectl", "apply", "-f", "-"],
    ["kubectl", "logs", "-n", "yaobank", "customer"],
    ["calicoctl", "get", "ippools"],
    ["calicoctl", "ipam", "check"],
    ["calicoctl", "get", "ippools", "-o", "yaml"],
    ["status"],
    ["policy", "matrix"],
  ];
  const no = [
    [],
    ["up"],
    ["down"],
    ["serve"],
    ["kubeconfig"],
    ["exec", "node1", "--", "ip", "route"],
    ["shell", "node1"],
    ["verify"],
    ["internal", "serve-app"],
    ["store", "check"],
    ["kubectl", "exec", "-n", "x", "p", "--", "ls"],
    ["kubectl", "logs", "-f", "p"],
    ["kubectl", "logs", "--follow", "p"],
    ["kubectl", "get", "pods", "-w"],
    ["kubectl", "get", "pods", "--watch"],
    ["kubectl", "get", "--help"],
    ["up", "-h"],
    // The report is written by the process that runs the command: the client's, with the client's rights.
    ["calicoctl", "ipam", "check", "-o", "report.json"],
    ["calicoctl", "ipam", "check", "--output=report.json"],
    ["calicoctl", "-c", "cfg", "ipam", "check", "-oreport.json"],
  ];
  for (const argv of yes) assert.equal(forwardable(argv), true, argv.join(" "));
  for (const argv of no) assert.equal(forwardable(argv), false, argv.join(" "));
});
