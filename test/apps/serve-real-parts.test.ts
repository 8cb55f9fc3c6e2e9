// The real app server's pure parts: request framing, curl's output and errors, the zone file, the flags.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { splitCurlOutput } from "../../src/apps/curl-fetch.ts";
import {
  curlError,
  imageHasApp,
  nginx,
  parseZoneFile,
  realListenersForImage,
  WatchedZoneFile,
} from "../../src/apps/index.ts";
import { clientAddress, httpRequestLength, withoutHeadBody } from "../../src/apps/serve-real.ts";
import { parseServeAppArgs } from "../../src/cli/serve-app.ts";

const fixture = new URL("../fixtures/apps/dns-zone.json", import.meta.url).pathname;

test("an HTTP request is whole at the end of its headers plus its body", () => {
  const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert.equal(httpRequestLength(Buffer.from(get.slice(0, -2))), undefined);
  assert.equal(httpRequestLength(Buffer.from(get)), get.length);
  assert.equal(
    httpRequestLength(Buffer.from(`${get}GET /2`)),
    get.length,
    "a pipelined request waits its turn",
  );
  const post = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
  assert.equal(httpRequestLength(Buffer.from(`${post}abc`)), undefined);
  assert.equal(httpRequestLength(Buffer.from(`${post}abcde`)), post.length + 5);
  const chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  assert.equal(httpRequestLength(Buffer.from(`${chunked}3\r\nabc\r\n`)), undefined);
  const whole = `${chunked}3\r\nabc\r\n0\r\n\r\n`;
  assert.equal(httpRequestLength(Buffer.from(whole)), whole.length);
});

test("a request whose lines end in a bare LF is whole at its empty line, as nginx reads it", () => {
  const get = "GET / HTTP/1.0\nHost: x\n\n";
  assert.equal(httpRequestLength(Buffer.from(get.slice(0, -1))), undefined);
  assert.equal(httpRequestLength(Buffer.from(`${get}GET /2`)), get.length);
  const post = "POST / HTTP/1.1\nContent-Length: 3\n\n";
  assert.equal(httpRequestLength(Buffer.from(`${post}abc`)), post.length + 3);
  const chunked = "POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n";
  assert.equal(httpRequestLength(Buffer.from(`${chunked}3\nabc\n`)), undefined);
  const whole = `${chunked}3\nabc\n0\n\n`;
  assert.equal(httpRequestLength(Buffer.from(`${whole}GET /2`)), whole.length);
});

test("nginx's answers and log lines for HTTP/1.0, keep-alive, HEAD and bare-LF requests", () => {
  const logged: string[] = [];
  const env = {
    log: (line: string) => logged.push(line),
    now: () => new Date("2026-01-02T03:04:05Z"),
    fetch: () => ({ ok: false as const, error: "unused" }),
  };
  const ask = (payload: string) => nginx.handle({ clientIp: "10.0.0.1", clientPort: 40000, payload }, env)!;
  const head = (answer: string) => answer.slice(0, answer.indexOf("\r\n\r\n") + 4);
  // ngx_http_header_filter: the status line is HTTP/1.1 whatever the request's; `Connection` comes after
  // Content-Length, "close" when the connection ends after the answer.
  const welcome =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.27.0\r\nContent-Type: text/html\r\nContent-Length: 615\r\n";
  assert.equal(
    head(ask("GET / HTTP/1.0\r\nUser-Agent: curl/7.88.1\r\n\r\n")),
    `${welcome}Connection: close\r\n\r\n`,
  );
  assert.equal(
    head(ask("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")),
    `${welcome}Connection: keep-alive\r\n\r\n`,
  );
  assert.equal(
    head(ask("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")),
    `${welcome}Connection: close\r\n\r\n`,
  );
  assert.equal(head(ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), `${welcome}\r\n`);
  ask("HEAD / HTTP/1.1\r\nUser-Agent: curl/7.88.1\r\n\r\n");
  const lf = ask("GET /nope HTTP/1.0\nUser-Agent: lf\n\n");
  assert.match(
    lf,
    /^HTTP\/1\.1 404 Not Found\r\n[\s\S]*\r\nContent-Length: 153\r\nConnection: close\r\n\r\n<html>/,
  );
  // The image's `main` log format: "$request" as sent, and $body_bytes_sent (0 for HEAD).
  const at = "10.0.0.1 - - [02/Jan/2026:03:04:05 +0000]";
  assert.deepEqual(logged, [
    `${at} "GET / HTTP/1.0" 200 615 "-" "curl/7.88.1" "-"`,
    `${at} "GET / HTTP/1.0" 200 615 "-" "-" "-"`,
    `${at} "GET / HTTP/1.1" 200 615 "-" "-" "-"`,
    `${at} "GET / HTTP/1.1" 200 615 "-" "-" "-"`,
    `${at} "HEAD / HTTP/1.1" 200 0 "-" "curl/7.88.1" "-"`,
    `${at} "GET /nope HTTP/1.0" 404 153 "-" "lf" "-"`,
  ]);
});

test("the answer to HEAD has the headers only, so a kept-alive connection's next answer is not its body", () => {
  const answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  assert.equal(
    withoutHeadBody("HEAD / HTTP/1.1\r\n\r\n", answer),
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
  );
  assert.equal(withoutHeadBody("GET / HTTP/1.1\r\n\r\n", answer), answer);
});

test("the client address is IPv4 without a dual-stack socket's ::ffff:", () => {
  assert.equal(clientAddress("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(clientAddress("192.0.2.1"), "192.0.2.1");
});

test("curl's output splits into body and status; its failures get the sim's names", () => {
  assert.deepEqual(splitCurlOutput('{"a":1}\n\n200'), { status: 200, body: '{"a":1}\n' });
  assert.deepEqual(splitCurlOutput("\n404"), { status: 404, body: "" });
  assert.equal(splitCurlOutput("\n000"), undefined);
  assert.equal(curlError(6, "curl: (6) Could not resolve host: database"), "not-found");
  // curl -v's lines as curl 7.88 prints them: the errno is only in the verbose line.
  const failed = (how: string) =>
    `*   Trying x:80...\n* ${how}\n* Failed to connect to x port 80 after 0 ms: Couldn't connect to server\ncurl: (7) Failed to connect to x port 80 after 0 ms: Couldn't connect to server\n`;
  assert.equal(curlError(7, failed("connect to x port 80 failed: Connection refused")), "refused");
  assert.equal(curlError(7, failed("Immediate connect fail for x: No route to host")), "host-unreachable");
  assert.equal(
    curlError(7, failed("Immediate connect fail for x: Network is unreachable")),
    "network-unreachable",
  );
  assert.equal(curlError(7, failed("connect to x port 80 failed: Connection timed out")), "timeout");
  assert.equal(curlError(28, "curl: (28) Resolving timed out after 5000 milliseconds"), "resolve-timeout");
  assert.equal(curlError(28, "curl: (28) Connection timed out after 5000 milliseconds"), "timeout");
  assert.equal(curlError(52, "curl: (52) Empty reply from server"), "empty-reply");
  assert.equal(curlError(3, ""), "bad-url");
  assert.equal(
    curlError(
      56,
      "* Recv failure\ncurl: (56) Recv failure: Connection reset by peer\n* Closing connection 0\n",
    ),
    "curl exit 56: Recv failure: Connection reset by peer",
  );
});

test("the zone file: records by name, as entries or as a flat list; bad files are one-line errors", () => {
  const zone = parseZoneFile(readFileSync(fixture, "utf8"));
  assert.equal(zone.domain, "cluster.local.");
  assert.equal(zone.serial, 1764000000);
  assert.equal(zone.records.get("summary.default.svc.cluster.local.")?.[0]?.data, "192.0.2.11");
  const record = { name: "a.default.svc.cluster.local", type: "A", ttl: 5, data: "192.0.2.9" };
  const flat = parseZoneFile(JSON.stringify({ domain: "cluster.local.", serial: 1, records: [record] }));
  assert.equal(flat.records.get("a.default.svc.cluster.local.")?.[0]?.data, "192.0.2.9");
  const entries = parseZoneFile(
    JSON.stringify({
      domain: "cluster.local",
      serial: 1,
      records: [["a.default.svc.cluster.local.", [record]]],
    }),
  );
  assert.equal(entries.records.get("a.default.svc.cluster.local.")?.length, 1);
  assert.throws(() => parseZoneFile(JSON.stringify({ serial: 1, records: {} })), /domain/);
  assert.throws(
    () => parseZoneFile(JSON.stringify({ domain: "x", serial: 1, records: [{ name: "a" }] })),
    /not a record/,
  );
});

test("a watched zone file is re-read when it changes and keeps the last good zone on a bad write", () => {
  const dir = mkdtempSync(join(tmpdir(), "tt3-zone-"));
  try {
    const path = join(dir, "zone.json");
    writeFileSync(path, readFileSync(fixture));
    const warnings: string[] = [];
    const watched = new WatchedZoneFile(path, (l) => warnings.push(l));
    assert.equal(watched.current().serial, 1764000000);
    writeFileSync(path, JSON.stringify({ domain: "cluster.local", serial: 7, records: {} }));
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    assert.equal(watched.current().serial, 7);
    writeFileSync(path, "{ half a file");
    utimesSync(path, new Date(), new Date(Date.now() + 10000));
    assert.equal(watched.current().serial, 7);
    assert.equal(watched.current().serial, 7);
    assert.equal(warnings.length, 1, "one warning per bad version");
    assert.match(warnings[0]!, /keeping the last good DNS zone/);
    assert.throws(() => new WatchedZoneFile(join(dir, "missing.json")), /cannot read the DNS zone/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the listeners by image: apps, the cluster DNS, the host services by role", () => {
  const ports = (image: string, opts = {}) => {
    const c = realListenersForImage(image, opts);
    return c.ok ? c.listeners.map((l) => `${l.listener.protocol}/${l.listener.port}:${l.framing}`) : c.error;
  };
  assert.deepEqual(ports("nginx:1.27"), ["tcp/80:http"]);
  assert.deepEqual(ports("calico/yaobank-database:certification"), ["tcp/2379:http"]);
  const zone = () => parseZoneFile(readFileSync(fixture, "utf8"));
  assert.deepEqual(ports("registry.k8s.io/coredns/coredns:v1.11.1", { zone }), [
    "udp/53:dns-tcp",
    "tcp/53:dns-tcp",
  ]);
  assert.match(String(ports("registry.k8s.io/coredns/coredns:v1.11.1")), /--zone/);
  assert.deepEqual(ports("tortie/host-services:control-plane"), [
    "tcp/22:greeting",
    "tcp/6443:http",
    "tcp/10250:http",
  ]);
  assert.deepEqual(ports("tortie/host-services", { role: "external" }), ["tcp/22:greeting"]);
  assert.match(String(ports("tortie/host-services:boss")), /unknown host role/);
  assert.match(String(ports("busybox")), /^not supported yet: /);
});

test("serve-app's flags", () => {
  assert.deepEqual(parseServeAppArgs(["--image", "nginx", "--log=/tmp/x.log"]), {
    image: "nginx",
    log: "/tmp/x.log",
  });
  assert.match(String(parseServeAppArgs(["--log", "x"])), /--image is required/);
  assert.match(String(parseServeAppArgs(["--image"])), /--image needs a value/);
  assert.match(String(parseServeAppArgs(["--image", "nginx", "--port", "8"])), /unknown argument "--port"/);
});

test("imageHasApp: the images tortie runs an app for; a plain image runs nothing on either dataplane", () => {
  for (const image of ["nginx", "coredns/coredns:1.8.0", "tortie/host-services:worker"])
    assert.ok(imageHasApp(image), image);
  assert.equal(imageHasApp("busybox"), false);
});
