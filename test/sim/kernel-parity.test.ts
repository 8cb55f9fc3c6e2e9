/**
 * What the differential test against Linux (test/kernel/differential.test.ts) found the sim doing differently,
 * pinned without root: each test fails on the sim as it was before the fix.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Kernel, Network, parseIpv4, ping, tcpExchange } from "../../src/dataplane/sim/index.ts";
import { seededRandom } from "../../src/lib/index.ts";
import { P1, RANDOM_TOPOLOGY, SERVICE } from "../kernel/random-rules.ts";
import { buildSimTopology } from "../kernel/topology.ts";

function lab(rules: string): { k: Map<string, Kernel>; net: Network; router: Kernel } {
  const k = buildSimTopology(RANDOM_TOPOLOGY);
  const router = k.get("router")!;
  router.netfilter.restore(rules);
  k.get("p1")!.listen({ protocol: "tcp", port: 80, handle: () => "ok\n" });
  return { k, net: new Network(seededRandom(1)), router };
}

function counter(router: Kernel, table: "raw" | "mangle" | "filter" | "nat", rule: string): string {
  const line = router.netfilter
    .save({ table, counters: true })
    .split("\n")
    .find((l) => l.endsWith(rule));
  assert.ok(line, `no rule ending in ${rule}`);
  return line.split(" ")[0]!;
}

test("iptables-save prints comments, state lists and port ranges as iptables-nft 1.8.9 does", () => {
  const { router } = lab(
    [
      "*filter",
      ":FORWARD ACCEPT [0:0]",
      '-A FORWARD -m comment --comment plain -m comment --comment "a:b" -m comment --comment "it\'s" -j ACCEPT',
      "-A FORWARD -m conntrack --ctstate DNAT,ESTABLISHED,NEW -m state --state ESTABLISHED,INVALID",
      "-A FORWARD -p tcp ! --sport 0:1023 ! --dport 1024:65535",
      "-A FORWARD -p udp --dport 0:65535 ! --sport 0:65534",
      "-A FORWARD -j LOG --log-prefix abc",
      "COMMIT",
      "",
    ].join("\n"),
  );
  assert.deepEqual(router.netfilter.specs("filter").split("\n").slice(3, 8), [
    `-A FORWARD -m comment --comment plain -m comment --comment "a:b" -m comment --comment "it\\'s" -j ACCEPT`,
    "-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED,DNAT -m state --state INVALID,ESTABLISHED",
    "-A FORWARD -p tcp -m tcp --sport 1024:65535 ! --dport 1024:65535",
    "-A FORWARD -p udp -m udp --sport 65535",
    "-A FORWARD -j LOG --log-prefix abc",
  ]);
});

test("raw rules see no connection (INVALID); conntrack moves on as a packet enters, even if filter drops it", () => {
  const { k, net, router } = lab(
    [
      "*raw",
      ":PREROUTING ACCEPT [0:0]",
      "-A PREROUTING -m conntrack --ctstate INVALID",
      "-A PREROUTING -m conntrack --ctstate NEW,ESTABLISHED",
      "COMMIT",
      "*filter",
      ":FORWARD ACCEPT [0:0]",
      `-A FORWARD -s ${P1}/32 -j DROP`,
      "COMMIT",
      "",
    ].join("\n"),
  );
  const r = tcpExchange(net, k.get("host1")!, parseIpv4(P1)!, 80, "hi", { connectTimeoutMs: 500 });
  assert.equal(r.ok, false);
  assert.equal(counter(router, "raw", "--ctstate INVALID"), "[2:120]"); // the SYN and the SYN-ACK
  assert.equal(counter(router, "raw", "--ctstate NEW,ESTABLISHED"), "[0:0]");
  // The SYN-ACK was seen (SYN_RECV, no [UNREPLIED]) though FORWARD dropped it.
  assert.match(
    router.conntrack.list(net.now).join("\n"),
    /^tcp {6}6 \d+ SYN_RECV src=198\.19\.15\.254 [^[]*$/,
  );
});

test("a connection whose only answer is a RST leaves no conntrack entry", () => {
  const { k, net, router } = lab("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n");
  const r = tcpExchange(net, k.get("host1")!, parseIpv4(P1)!, 81, "hi");
  assert.deepEqual(r.ok ? "ok" : r.error, "refused");
  assert.deepEqual(router.conntrack.list(net.now), []);
});

test("--ctstate DNAT and SNAT match connections whose tuple NAT changed", () => {
  const { k, net, router } = lab(
    [
      "*mangle",
      ":POSTROUTING ACCEPT [0:0]",
      "-A POSTROUTING -m conntrack --ctstate DNAT",
      "-A POSTROUTING -m conntrack --ctstate SNAT",
      "COMMIT",
      "*nat",
      ":PREROUTING ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      `-A PREROUTING -d ${SERVICE}/32 -p tcp -j DNAT --to-destination ${P1}`,
      "COMMIT",
      "",
    ].join("\n"),
  );
  const r = tcpExchange(net, k.get("host1")!, parseIpv4(SERVICE)!, 80, "hi");
  assert.ok(r.ok);
  assert.equal(counter(router, "mangle", "--ctstate DNAT"), "[9:489]"); // every segment of the connection
  assert.equal(counter(router, "mangle", "--ctstate SNAT"), "[0:0]");
});

test("MASQUERADE --random-fully picks a random ICMP echo id, as the kernel does; plain MASQUERADE keeps it", () => {
  for (const [flag, same] of [
    [" --random-fully", false],
    ["", true],
  ] as const) {
    const { k, net, router } = lab(
      `*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o ens4 -j MASQUERADE${flag}\nCOMMIT\n`,
    );
    assert.ok(ping(net, k.get("p1")!, parseIpv4("198.19.15.254")!, 4242).ok);
    const [entry] = router.conntrack.list(net.now);
    const ids = [...(entry ?? "").matchAll(/id=(\d+)/g)].map((m) => m[1]);
    assert.equal(ids[0], "4242");
    assert.equal(ids[1] === "4242", same, entry);
  }
});

test("a packet that falls off a chain reached by -g from a built-in chain counts in the built-in's policy", () => {
  const { k, net, router } = lab(
    "*filter\n:FORWARD ACCEPT [0:0]\n:TD-X - [0:0]\n-A FORWARD -g TD-X\nCOMMIT\n",
  );
  assert.ok(ping(net, k.get("host1")!, parseIpv4(P1)!, 7).ok);
  assert.match(router.netfilter.save({ table: "filter", counters: true }), /^:FORWARD ACCEPT \[2:168\]$/m);
});
