import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CliHarness, fixture } from "../cli/harness.ts";

const BIN = new URL("../../bin/tortie", import.meta.url).pathname;
const h = new CliHarness();
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  h.cleanup();
});

before(async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
});

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** `bin/tortie --state-dir D ARGS` as its own process. */
function tortie(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, "--state-dir", h.stateDir, ...args], {
    env: { ...process.env, TZ: "UTC", TORTIE_NOW: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function until(what: string, ok: () => boolean, timeoutMs = 60000): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const LISTENING_ANY =
  "tcpdump: listening on any, link-type LINUX_SLL (Linux cooked v1), capture size 262144 bytes\n";
const HEADER =
  /^\d\d:\d\d:\d\d\.\d{6} IP \(tos 0x0, ttl (\d+), id \d+, offset 0, flags \[DF\], proto TCP \(6\), length (\d+)\)$/;

test("seed 002: 'sudo tcpdump -nvi any tcp port 30180' on control prints host1's curl in both directions until Ctrl-C", async () => {
  const dump = tortie(["exec", "control", "--", "sudo", "tcpdump", "-nvi", "any", "tcp port 30180"]);
  await until("the listening line", () => dump.err().includes("listening on"));
  assert.equal(dump.err(), LISTENING_ANY);

  const curl = tortie(["exec", "host1", "--", "curl", "198.19.0.1:30180"]);
  assert.equal(await curl.exited, 0, curl.err());
  assert.match(curl.out(), /Welcome to YAO Bank/);

  // Nine segments, each printed as two lines (-v).
  await until("the exchange", () => dump.out().split("\n").length >= 18);
  await new Promise((r) => setTimeout(r, 300));
  dump.child.kill("SIGINT");
  assert.equal(await dump.exited, 0);
  const lines = dump.out().split("\n");
  // Interrupted, tcpdump ends the line it may have been printing: a blank line.
  assert.equal(lines.length, 20, dump.out());
  assert.deepEqual(lines.slice(18), ["", ""]);
  assert.equal(
    dump.err(),
    `${LISTENING_ANY}9 packets captured\n9 packets received by filter\n0 packets dropped by kernel\n`,
  );

  const packets: { ttl: number; len: number; body: string }[] = [];
  for (let i = 0; i < 18; i += 2) {
    const m = HEADER.exec(lines[i]!);
    assert.ok(m, lines[i]);
    assert.ok(lines[i + 1]!.startsWith("    "), lines[i + 1]);
    packets.push({ ttl: Number(m[1]), len: Number(m[2]), body: lines[i + 1]!.slice(4) });
  }
  const sport = /^198\.19\.15\.254\.(\d+) > 198\.19\.0\.1\.30180: /.exec(packets[0]!.body)?.[1];
  assert.ok(sport, packets[0]!.body);
  const fromHost1 = `198.19.15.254.${sport} > 198.19.0.1.30180: `;
  const toHost1 = `198.19.0.1.30180 > 198.19.15.254.${sport}: `;
  const cksum = "cksum 0x[0-9a-f]{4} \\(correct\\)";
  const ts = "TS val \\d+ ecr \\d+";
  const expect: [string, number, string][] = [
    // host1's packets arrive with its TTL; the replies leave control after two forwarding hops (node1, control).
    [
      fromHost1,
      64,
      `Flags \\[S\\], ${cksum}, seq (\\d+), win 64240, options \\[mss 1460,sackOK,TS val \\d+ ecr 0,nop,wscale 7\\], length 0`,
    ],
    [
      toHost1,
      62,
      `Flags \\[S\\.\\], ${cksum}, seq \\d+, ack (\\d+), win 64308, options \\[mss 1410,sackOK,${ts},nop,wscale 7\\], length 0`,
    ],
    [fromHost1, 64, `Flags \\[\\.\\], ${cksum}, ack 1, win 502, options \\[nop,nop,${ts}\\], length 0`],
    [
      fromHost1,
      64,
      `Flags \\[P\\.\\], ${cksum}, seq 1:(\\d+), ack 1, win 502, options \\[nop,nop,${ts}\\], length (\\d+)`,
    ],
    [
      toHost1,
      62,
      `Flags \\[P\\.\\], ${cksum}, seq 1:\\d+, ack \\d+, win 502, options \\[nop,nop,${ts}\\], length \\d+`,
    ],
    [fromHost1, 64, `Flags \\[\\.\\], ${cksum}, ack \\d+, win 502, options \\[nop,nop,${ts}\\], length 0`],
    [
      fromHost1,
      64,
      `Flags \\[F\\.\\], ${cksum}, seq \\d+, ack \\d+, win 502, options \\[nop,nop,${ts}\\], length 0`,
    ],
    [
      toHost1,
      62,
      `Flags \\[F\\.\\], ${cksum}, seq \\d+, ack \\d+, win 502, options \\[nop,nop,${ts}\\], length 0`,
    ],
    [fromHost1, 64, `Flags \\[\\.\\], ${cksum}, ack \\d+, win 502, options \\[nop,nop,${ts}\\], length 0`],
  ];
  expect.forEach(([prefix, ttl, rest], i) => {
    const p = packets[i]!;
    assert.equal(p.ttl, ttl, p.body);
    assert.ok(p.body.startsWith(prefix), p.body);
    assert.match(p.body.slice(prefix.length), new RegExp(`^${rest}$`));
  });
  // The SYN-ACK acknowledges the SYN's sequence number + 1; lengths add up.
  const isn = Number(/seq (\d+)/.exec(packets[0]!.body)![1]);
  assert.equal(Number(/ack (\d+)/.exec(packets[1]!.body)![1]), isn + 1);
  const request = /seq 1:(\d+), .* length (\d+)$/.exec(packets[3]!.body)!;
  assert.equal(Number(request[1]), 1 + Number(request[2]));
  assert.equal(packets[3]!.len, 52 + Number(request[2]));
  // The capture is gone once tcpdump has exited.
  assert.deepEqual(readdirSync(join(h.stateDir, "captures")), []);
});

test("tcpdump -c 3 stops by itself after three packets; without -v each is one line; -e shows the frames", async () => {
  const dump = tortie([
    "exec",
    "control",
    "--",
    "tcpdump",
    "-nne",
    "-i",
    "ens4",
    "-c",
    "3",
    "dst port 30180",
  ]);
  await until("the listening line", () => dump.err().includes("listening on"));
  assert.equal(
    dump.err(),
    "tcpdump: verbose output suppressed, use -v or -vv for full protocol decode\n" +
      "tcpdump: listening on ens4, link-type EN10MB (Ethernet), capture size 262144 bytes\n",
  );
  const curl = tortie(["exec", "host1", "--", "curl", "-s", "198.19.0.1:30180"]);
  assert.equal(await curl.exited, 0, curl.err());
  assert.equal(await dump.exited, 0);
  const lines = dump.out().split("\n");
  assert.equal(lines.length, 4, dump.out());
  assert.equal(lines[3], "");
  // host1's MAC to control's, on the underlay; with -e, ip_print does not say "IP".
  const frame =
    /^\d\d:\d\d:\d\d\.\d{6} ((?:[0-9a-f]{2}:){5}[0-9a-f]{2}) > ((?:[0-9a-f]{2}:){5}[0-9a-f]{2}), ethertype IPv4 \(0x0800\), length 74: 198\.19\.15\.254\.\d+ > 198\.19\.0\.1\.30180: Flags \[S\], seq \d+, win 64240, options \[mss 1460,sackOK,TS val \d+ ecr 0,nop,wscale 7\], length 0$/.exec(
      lines[0]!,
    );
  assert.ok(frame, lines[0]);
  const controlLinks = await h.run("exec control -- ip link");
  assert.ok(controlLinks.out.includes(`link/ether ${frame[2]} `), controlLinks.out);
  assert.notEqual(frame[1], frame[2]);
  // The filter hides the SYN-ACK, so (as in the seed's DSR capture) the first ACK shows absolute numbers and
  // relative ones start from it.
  assert.match(lines[1]!, / > 198\.19\.0\.1\.30180: Flags \[\.\], ack \d{2,}, win 502, /);
  assert.match(
    lines[2]!,
    / > 198\.19\.0\.1\.30180: Flags \[P\.\], seq 0:\d+, ack 1, win 502, .*, length \d+$/,
  );
  assert.match(
    dump.err(),
    /3 packets captured\n3 packets received by filter\n0 packets dropped by kernel\n$/,
  );
});

test("bad filters, interfaces and options fail at once, as tcpdump does", async () => {
  const bad = await h.run(["exec", "control", "--", "tcpdump", "-nvi", "any", "tcp prt 30180"]);
  assert.deepEqual(bad, {
    code: 1,
    out: "",
    err: "tcpdump: syntax error in filter expression: syntax error\n",
  });
  const port = await h.run(["exec", "control", "--", "tcpdump", "-nni", "any", "port", "70000"]);
  assert.equal(port.err, "tcpdump: illegal port number 70000 > 65535\n");
  const dev = await h.run(["exec", "control", "--", "tcpdump", "-nvi", "eth9"]);
  assert.deepEqual(dev, {
    code: 1,
    out: "",
    err: "tcpdump: eth9: No such device exists\n(SIOCGIFHWADDR: No such device)\n",
  });
  const write = await h.run(["exec", "control", "--", "tcpdump", "-nw", "/tmp/x.pcap"]);
  assert.deepEqual(write, { code: 1, out: "", err: "not supported yet: tcpdump -w on the sim dataplane\n" });
  const opt = await h.run(["exec", "control", "--", "tcpdump", "-nQQ"]);
  assert.equal(opt.code, 1);
  // Nothing was registered by any of them.
  assert.ok(
    !existsSync(join(h.stateDir, "captures")) || readdirSync(join(h.stateDir, "captures")).length === 0,
  );
});

test("a capture whose tcpdump died is ignored and removed by the next command", async () => {
  const gone = spawn(process.execPath, ["-e", ""]);
  const pid = gone.pid!;
  await new Promise((r) => gone.on("exit", r));
  const dir = join(h.stateDir, "captures");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${pid}.json`), JSON.stringify({ pid, host: "control", iface: "any", filter: "" }));
  writeFileSync(join(dir, `${pid}.pkts`), "");
  const r = await h.run("exec host1 -- curl -s 198.19.0.1:30180");
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readdirSync(dir), []);
});
