/**
 * Seed 002's "Kube-Proxy Cluster IP Implementation", "Kube-Proxy NodePort Implementation" and "NodePort without
 * source IP preservation", typed line by line on the seed's lab (`tortie up --app yaobank`): `kubectl` lines as
 * `tortie kubectl …`, the iptables lines on node1 as `tortie exec node1 -- sudo …`, and the `| grep` ones through the
 * shell on node1, as the user types them. Chain names are kube-proxy's hashes, checked against the seed's own
 * (KUBE-SVC-* of the service port, KUBE-SEP-* of the service port and endpoint); addresses and counters by pattern.
 * Known difference kept: the seed's older kube-proxy put KUBE-MARK-MASQ rules in KUBE-SERVICES and jumped from
 * KUBE-NODEPORTS straight to KUBE-SVC-*; today's kube-proxy marks in KUBE-SVC-* and goes through KUBE-EXT-*.
 * The seed's tcpdump snoop "without DSR" runs tcpdump as its own process (it prints until Ctrl-C, as the seed's does);
 * test/sim/tcpdump.test.ts checks every field of its lines.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { startTcpdump } from "./tcpdump-process.ts";

const h = new CliHarness();
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  h.cleanup();
});
let customer = "";

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

/** kube-proxy's chain-name hash: base32(sha256(s)) cut to 16 characters. */
function kubeHash(s: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of createHash("sha256").update(s).digest()) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.slice(0, 16);
}
const sepChain = (svcPort: string, endpoint: string) => `KUBE-SEP-${kubeHash(`${svcPort}tcp${endpoint}`)}`;

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const HEADER = " pkts bytes target     prot opt in     out     source               destination         \n";
const list = (chain: string) => `exec node1 -- sudo iptables -v --numeric --table nat --list ${chain}`;

test("kube-proxy's chain names are the seed's: the hash of the service port (and endpoint)", () => {
  assert.equal(`KUBE-SVC-${kubeHash("yaobank/summary:httptcp")}`, "KUBE-SVC-OIQIZJVJK6E34BR4");
  assert.equal(`KUBE-SVC-${kubeHash("yaobank/customer:httptcp")}`, "KUBE-SVC-PX5FENG4GZJTCELT");
  assert.equal(sepChain("yaobank/summary:http", "198.19.21.1:80"), "KUBE-SEP-Q6MJJR7VDMWJNZBE");
  assert.equal(sepChain("yaobank/summary:http", "198.19.22.131:80"), "KUBE-SEP-MR2OHPODPKVEKHD4");
  assert.equal(sepChain("yaobank/customer:http", "198.19.22.132:80"), "KUBE-SEP-UBXKSM3V2OSEF4IL");
});

test("Cluster IP: summary's endpoints, KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP on node1", async () => {
  const eps = await ok("kubectl get endpoints -n yaobank summary");
  const m =
    /^NAME {6}ENDPOINTS +AGE\nsummary {3}(198\.19\.\d+\.\d+:80),(198\.19\.\d+\.\d+:80) {3}\S+\n$/.exec(eps);
  assert.ok(m, eps);
  const [head, row] = eps.split("\n");
  assert.equal(head!.indexOf("AGE"), row!.search(/\S+$/), eps);
  const endpoints = [m[1]!, m[2]!];

  const services = await ok(list("KUBE-SERVICES"));
  assert.ok(services.startsWith(`Chain KUBE-SERVICES (2 references)\n${HEADER}`), services);
  const rule = (target: string, prot: string, dst: string, comment: string, dpt: number) =>
    new RegExp(
      `^ +\\d+ +\\d+ ${target} {2}${prot} {2}-- {2}\\* {6}\\* {7}0\\.0\\.0\\.0/0 {12}${dst} +/\\* ${esc(comment)} \\*/ ${prot} dpt:${dpt}$`,
      "m",
    );
  // The seed's chains for the services both clusters have (k3s's traefik/metrics-server and typha are not in tortie's lab).
  assert.match(
    services,
    rule(
      "KUBE-SVC-NPX46M4PTMTKRN6Y",
      "tcp",
      "198\\.19\\.32\\.1 ",
      "default/kubernetes:https cluster IP",
      443,
    ),
  );
  assert.match(
    services,
    rule("KUBE-SVC-TCOU7JCQXEZGVUNU", "udp", "198\\.19\\.32\\.10", "kube-system/kube-dns:dns cluster IP", 53),
  );
  assert.match(
    services,
    rule(
      "KUBE-SVC-ERIFXISQEP7F7OF4",
      "tcp",
      "198\\.19\\.32\\.10",
      "kube-system/kube-dns:dns-tcp cluster IP",
      53,
    ),
  );
  assert.match(
    services,
    rule(
      "KUBE-SVC-JD5MR3NA4I4DYORP",
      "tcp",
      "198\\.19\\.32\\.10",
      "kube-system/kube-dns:metrics cluster IP",
      9153,
    ),
  );
  assert.match(
    services,
    rule(
      "KUBE-SVC-AE2X4VPDA5SRYCA6",
      "tcp",
      "198\\.19\\.\\d+\\.\\d+",
      "yaobank/database:http cluster IP",
      2379,
    ),
  );
  assert.match(
    services,
    rule(
      "KUBE-SVC-PX5FENG4GZJTCELT",
      "tcp",
      "198\\.19\\.\\d+\\.\\d+",
      "yaobank/customer:http cluster IP",
      80,
    ),
  );
  const summaryIp = rule(
    "KUBE-SVC-OIQIZJVJK6E34BR4",
    "tcp",
    "(198\\.19\\.\\d+\\.\\d+)",
    "yaobank/summary:http cluster IP",
    80,
  ).exec(services)?.[1];
  assert.ok(summaryIp, services);
  assert.match(
    services,
    /\n +\d+ +\d+ KUBE-NODEPORTS {2}all {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {12}\/\* kubernetes service nodeports; NOTE: this must be the last rule in this chain \*\/ ADDRTYPE match dst-type LOCAL\n$/,
  );

  // `| grep -E summary` and `| grep KUBE-NODEPORTS`, typed in a shell on node1.
  const grepped = await h.run(
    "shell node1",
    [
      "sudo iptables -v --numeric --table nat --list KUBE-SERVICES | grep -E summary",
      "sudo iptables -v --numeric --table nat --list KUBE-SERVICES | grep KUBE-NODEPORTS",
    ].join("\n"),
  );
  assert.equal(grepped.err, "");
  const lines = grepped.out.split("\n");
  assert.equal(lines.length, 3, grepped.out);
  assert.match(
    lines[0]!,
    /KUBE-SVC-OIQIZJVJK6E34BR4 .*\/\* yaobank\/summary:http cluster IP \*\/ tcp dpt:80$/,
  );
  assert.match(lines[1]!, /^ +\d+ +\d+ KUBE-NODEPORTS {2}all .* ADDRTYPE match dst-type LOCAL$/);

  const svc = await ok(list("KUBE-SVC-OIQIZJVJK6E34BR4"));
  const [first, second] = endpoints.map((e) => [sepChain("yaobank/summary:http", e), e] as const);
  assert.equal(
    svc.replace(/^ +\d+ +\d+ /gm, "    0     0 "),
    [
      "Chain KUBE-SVC-OIQIZJVJK6E34BR4 (1 references)",
      HEADER.slice(0, -1),
      `    0     0 KUBE-MARK-MASQ  tcp  --  *      *      !198.19.16.0/20       ${summaryIp!.padEnd(20)} /* yaobank/summary:http cluster IP */ tcp dpt:80`,
      `    0     0 ${first![0]}  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* yaobank/summary:http -> ${first![1]} */ statistic mode random probability 0.50000000000`,
      `    0     0 ${second![0]}  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* yaobank/summary:http -> ${second![1]} */`,
      "",
    ].join("\n"),
  );

  for (const [chain, endpoint] of [first!, second!]) {
    const ip = endpoint.split(":")[0]!;
    assert.equal(
      (await ok(list(chain))).replace(/^ +\d+ +\d+ /gm, "    0     0 "),
      [
        `Chain ${chain} (1 references)`,
        HEADER.slice(0, -1),
        `    0     0 KUBE-MARK-MASQ  all  --  *      *       ${ip.padEnd(20)} 0.0.0.0/0            /* yaobank/summary:http */`,
        `    0     0 DNAT       tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            /* yaobank/summary:http */ tcp to:${endpoint}`,
        "",
      ].join("\n"),
    );
  }
});

test("NodePort: customer's endpoint, KUBE-NODEPORTS -> KUBE-EXT -> KUBE-SVC -> KUBE-SEP on node1", async () => {
  const eps = await ok("kubectl get endpoints -n yaobank customer");
  const endpoint = /^NAME {7}ENDPOINTS +AGE\ncustomer {3}(198\.19\.\d+\.\d+:80) {3}\S+\n$/.exec(eps)?.[1];
  assert.ok(endpoint, eps);

  const nodePorts = await ok(list("KUBE-NODEPORTS"));
  assert.ok(nodePorts.startsWith(`Chain KUBE-NODEPORTS (1 references)\n${HEADER}`), nodePorts);
  assert.match(
    nodePorts,
    /^ +\d+ +\d+ KUBE-EXT-PX5FENG4GZJTCELT {2}tcp {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {12}\/\* yaobank\/customer:http \*\/ tcp dpt:30180$/m,
  );
  const ext = await ok(list("KUBE-EXT-PX5FENG4GZJTCELT"));
  assert.match(
    ext,
    /KUBE-MARK-MASQ {2}all .*\/\* masquerade traffic for yaobank\/customer:http external destinations \*\/\n/,
  );
  assert.match(
    ext,
    /KUBE-SVC-PX5FENG4GZJTCELT {2}all {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 +\n$/,
  );

  const svc = await ok(list("KUBE-SVC-PX5FENG4GZJTCELT"));
  const sep = sepChain("yaobank/customer:http", endpoint);
  assert.ok(svc.startsWith(`Chain KUBE-SVC-PX5FENG4GZJTCELT (2 references)\n${HEADER}`), svc);
  assert.match(
    svc,
    new RegExp(
      `\\n +\\d+ +\\d+ ${sep} {2}all {2}-- {2}\\* {6}\\* {7}0\\.0\\.0\\.0/0 {12}0\\.0\\.0\\.0/0 {12}/\\* yaobank/customer:http -> ${esc(endpoint)} \\*/\\n$`,
    ),
  );
  assert.match(
    await ok(list(sep)),
    new RegExp(
      `DNAT {7}tcp {2}-- {2}\\* {6}\\* {7}0\\.0\\.0\\.0/0 {12}0\\.0\\.0\\.0/0 {12}/\\* yaobank/customer:http \\*/ tcp to:${esc(endpoint)}\\n$`,
    ),
  );
});

test("NodePort without source IP preservation: host1's page through control, customer logs control's address", async () => {
  const counter = async () => {
    const l = await ok("exec control -- sudo iptables -v --numeric --table nat --list KUBE-NODEPORTS");
    return Number(/^ +(\d+) +\d+ KUBE-EXT-PX5FENG4GZJTCELT .* 0\.0\.0\.0\/0 +\/\*/m.exec(l)![1]);
  };
  const before = await counter();
  const page = await ok("exec host1 -- curl 198.19.0.1:30180");
  assert.match(
    page,
    /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389\.45<\/h2>/,
  );
  assert.equal(await counter(), before + 1);
  const logs = await ok(`kubectl logs -n yaobank ${customer}`);
  assert.match(
    logs,
    /^198\.19\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4} \d\d:\d\d:\d\d\] "GET \/ HTTP\/1\.1" 200 -\n$/,
  );
  // Through node2's node port the pod sees node2 instead; never host1 (198.19.15.254).
  await ok("exec host1 -- curl 198.19.0.3:30180");
  const again = (await ok(`kubectl logs -n yaobank ${customer}`)).split("\n");
  assert.match(again[1]!, /^198\.19\.0\.3 - - \[.*\] "GET \/ HTTP\/1\.1" 200 -$/);
});

test("Snoop traffic without DSR: `sudo tcpdump -nvi any 'tcp port 30180'` on control while host1 curls the node port", async () => {
  const dump = await startTcpdump(
    h.stateDir,
    "control",
    ["sudo", "tcpdump", "-nvi", "any", "tcp port 30180"],
    children,
  );
  const listening =
    "tcpdump: listening on any, link-type LINUX_SLL (Linux cooked v1), capture size 262144 bytes\n";
  assert.equal(dump.err(), listening);

  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), /Welcome to YAO Bank/);
  await dump.until("the exchange", () => dump.out().split("\n").length > 18);
  assert.equal(await dump.stop(), 0);
  assert.equal(
    dump.err(),
    `${listening}9 packets captured\n9 packets received by filter\n0 packets dropped by kernel\n`,
  );

  // As the seed shows: each packet a header line and an indented line; both directions, host1 <-> control's node port.
  const out = dump.out();
  const lines = out.split("\n").slice(0, 18);
  const sport = /^ {4}198\.19\.15\.254\.(\d+) > 198\.19\.0\.1\.30180: Flags \[S\], /.exec(lines[1]!)?.[1];
  assert.ok(sport, out);
  for (let i = 0; i < 18; i += 2) {
    assert.match(
      lines[i]!,
      /^\d\d:\d\d:\d\d\.\d{6} IP \(tos 0x0, ttl (64|62), id \d+, offset 0, flags \[DF\], proto TCP \(6\), length \d+\)$/,
    );
    const fromHost1 = lines[i + 1]!.startsWith(`    198.19.15.254.${sport} > 198.19.0.1.30180: Flags [`);
    const toHost1 = lines[i + 1]!.startsWith(`    198.19.0.1.30180 > 198.19.15.254.${sport}: Flags [`);
    assert.ok(fromHost1 || toHost1, lines[i + 1]);
    // host1's packets arrive with TTL 64; the replies, routed back through node1 and control, with 62.
    assert.match(lines[i]!, fromHost1 ? /ttl 64,/ : /ttl 62,/);
  }
  assert.match(
    lines[3]!,
    /^ {4}198\.19\.0\.1\.30180 > 198\.19\.15\.254\.\d+: Flags \[S\.\], cksum 0x[0-9a-f]{4} \(correct\), seq \d+, ack \d+, /,
  );
});
