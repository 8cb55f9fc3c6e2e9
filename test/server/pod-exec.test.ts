import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { WebSocket } from "ws";
import { MAX_EXEC_STDIN_BYTES } from "../../src/lib/index.ts";
import type { ServerHost } from "../../src/server/index.ts";
import { execStdinTooLargeMessage, execUpgradeHandler } from "../../src/server/pod-exec.ts";
import { fakeHost, samplePod, twoContainerPod } from "./fake-host.ts";

/** A tiny HTTP server whose only route is the exec upgrade, on a free loopback port. */
async function execServer(host: ServerHost): Promise<{ server: Server; base: string }> {
  const handler = execUpgradeHandler(host);
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, , , , namespace, , pod] = url.pathname.split("/");
    handler(req, socket, head, { namespace: namespace!, pod: pod!, query: url.searchParams });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, base: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Outcome {
  protocol: string;
  channels: Record<number, string>;
  closeCode: number;
}

/** Runs one exec as client-go's WebSocket executor does: channel-prefixed binary frames, CLOSE after stdin. */
function exec(
  base: string,
  path: string,
  stdin?: string,
  protocols = ["v5.channel.k8s.io"],
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}${path}`, protocols);
    const channels: Record<number, string> = {};
    ws.on("open", () => {
      if (stdin !== undefined) {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
        ws.send(Buffer.from([255, 0]));
      }
    });
    ws.on("message", (data: Buffer) => {
      channels[data[0]!] = (channels[data[0]!] ?? "") + data.subarray(1).toString();
    });
    ws.on("close", (closeCode) => resolve({ protocol: ws.protocol, channels, closeCode }));
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () => reject(new Error(`${res.statusCode} ${body}`)));
    });
    ws.on("error", reject);
  });
}

const podPath = (pod: string, query: string) => `/api/v1/namespaces/yaobank/pods/${pod}/exec?${query}`;

test("exec over v5.channel.k8s.io: stdout and stderr on their channels, stdin until CLOSE, Success on the error channel", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const out = await exec(
    base,
    podPath("customer-1", "command=cat&command=-&stdin=true&stdout=true&stderr=true"),
    "hello\n",
  );
  assert.equal(out.protocol, "v5.channel.k8s.io");
  assert.equal(out.channels[1], "ran cat -\nstdin: hello\n");
  assert.equal(out.channels[2], "to stderr\n");
  assert.deepEqual(JSON.parse(out.channels[3]!), { metadata: {}, status: "Success" });
  assert.equal(out.closeCode, 1000);
  assert.deepEqual(host.execRequests, [
    {
      namespace: "yaobank",
      pod: "customer-1",
      command: ["cat", "-"],
      stdin: true,
      tty: false,
      container: "customer",
    },
  ]);
});

test("a non-zero exit code is a NonZeroExitCode Status with the code as its ExitCode cause", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const out = await exec(
    base,
    podPath("customer-1", "command=sh&command=-c&command=exit 3&stdout=true&stderr=true"),
  );
  const status = JSON.parse(out.channels[3]!);
  assert.equal(status.status, "Failure");
  assert.equal(status.reason, "NonZeroExitCode");
  assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "3" }]);
  assert.match(status.message, /^command terminated with non-zero exit code: .*exit code 3$/);
});

test("with a tty, stderr reaches stdout; without stderr asked for, nothing arrives on channel 2", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const tty = await exec(base, podPath("customer-1", "command=ls&stdout=true&tty=true"));
  assert.equal(tty.channels[1], "ran ls\nto stderr\n");
  assert.equal(tty.channels[2], undefined);
  const quiet = await exec(base, podPath("customer-1", "command=ls&stdout=true"));
  assert.equal(quiet.channels[2], undefined);
});

test("v4.channel.k8s.io is accepted; no known subprotocol is refused before the upgrade", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const v4 = await exec(base, podPath("customer-1", "command=ls&stdout=true"), undefined, [
    "v4.channel.k8s.io",
  ]);
  assert.equal(v4.protocol, "v4.channel.k8s.io");
  await assert.rejects(
    exec(base, podPath("customer-1", "command=ls&stdout=true"), undefined, ["base64.channel.k8s.io"]),
    /^Error: 400 .*not supported yet: exec over subprotocols/,
  );
});

test("a host failure is a Status on the error channel", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const out = await exec(base, podPath("customer-1", "command=fail&stdout=true"));
  const status = JSON.parse(out.channels[3]!);
  assert.equal(status.status, "Failure");
  assert.equal(status.message, "Internal error occurred: the sandbox is gone");
});

test("bad requests get the API server's Status before the upgrade", async (t) => {
  const host = await fakeHost([samplePod, twoContainerPod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const refusal = async (path: string) => {
    const error = await exec(base, path).then(
      () => assert.fail("upgraded"),
      (e: Error) => e,
    );
    const [code, ...body] = error.message.split(" ");
    const status = JSON.parse(body.join(" "));
    assert.equal(status.kind, "Status");
    return `${code} ${status.message}`;
  };
  assert.equal(await refusal(podPath("nope", "command=ls&stdout=true")), '404 pods "nope" not found');
  assert.equal(
    await refusal(podPath("customer-1", "command=ls&stdout=true&container=db")),
    "400 container db is not valid for pod customer-1",
  );
  assert.equal(
    await refusal(podPath("sidecar-1", "command=ls&stdout=true")),
    "400 a container name must be specified for pod sidecar-1, choose one of: [app proxy]",
  );
  assert.equal(
    await refusal(podPath("customer-1", "stdout=true")),
    "400 you must specify at least 1 command",
  );
  assert.equal(
    await refusal(podPath("customer-1", "command=ls")),
    "400 you must specify at least 1 of stdin, stdout, stderr",
  );
  assert.equal(
    await refusal(podPath("customer-1", "command=ls&stdout=yes")),
    '400 stdout: strconv.ParseBool: parsing "yes": invalid syntax',
  );
});

test("kubectl's SPDY fallback (a POST upgrade to SPDY/3.1) gets the request's own error first, then a plain refusal", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const port = new URL(base).port;
  const spdy = (path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        headers: {
          connection: "Upgrade",
          upgrade: "SPDY/3.1",
          "x-stream-protocol-version": "v4.channel.k8s.io",
        },
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c;
        });
        res.on("end", () => resolve(`${res.statusCode} ${JSON.parse(body).message}`));
      });
      req.on("upgrade", () => reject(new Error("upgraded to SPDY")));
      req.on("error", reject);
      req.end();
    });
  assert.equal(
    await spdy(podPath("customer-1", "command=ls&stdout=true&container=db")),
    "400 container db is not valid for pod customer-1",
  );
  assert.equal(
    await spdy(podPath("customer-1", "command=ls&stdout=true")),
    "400 not supported yet: exec over SPDY/3.1; use WebSockets (v5.channel.k8s.io, v4.channel.k8s.io)",
  );
});

test("stdin past MAX_EXEC_STDIN_BYTES is a 413 on the error channel, the connection closes, the server serves on", async (t) => {
  const host = await fakeHost([samplePod]);
  const { server, base } = await execServer(host);
  t.after(() => server.close());
  const chunk = Buffer.alloc(1024 * 1024, "x");
  const out = await new Promise<Outcome>((resolve, reject) => {
    const ws = new WebSocket(
      `${base}${podPath("customer-1", "command=cat&stdin=true&stdout=true&stderr=true")}`,
      ["v5.channel.k8s.io"],
    );
    const channels: Record<number, string> = {};
    ws.on("open", () => {
      // As client-go sends it: stdin in frames, here one more MiB than the limit, then CLOSE.
      for (let sent = 0; sent <= MAX_EXEC_STDIN_BYTES; sent += chunk.length)
        ws.send(Buffer.concat([Buffer.from([0]), chunk]));
      ws.send(Buffer.from([255, 0]));
    });
    ws.on("message", (data: Buffer) => {
      channels[data[0]!] = (channels[data[0]!] ?? "") + data.subarray(1).toString();
    });
    ws.on("close", (closeCode) => resolve({ protocol: ws.protocol, channels, closeCode }));
    ws.on("error", reject);
  });
  const status = JSON.parse(out.channels[3]!);
  assert.equal(status.code, 413);
  assert.equal(status.reason, "RequestEntityTooLarge");
  assert.equal(status.message, execStdinTooLargeMessage());
  assert.equal(out.channels[1], undefined, "the command ran with the refused stdin");
  const next = await exec(base, podPath("customer-1", "command=ls&stdout=true"));
  assert.deepEqual(JSON.parse(next.channels[3]!), { metadata: {}, status: "Success" });
});
