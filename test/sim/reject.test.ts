import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runSimCommand, type SimCluster } from "../../src/agent/index.ts";
import { formatIpv4, ping, tcpExchange, udpExchange } from "../../src/dataplane/sim/index.ts";
import { CliHarness, fixture } from "../cli/harness.ts";
import { ip, MiniNet } from "./mini-net.ts";

const REQUEST = "GET / HTTP/1.1\r\n\r\n";

test("REJECT at the server: the ICMP error is routed back, un-DNATed by the router, and the client is refused", () => {
  const m = new MiniNet();
  m.rules(m.server, "*filter\n-A INPUT -p tcp -m tcp --dport 80 -j REJECT\nCOMMIT\n");
  const r = tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, REQUEST);
  assert.deepEqual(r, {
    ok: false,
    error: "refused",
    elapsedMs: 0,
    from: ip("10.0.0.254"),
    refusedWith: "icmp-port-unreachable",
  });
  // What the client's interface saw: its SYN, then the error as if from the address it connected to, quoting
  // the SYN as the client sent it (the router reversed its DNAT in the quoted header too).
  const lines = m.clientCapture.join("\n").split("\n");
  assert.equal(lines.length, 6, m.clientCapture.join("\n"));
  assert.match(
    lines[1]!,
    /^ {4}10\.0\.0\.1\.32768 > 10\.0\.0\.254\.8080: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/,
  );
  assert.match(
    lines[2]!,
    /IP \(tos 0xc0, ttl 63, id \d+, offset 0, flags \[none\], proto ICMP \(1\), length 88\)$/,
  );
  assert.equal(lines[3], "    10.0.0.254 > 10.0.0.1: ICMP 10.0.0.254 tcp port 8080 unreachable, length 68");
  // The quoted SYN left the router with TTL 63.
  assert.match(
    lines[4]!,
    /^\tIP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[DF\], proto TCP \(6\), length 60\)$/,
  );
  assert.match(
    lines[5]!,
    /^ {4}10\.0\.0\.1\.32768 > 10\.0\.0\.254\.8080: Flags \[S\], cksum 0x[0-9a-f]{4} \(correct\)/,
  );
  // The REJECTed connection was never confirmed: nothing left in the server's or router's table but the
  // router's DNAT entry for the SYN it forwarded.
  assert.equal(m.server.conntrack.list(m.net.now).length, 0);
});

test("REJECT in the router's FORWARD chain: the router answers, from its address towards the client", () => {
  const m = new MiniNet();
  m.rules(
    m.router,
    "*filter\n-A FORWARD -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-admin-prohibited\nCOMMIT\n",
  );
  const r = tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, REQUEST);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error, "refused");
  assert.equal(!r.ok && r.from, ip("10.0.0.254"));
  assert.equal(
    m.clientCapture[1]!.split("\n")[1],
    "    10.0.0.254 > 10.0.0.1: ICMP host 10.0.0.254 unreachable - admin prohibited filter, length 68",
  );
  // Only the SYN and the error crossed the client's link; the SYN never reached the server.
  assert.equal(m.clientCapture.length, 2);
});

test("--reject-with tcp-reset: the RST comes back through the router's NAT, from the address the client used", () => {
  const m = new MiniNet();
  m.rules(m.server, "*filter\n-A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset\nCOMMIT\n");
  const r = tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, REQUEST);
  assert.equal(!r.ok && r.refusedWith, "tcp-reset");
  const rst = m.clientCapture[1]!.split("\n");
  assert.match(rst[0]!, /ttl 63, id 0, offset 0, flags \[DF\], proto TCP \(6\), length 40\)$/);
  assert.match(
    rst[1]!,
    /^ {4}10\.0\.0\.254\.8080 > 10\.0\.0\.1\.32768: Flags \[R\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 0, ack \d+, win 0, length 0$/,
  );
});

test("a closed port answers a SYN with a RST, and a closed UDP port with an ICMP port unreachable", () => {
  const m = new MiniNet();
  const tcp = tcpExchange(m.net, m.client, ip("10.1.0.1"), 81, REQUEST);
  assert.deepEqual(tcp, { ok: false, error: "refused", elapsedMs: 0 });
  assert.match(
    m.clientCapture[1]!,
    /10\.1\.0\.1\.81 > 10\.0\.0\.1\.\d+: Flags \[R\.\], cksum 0x[0-9a-f]{4} \(correct\), seq 0, ack \d+, win 0, length 0$/,
  );
  const udp = udpExchange(m.net, m.client, ip("10.1.0.1"), 54, "hello");
  assert.equal(!udp.ok && udp.error, "refused");
  assert.equal(!udp.ok && udp.from, ip("10.1.0.1"));
  assert.match(
    m.clientCapture.at(-1)!,
    /10\.1\.0\.1 > 10\.0\.0\.1: ICMP 10\.1\.0\.1 udp port 54 unreachable, length 41/,
  );
});

test("an error that cannot get back is no answer at all: the connection times out", () => {
  const m = new MiniNet();
  m.rules(m.server, "*filter\n-A INPUT -p tcp -m tcp --dport 80 -j REJECT\nCOMMIT\n");
  // The client's firewall drops what is only RELATED (Felix and most firewalls accept it; this one does not).
  m.rules(m.client, "*filter\n-A INPUT -m conntrack --ctstate RELATED -j DROP\nCOMMIT\n");
  const r = tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, REQUEST, { connectTimeoutMs: 3000 });
  assert.deepEqual(r, { ok: false, error: "timeout", elapsedMs: 3000 });
  // Two SYNs (0 s and 1 s), each answered with an error the client's INPUT dropped.
  assert.equal(m.clientCapture.filter((l) => l.includes("unreachable")).length, 2);
  const counters = m.client.netfilter.list("filter", {
    verbose: true,
    numeric: true,
    exact: true,
    lineNumbers: false,
  });
  assert.match(counters, /^ +2 +\d+ DROP/m);
});

test("ping through a REJECT: 'From X icmp_seq=1 Destination Port Unreachable'", () => {
  const m = new MiniNet();
  m.rules(m.server, "*filter\n-A INPUT -p icmp -j REJECT\nCOMMIT\n");
  const r = ping(m.net, m.client, ip("10.1.0.1"), 7, undefined, 1);
  assert.equal(!r.ok && formatIpv4(r.from!), "10.1.0.1");
  const cluster = { net: m.net } as SimCluster;
  const out = runSimCommand(cluster, m.client, ["ping", "-c", "2", "10.1.0.1"]);
  assert.equal(out.code, 1);
  assert.equal(
    out.stdout,
    [
      "PING 10.1.0.1 (10.1.0.1) 56(84) bytes of data.",
      "From 10.1.0.1 icmp_seq=1 Destination Port Unreachable",
      "From 10.1.0.1 icmp_seq=2 Destination Port Unreachable",
      "",
      "--- 10.1.0.1 ping statistics ---",
      "2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 1000ms",
      "",
    ].join("\n"),
  );
  // Without the REJECT the reply's TTL shows the router's hop.
  const m2 = new MiniNet();
  const ok = runSimCommand({ net: m2.net } as SimCluster, m2.client, ["ping", "-c", "1", "10.1.0.1"]);
  assert.match(ok.stdout, /64 bytes from 10\.1\.0\.1: icmp_seq=1 ttl=63 time=/);
});

const h = new CliHarness();
after(() => h.cleanup());

test("seed lab: a node port whose service has no endpoints is REJECTed by kube-proxy; curl on host1 is refused", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const scaled = await h.run("kubectl scale deployment customer -n yaobank --replicas=0");
  assert.equal(scaled.code, 0, scaled.err);
  const r = await h.run("exec host1 -- curl 198.19.0.1:30180");
  assert.equal(r.code, 7, r.err);
  assert.equal(
    r.err,
    "curl: (7) Failed to connect to 198.19.0.1 port 30180 after 0 ms: Couldn't connect to server\n",
  );
});
