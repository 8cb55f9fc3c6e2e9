import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  answerDnsQuery,
  DNS_TYPES,
  type DnsZone,
  decodeDnsMessage,
  dnsQueryMessage,
  encodeDnsMessage,
  RCODE,
} from "../../src/apps/index.ts";
import { controlKinds } from "../../src/control/index.ts";
import { assertGolden, CliHarness } from "../cli/harness.ts";
import { DEFAULT_APP_POLICY, DEFAULT_APP_POLICY_WITH_DNS } from "../policy/seed-manifests.ts";

const zone: DnsZone = {
  domain: "cluster.local.",
  serial: 1767323045,
  records: new Map([
    [
      "database.yaobank.svc.cluster.local.",
      [{ name: "database.yaobank.svc.cluster.local.", type: "A", ttl: 5, data: "198.19.33.44" }],
    ],
    [
      "ext.yaobank.svc.cluster.local.",
      [
        {
          name: "ext.yaobank.svc.cluster.local.",
          type: "CNAME",
          ttl: 5,
          data: "database.yaobank.svc.cluster.local.",
        },
      ],
    ],
    [
      "_http._tcp.database.yaobank.svc.cluster.local.",
      [
        {
          name: "_http._tcp.database.yaobank.svc.cluster.local.",
          type: "SRV",
          ttl: 5,
          data: "0 100 2379 database.yaobank.svc.cluster.local.",
        },
      ],
    ],
  ]),
};

function ask(name: string, type: number) {
  return decodeDnsMessage(
    encodeDnsMessage(
      answerDnsQuery(zone, decodeDnsMessage(encodeDnsMessage(dnsQueryMessage(7, name, type)))),
    ),
  );
}

test("DNS wire format: CoreDNS's answers for names, CNAMEs, SRV, NXDOMAIN with SOA, NODATA, and SERVFAIL outside the zone", () => {
  const a = ask("database.yaobank.svc.cluster.local", DNS_TYPES.A);
  assert.equal(a.id, 7);
  assert.ok(a.response && a.authoritative && a.recursionDesired && !a.recursionAvailable);
  assert.deepEqual(
    a.answers.map((r) => r.data),
    ["198.19.33.44"],
  );
  const cname = ask("ext.yaobank.svc.cluster.local", DNS_TYPES.A);
  assert.deepEqual(
    cname.answers.map((r) => [r.type, r.data]),
    [
      [DNS_TYPES.CNAME, "database.yaobank.svc.cluster.local."],
      [DNS_TYPES.A, "198.19.33.44"],
    ],
  );
  assert.equal(
    ask("_http._tcp.database.yaobank.svc.cluster.local", DNS_TYPES.SRV).answers[0]!.data,
    "0 100 2379 database.yaobank.svc.cluster.local.",
  );
  const nx = ask("nope.yaobank.svc.cluster.local", DNS_TYPES.A);
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.equal(
    nx.authority[0]!.data,
    "ns.dns.cluster.local. hostmaster.cluster.local. 1767323045 7200 1800 86400 30",
  );
  const nodata = ask("database.yaobank.svc.cluster.local", DNS_TYPES.AAAA);
  assert.equal(nodata.rcode, RCODE.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority.length, 1);
  // An empty non-terminal (svc.cluster.local has names below it) is NODATA, not NXDOMAIN.
  assert.equal(ask("yaobank.svc.cluster.local", DNS_TYPES.A).rcode, RCODE.NOERROR);
  assert.equal(ask("example.com", DNS_TYPES.A).rcode, RCODE.SERVFAIL);
  // AAAA data travels as 16 bytes and comes back in RFC 5952 form, as dig and nslookup print it.
  const v6 = { ...dnsQueryMessage(9, "x.cluster.local", DNS_TYPES.AAAA), response: true };
  v6.answers = [
    { name: "x.cluster.local.", type: DNS_TYPES.AAAA, class: 1, ttl: 5, data: "fd00:10:96:0:0:0:0:a" },
  ];
  assert.equal(decodeDnsMessage(encodeDnsMessage(v6)).answers[0]!.data, "fd00:10:96::a");
  v6.answers[0]!.data = "10.0.0.1";
  assert.throws(() => encodeDnsMessage(v6), /not an IPv6 address/);
  // Truncated and looping messages are refused, not crashed on.
  assert.throws(() => decodeDnsMessage("\u0000\u0001\u0001"), /truncated/);
  const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]).toString("latin1");
  assert.throws(() => decodeDnsMessage(loop), /loop/);
});

const dig = spawnSync("dig", ["-v"], { encoding: "utf8" });
test("the real dig and nslookup read the server's messages", {
  skip: dig.error ? "dig is not installed (Debian: dnsutils)" : false,
}, async () => {
  const server = dgram.createSocket("udp4");
  server.on("message", (msg, rinfo) => {
    const reply = encodeDnsMessage(answerDnsQuery(zone, decodeDnsMessage(msg.toString("latin1"))));
    server.send(Buffer.from(reply, "latin1"), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
  const port = String(server.address().port);
  try {
    const run = (cmd: string, args: string[]) =>
      new Promise<string>((resolve) => {
        const child = spawnTool(cmd, args);
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d));
        child.on("close", () => resolve(out));
      });
    const digShort = (...args: string[]) =>
      run("dig", ["@127.0.0.1", "-p", port, "+short", "+tries=1", "+time=2", ...args]);
    const short = await digShort("ext.yaobank.svc.cluster.local");
    assert.equal(short, "database.yaobank.svc.cluster.local.\n198.19.33.44\n");
    const srv = await digShort("-t", "srv", "_http._tcp.database.yaobank.svc.cluster.local");
    assert.equal(srv, "0 100 2379 database.yaobank.svc.cluster.local.\n");
    const ns = await run("nslookup", [
      `-port=${port}`,
      "-timeout=2",
      "nope.yaobank.svc.cluster.local",
      "127.0.0.1",
    ]);
    assert.match(ns, /\*\* server can't find nope\.yaobank\.svc\.cluster\.local: NXDOMAIN/);
  } finally {
    server.close();
  }
});

function spawnTool(cmd: string, args: string[]) {
  return spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
}

const h = new CliHarness();
after(() => h.cleanup());

test("nslookup and dig in a pod go through the cluster DNS service, NAT and policy", async () => {
  assert.equal((await h.run("up --app yaobank")).code, 0);
  const customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
  const inPod = (line: string) => h.run(`kubectl exec ${customer} -n yaobank -- ${line}`);
  const found = await inPod("nslookup database");
  assert.equal(found.code, 0, found.err);
  assertGolden("sim-nslookup-database.txt", found.out);
  const missing = await inPod("nslookup nope");
  assert.equal(missing.code, 1);
  assert.match(missing.out, /\*\* server can't find nope: SERVFAIL\n\n$/);
  const digged = await inPod("dig database.yaobank.svc.cluster.local");
  assert.equal(digged.code, 0);
  assertGolden("sim-dig-database.txt", digged.out);
  assert.equal((await inPod("dig +short -x 198.19.32.10")).out, "kube-dns.kube-system.svc.cluster.local.\n");
  await compareWithRealDig(inPod);
  assert.equal((await inPod("dig +search +short database")).out, "198.19.33.44\n");
  // A bad port is refused as bind9's tools refuse it: dig stops, nslookup says so and keeps port 53.
  const badDig = await inPod("dig -p abc database");
  assert.deepEqual([badDig.code, badDig.out], [1, "invalid port number 'abc': not a valid number\n"]);
  assert.match(badDig.err, /dig: Couldn't parse port number/);
  const badNs = await inPod("nslookup -port=70000 database");
  assert.equal(badNs.code, 0, badNs.err);
  assert.match(badNs.out, /^invalid port '70000': out of range\n/);
  assert.match(badNs.out, /\nAddress:\t\S+#53\n/);
  // ping's count is a positive number, as iputils checks it.
  const badPing = await inPod("ping -c 0 198.19.33.44");
  assert.equal(badPing.code, 1);
  assert.match(badPing.err, /ping: invalid argument: '0': out of range: 1 <= value <= 9223372036854775807/);
  // The DNS packets cross the cluster IP's DNAT: kube-dns's UDP rule counts them on node1.
  const nat = await h.run("exec node1 -- iptables -v --numeric --table nat --list KUBE-SERVICES");
  const dnsRule = nat.out
    .split("\n")
    .find((l) => l.includes("kube-dns:dns cluster IP") && l.includes("KUBE-SVC"));
  assert.ok(Number(dnsRule?.trim().split(/\s+/)[0]) > 0, nat.out);
  // seed 002's default-app-policy denies all egress, DNS included: lookups time out as in a real pod; its
  // second version allows UDP 53 to kube-dns and lookups work again.
  assert.equal((await h.run("calicoctl apply -f -", DEFAULT_APP_POLICY)).code, 0);
  const denied = await inPod("nslookup database");
  assert.equal(denied.code, 1);
  assert.equal(denied.out, ";; connection timed out; no servers could be reached\n\n");
  // curl's --connect-timeout covers the lookup: the resolver's retries stop at 3 s of virtual time, not 10.
  const clock = () => JSON.parse(readFileSync(join(h.stateDir, "sim-state.json"), "utf8")).now as number;
  const before = clock();
  const curl = await inPod("curl --connect-timeout 3 http://database:2379/");
  assert.equal(
    curl.err,
    "curl: (28) Resolving timed out after 3000 milliseconds\ncommand terminated with exit code 28\n",
  );
  assert.equal(clock() - before, 3000);
  assert.equal((await h.run("calicoctl apply -f -", DEFAULT_APP_POLICY_WITH_DNS)).code, 0);
  assert.equal((await inPod("nslookup database")).code, 0);
  // That policy allows UDP 53 only: dig +tcp's SYNs are dropped, and dig 9.18 gives up after 3 tries of 10 s
  // each, printing what the real dig prints against a port whose SYNs an iptables DROP rule eats.
  const beforeTcp = clock();
  const tcpDenied = await inPod("dig +tcp database.yaobank.svc.cluster.local");
  assert.equal(tcpDenied.code, 9);
  assert.equal(
    tcpDenied.out,
    ";; Connection to 198.19.32.10#53(198.19.32.10) for database.yaobank.svc.cluster.local failed: timed out.\n;; no servers could be reached\n".repeat(
      3,
    ),
  );
  assert.equal(clock() - beforeTcp, 30_000);
});

/** A zone on loopback UDP and TCP (same port), answering as the sim's CoreDNS does. */
async function serveZoneOnLoopback(served: DnsZone) {
  const answer = (query: Buffer) =>
    Buffer.from(
      encodeDnsMessage(answerDnsQuery(served, decodeDnsMessage(query.toString("latin1")))),
      "latin1",
    );
  const udp = dgram.createSocket("udp4");
  udp.on("message", (msg, rinfo) => udp.send(answer(msg), rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
  const port = udp.address().port;
  const tcp = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const reply = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([prefix, reply]));
      }
    });
  });
  await new Promise<void>((resolve) => tcp.listen(port, "127.0.0.1", resolve));
  return {
    port,
    close: () => {
      udp.close();
      tcp.close();
    },
  };
}

/** dig's output without what differs between two runs: the command line, server, id, timing. */
function digComparable(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^(; <<>> DiG|; \(1 server found\)|;; Query time:|;; WHEN:)/.test(l))
    .map((l) => l.replace(/, id: \d+$/, ", id: X").replace(/^;; SERVER: \S+/, ";; SERVER: X"))
    .join("\n");
}

/**
 * The sim's dig against the cluster DNS and the real dig 9.18 against the same records on loopback print the
 * same: the type keyword after the name (ANY, which the real dig sends over TCP), the columns after a
 * 39-character name (a tab, since the column after it is a tab stop), and `+tcp`.
 */
async function compareWithRealDig(
  inPod: (line: string) => Promise<{ code: number; out: string; err: string }>,
) {
  if (dig.error) {
    console.log("# skipped the real dig comparison: dig is not installed (Debian: dnsutils)");
    return;
  }
  const soa = /^cluster\.local\.\s+30\s+IN\s+SOA\s+\S+ \S+ (\d+) /m;
  const anyInSim = await inPod("dig kube-dns.kube-system.svc.cluster.local ANY");
  assert.equal(anyInSim.code, 0, anyInSim.err);
  const served = await serveZoneOnLoopback({
    domain: "cluster.local.",
    serial: Number(soa.exec(anyInSim.out)?.[1]),
    records: new Map([
      [
        "kube-dns.kube-system.svc.cluster.local.",
        [{ name: "kube-dns.kube-system.svc.cluster.local.", type: "A", ttl: 5, data: "198.19.32.10" }],
      ],
    ]),
  });
  try {
    const real = (...args: string[]) =>
      new Promise<string>((resolve) => {
        const child = spawnTool("dig", [
          "@127.0.0.1",
          "-p",
          String(served.port),
          "+noedns",
          "+tries=1",
          ...args,
        ]);
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d));
        child.on("close", () => resolve(out));
      });
    const name = "kube-dns.kube-system.svc.cluster.local";
    for (const args of [[name, "ANY"], [name], ["+tcp", name], ["A", name, "IN"]]) {
      const sim = await inPod(`dig ${args.join(" ")}`);
      assert.equal(sim.code, 0, sim.err);
      assert.equal(digComparable(sim.out), digComparable(await real(...args)), `dig ${args.join(" ")}`);
    }
    assert.match(anyInSim.out, /\(TCP\)\n/);
    assert.match(
      (await inPod(`dig ${name}`)).out,
      /\n;kube-dns\.kube-system\.svc\.cluster\.local\.\tIN A\n[\s\S]*\nkube-dns\.kube-system\.svc\.cluster\.local\.\t5 IN A\t198\.19\.32\.10\n/,
    );
  } finally {
    served.close();
  }
}
