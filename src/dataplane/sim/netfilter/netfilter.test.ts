import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Netfilter, RestoreError } from "./index.ts";
import { type MatchContext, type Packet, TCP } from "./packet.ts";

// The fixtures are what iptables 1.8.9 (nf_tables) printed on Debian 12 after `iptables-restore` of
// probe-restore.txt in a fresh network namespace (see test/fixtures/README.md).
const fixture = (name: string) =>
  readFileSync(new URL(`../../../../test/fixtures/sim/${name}`, import.meta.url), "utf8");

function loaded(): Netfilter {
  const nf = new Netfilter();
  nf.restore(fixture("probe-restore.txt"));
  return nf;
}

test("iptables -L -v -n, -L -n, -S and iptables-save -c print what the kernel's iptables printed", () => {
  const nf = loaded();
  const modern = { numeric: true, protocolNumbers: true };
  assert.equal(nf.list("nat", { ...modern, verbose: true }), fixture("probe-nat-list.txt"));
  assert.equal(nf.list("filter", { ...modern, verbose: true }), fixture("probe-filter-list.txt"));
  assert.equal(nf.list("nat", modern), fixture("probe-nat-list-noverbose.txt"));
  assert.equal(nf.specs("filter"), fixture("probe-filter-S.txt"));
  assert.equal(nf.save({ counters: true }), fixture("probe-save.txt"));
});

test("a bad payload names its line and changes nothing", () => {
  const nf = loaded();
  const before = nf.save({ counters: true });
  const bad = [
    ["*filter\n:X - [0:0]\n-A X -j NOPE-CHAIN\nCOMMIT\n", /line 3: Couldn't load target `NOPE-CHAIN'/],
    ["*filter\n-A Y -j ACCEPT\nCOMMIT\n", /line 2: Chain 'Y' does not exist/],
    ["*filter\n:X - [0:0]\n-A X -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n", /line 3: invalid port/],
    [
      "*filter\n:X - [0:0]\n-A X -m recent --rcheck -j ACCEPT\nCOMMIT\n",
      /line 3: not supported yet: match module "recent"/,
    ],
    [
      "*filter\n:X - [0:0]\n-A X -s 10.0.0.300 -j ACCEPT\nCOMMIT\n",
      /line 3: host\/network `10.0.0.300' not found/,
    ],
    ["*nat\n:X - [0:0]\n", /COMMIT expected/],
    // iptables 1.8.9: "multiple -s flags not allowed" (a second -s would otherwise replace the first).
    [
      "*filter\n:X - [0:0]\n-A X -s 10.0.0.0/8 ! -s 10.1.0.0/16 -j ACCEPT\nCOMMIT\n",
      /line 3: multiple -s flags not allowed/,
    ],
    [
      "*filter\n:X - [0:0]\n-A X -p tcp ! -p udp -j ACCEPT\nCOMMIT\n",
      /line 3: multiple -p flags not allowed/,
    ],
  ] as const;
  for (const [text, message] of bad) {
    assert.throws(
      () => nf.restore(text, { noflush: true }),
      (e: unknown) => e instanceof RestoreError && message.test(e.message),
    );
    assert.equal(nf.save({ counters: true }), before);
  }
});

function ctx(over: Partial<MatchContext> = {}): MatchContext {
  return {
    inIface: "eth0",
    outIface: "",
    ctState: "NEW",
    isLocal: () => false,
    isAddressType: () => false,
    ipsetHas: () => false,
    random: () => 0.7,
    ...over,
  };
}

function tcp(dst: string, dport: number): Packet {
  const n = (ip: string) => ip.split(".").reduce((a, b) => a * 256 + Number(b), 0);
  return {
    src: n("192.168.0.9"),
    dst: n(dst),
    proto: TCP,
    sport: 40000,
    dport,
    len: 60,
    mark: 0,
    tcpFlags: 2,
    icmpType: 0,
    icmpCode: 0,
  };
}

test("traversal follows jumps, gotos, RETURN, marks and statistic, counting every matched rule", () => {
  const nf = new Netfilter();
  nf.restore(
    [
      "*nat",
      ":SVC - [0:0]",
      ":SEP1 - [0:0]",
      ":SEP2 - [0:0]",
      "-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j SVC",
      "-A SVC -m statistic --mode random --probability 0.5 -j SEP1",
      "-A SVC -j SEP2",
      "-A SEP1 -p tcp -j DNAT --to-destination 10.0.1.1:8080",
      "-A SEP2 -j MARK --or-mark 0x4000",
      "-A SEP2 -p tcp -j DNAT --to-destination 10.0.1.2:8080",
      "COMMIT",
    ].join("\n"),
  );
  const p = tcp("10.96.0.10", 80);
  const r = nf.traverse("nat", "PREROUTING", p, ctx({ random: () => 0.7 }));
  assert.deepEqual(r.nat, { kind: "DNAT", ip: 0x0a000102, portMin: 8080, portMax: 8080 });
  assert.equal(p.mark, 0x4000);
  const low = nf.traverse("nat", "PREROUTING", tcp("10.96.0.10", 80), ctx({ random: () => 0.2 }));
  assert.deepEqual(low.nat, { kind: "DNAT", ip: 0x0a000101, portMin: 8080, portMax: 8080 });
  assert.equal(nf.traverse("nat", "PREROUTING", tcp("10.96.0.10", 81), ctx()).nat, undefined);
  const counts = nf.save({ counters: true });
  assert.match(counts, /\[2:120\] -A PREROUTING -d 10.96.0.10\/32/);
  assert.match(counts, /\[1:60\] -A SEP1 -p tcp -j DNAT/);
  assert.match(counts, /:PREROUTING ACCEPT \[1:60\]/);
});
