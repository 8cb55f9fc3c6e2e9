/**
 * The restore fast paths against the slow ones on the same inputs: rules parsed from the memo against rules
 * parsed cold, `--noflush` applied in place against a full restore of the same end state, a failing payload
 * against the table it must leave untouched, and counters put back by key against `iptables-save -c`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import {
  clearRuleMemo,
  type MatchContext,
  Netfilter,
  type Packet,
  parseRule,
  parseRuleText,
  RestoreError,
  ruleSaveText,
  splitWords,
  type TableName,
  TCP,
} from "../../src/dataplane/sim/netfilter/index.ts";
import {
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyServicePort,
} from "../../src/render/index.ts";
import { rulesetArb } from "../kernel/random-rules.ts";

const probe = readFileSync(new URL("../fixtures/sim/probe-restore.txt", import.meta.url), "utf8");
const TABLES: TableName[] = ["filter", "nat", "mangle", "raw"];

/** Everything iptables prints of a namespace: save with counters, -S and -L -v of every table. */
function printed(nf: Netfilter): string {
  const out = [nf.save({ counters: true })];
  for (const t of TABLES) {
    out.push(nf.specs(t));
    out.push(nf.list(t, { verbose: true, numeric: true, exact: true, lineNumbers: true }));
  }
  return out.join("\n");
}

function ipOf(n: number, base: number): string {
  return [base, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".");
}

function services(n: number, endpoints: number, moved = -1): ProxyServicePort[] {
  const out: ProxyServicePort[] = [];
  for (let s = 0; s < n; s++)
    out.push({
      namespace: `ns${s % 3}`,
      name: `svc${s}`,
      portName: "http",
      protocol: "TCP",
      port: 80,
      clusterIP: ipOf(s + 1, 172),
      nodePort: s % 2 === 0 ? 30000 + s : 0,
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      externalPolicyLocal: false,
      internalPolicyLocal: false,
      healthCheckNodePort: 0,
      affinityTimeoutSeconds: undefined,
      endpoints: Array.from({ length: endpoints - (s === moved ? 1 : 0) }, (_, e) => ({
        ip: ipOf(s * endpoints + e + (s === moved ? 1000 : 0), 10),
        port: 8080,
        isLocal: e === 0,
        ready: true,
        serving: true,
        terminating: false,
      })),
    });
  return out;
}

const config = kubeProxyIptablesConfig({
  nodeName: "node-0",
  nodeIP: "192.168.0.2",
  clusterCIDR: "10.0.0.0/8",
});

test("a rule from the memo is the rule a cold parse gives, for every rule of the probe and of kube-proxy", () => {
  const full = new KubeProxyIptablesSyncer(config).sync(services(20, 5)).restore;
  const lines = `${probe}\n${full}`.split("\n").filter((l) => l.startsWith("-A "));
  const always = () => true;
  const textOf = (line: string) => line.slice(line.indexOf(" ", 3) + 1);
  // Each cold parse starts from empty memos: it shares no compiled match or target with the memoised side.
  const colds = lines.map((line) => {
    clearRuleMemo();
    return parseRule(splitWords(textOf(line)), always);
  });
  clearRuleMemo();
  for (let round = 0; round < 2; round++)
    for (const [i, line] of lines.entries()) {
      const rest = textOf(line);
      const memo = parseRuleText(rest, always); // round 0 fills the memo, round 1 reads it
      const cold = colds[i]!;
      assert.equal(ruleSaveText(memo), ruleSaveText(cold), line);
      assert.deepEqual(
        [memo.src, memo.dst, memo.in, memo.out, memo.protocol, memo.target?.action, memo.target?.list],
        [cold.src, cold.dst, cold.in, cold.out, cold.protocol, cold.target?.action, cold.target?.list],
      );
      assert.deepEqual(
        memo.matches.map((m) => [m.list, m.save]),
        cold.matches.map((m) => [m.list, m.save]),
      );
      assert.equal(memo.packets, 0);
    }
});

test("a remembered rule that jumps to a chain this table lacks fails as a cold parse does", () => {
  for (const name of ["my-chain", "MYCHAIN"]) {
    const rule = `-A FORWARD -p tcp -j ${name}`;
    const bad = `*filter\n${rule}\nCOMMIT\n`;
    const message = (): string => {
      try {
        new Netfilter().restore(bad);
      } catch (e) {
        return (e as Error).message;
      }
      return "";
    };
    clearRuleMemo();
    const cold = message();
    assert.match(cold, /^line 2: /);
    new Netfilter().restore(`*filter\n:${name} - [0:0]\n${rule}\nCOMMIT\n`); // now remembered
    assert.equal(message(), cold);
  }
});

test("random rulesets print the same restored with a warm memo and with a cold one", () => {
  fc.assert(
    fc.property(rulesetArb, (payload) => {
      clearRuleMemo();
      const cold = new Netfilter();
      cold.restore(payload);
      const warm = new Netfilter();
      warm.restore(payload);
      assert.equal(printed(warm), printed(cold));
    }),
    { numRuns: 60 },
  );
});

test("--noflush in place ends where a full restore of the same end state does", () => {
  const before = services(30, 4);
  const after = services(30, 4, 7);
  const syncer = new KubeProxyIptablesSyncer(config);
  const nf = new Netfilter();
  nf.restore(syncer.sync(before).restore);
  const partial = syncer.sync(after).restore;
  assert.match(partial, /^-X KUBE-SEP-/m, "the partial sync deletes the moved endpoint's chain");
  nf.restore(partial, { noflush: true });
  const fresh = new Netfilter();
  fresh.restore(new KubeProxyIptablesSyncer(config).sync(after).restore);
  assert.equal(printed(nf), printed(fresh));
});

test("--noflush: a failing payload leaves every chain as it was, objects included", () => {
  const nf = new Netfilter();
  nf.restore(probe);
  const before = printed(nf);
  const chains = new Map(TABLES.map((t) => [t, new Map(nf.tables.get(t)!)]));
  const userChain = [...nf.tables.get("filter")!.values()].find(
    (c) => c.policy === undefined && c.rules.length,
  )!;
  const referenced = [...nf.tables.get("filter")!.values()]
    .flatMap((c) => c.rules)
    .map((r) => r.target?.action)
    .find((a) => a?.kind === "JUMP")!;
  assert.ok(userChain && referenced?.kind === "JUMP");
  const bad = [
    // Changes first, then a line that does not parse.
    `*filter\n-A ${userChain.name} -j ACCEPT\n-F FORWARD\n-A FORWARD -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n`,
    // Deleting a chain another (untouched) chain still jumps to.
    `*filter\n-F ${referenced.chain}\n-X ${referenced.chain}\nCOMMIT\n`,
    // Deleting a chain this payload's own rule jumps to.
    "*filter\n:ZZ - [0:0]\n-A FORWARD -j ZZ\n-X ZZ\nCOMMIT\n",
    // A good table, then a bad one.
    "*nat\n:NEW1 - [0:0]\n-A NEW1 -j RETURN\nCOMMIT\n*filter\n-A NOPE -j ACCEPT\nCOMMIT\n",
    // A block left open by another table line: iptables-restore refuses it (its changes must not carry over).
    "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n*filter\n-A FORWARD -j DROP\n*filter\nCOMMIT\n",
  ];
  for (const text of bad) {
    assert.throws(() => nf.restore(text, { noflush: true }), RestoreError);
    assert.equal(printed(nf), before);
    for (const t of TABLES) {
      const live = nf.tables.get(t)!;
      assert.equal(live.size, chains.get(t)!.size);
      for (const [n, c] of chains.get(t)!) assert.equal(live.get(n), c, `${t} ${n} is the same object`);
    }
  }
});

test("--noflush copies only the chains it writes", () => {
  const nf = new Netfilter();
  nf.restore("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j RETURN\n-A B -j RETURN\nCOMMIT\n");
  const t = nf.tables.get("filter")!;
  const a = t.get("A")!;
  const b = t.get("B")!;
  nf.restore("*filter\n-A B -j ACCEPT\nCOMMIT\n", { noflush: true });
  assert.equal(nf.tables.get("filter"), t, "the live table is changed in place");
  assert.equal(t.get("A"), a, "an untouched chain is the same object");
  assert.notEqual(t.get("B"), b, "a written chain is a copy");
  assert.equal(b.rules.length, 1, "the chain before the payload was not changed");
  assert.equal(t.get("B")!.rules.length, 2);
});

function ctx(): MatchContext {
  return {
    inIface: "eth0",
    outIface: "eth1",
    ctState: "NEW",
    isLocal: () => false,
    isAddressType: () => false,
    ipsetHas: () => false,
    random: () => 0.3,
  };
}

test("counters put back by key print as iptables-save -c printed them", () => {
  const payload = new KubeProxyIptablesSyncer(config).sync(services(10, 3)).restore;
  const jumps = "*nat\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n*filter\n-A FORWARD -j KUBE-FORWARD\nCOMMIT\n";
  const nf = new Netfilter();
  nf.restore(payload);
  nf.restore(jumps, { noflush: true });
  for (let s = 0; s < 10; s++)
    for (let k = 0; k <= s % 3; k++) {
      const p: Packet = {
        src: 0xc0a80009,
        dst: 0xac000001 + s,
        proto: TCP,
        sport: 40000 + k,
        dport: 80,
        len: 60 + k,
        mark: 0,
        tcpFlags: 2,
        icmpType: 0,
        icmpCode: 0,
      };
      nf.traverse("nat", "PREROUTING", p, ctx());
      nf.traverse("filter", "FORWARD", p, ctx());
      nf.traverse("filter", "INPUT", p, ctx());
    }
  const counted = nf.countedRules();
  assert.ok(counted.some((c) => c.text !== undefined && c.packets > 0));
  assert.ok(counted.some((c) => c.text === undefined));
  // Every entry is a rule (or policy) whose counters are not zero, and every such rule is there.
  const nonZero = TABLES.flatMap((t) =>
    [...nf.tables.get(t)!.values()].flatMap((c) => c.rules.filter((r) => r.packets || r.bytes)),
  ).length;
  assert.equal(counted.filter((c) => c.text !== undefined).length, nonZero);
  const again = new Netfilter();
  again.restore(payload);
  again.restore(jumps, { noflush: true });
  for (const t of TABLES)
    for (const name of again.tables.get(t)!.keys()) {
      const mine = counted.filter((c) => c.table === t && c.chain === name);
      assert.equal(again.setCounters(t, name, mine), mine.length);
    }
  assert.equal(again.save({ counters: true }), nf.save({ counters: true }));
  assert.equal(again.setCounters("nat", "NO-SUCH-CHAIN", counted), 0);
});

test("a deleted chain still jumped to is named with the chain that jumps to it", () => {
  const nf = new Netfilter();
  nf.restore("*filter\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\nCOMMIT\n");
  assert.throws(
    () => nf.restore("*filter\n-F B\n-X B\nCOMMIT\n", { noflush: true }),
    (e: unknown) =>
      e instanceof RestoreError && e.message === "line 0: Chain 'B' does not exist (referenced from A)",
  );
  nf.restore("*filter\n-F A\n-F B\n-X B\nCOMMIT\n", { noflush: true });
  assert.equal(nf.tables.get("filter")!.has("B"), false);
});
