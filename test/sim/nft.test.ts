import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { formatRuleset, Nftables, NftLoadError, parseIpv4 } from "../../src/dataplane/sim/index.ts";
import type { MatchContext, Packet } from "../../src/dataplane/sim/netfilter/index.ts";
import { Netfilter } from "../../src/dataplane/sim/netfilter/index.ts";
import { traverseHook } from "../../src/dataplane/sim/nft/index.ts";
import { buildServicePorts, kubeProxyIptablesConfig, renderNftables } from "../../src/render/index.ts";

// The *.kernel.txt fixtures are what nft 1.0.6 (Debian 12) printed on kernel 6.18 for the script next to
// them, loaded with `ip netns exec NS nft -f FILE` into a fresh namespace (README.md in that folder).
const fx = (name: string) => readFileSync(new URL(`../fixtures/nft/${name}`, import.meta.url), "utf8");

function loaded(name: string): Nftables {
  const n = new Nftables();
  n.load(fx(name), name);
  return n;
}

const ip = (s: string) => parseIpv4(s)!;
const NODE = ip("192.168.0.2");

function packet(dst: string, dport: number, over: Partial<Packet> = {}): Packet {
  return {
    src: ip("10.0.5.5"),
    dst: ip(dst),
    proto: 6,
    sport: 40000,
    dport,
    len: 60,
    mark: 0,
    tcpFlags: 2,
    icmpType: 0,
    icmpCode: 0,
    ...over,
  };
}

function ctx(random = 0, over: Partial<MatchContext> = {}): MatchContext {
  return {
    inIface: "eth0",
    outIface: "",
    ctState: "NEW",
    isLocal: (x) => x === NODE,
    isAddressType: (x, t) => (t === "LOCAL" ? x === NODE : false),
    ipsetHas: () => false,
    random: () => random,
    ...over,
  };
}

test("nft list ruleset equals the kernel's listing of kube-proxy's script, byte for byte", () => {
  assert.equal(formatRuleset(loaded("kube-proxy-overall.nft")), fx("kube-proxy-overall.kernel.txt"));
});

test("renderNftables' script for that fixture loads (sets and chains before their users) and lists the same", () => {
  const overall = JSON.parse(fx("../kube-proxy/01_TestOverallIPTablesRules.json")) as {
    services: ApiObject[];
    endpointSlices: ApiObject[];
  };
  const config = kubeProxyIptablesConfig(
    { nodeName: "test-node", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" },
    { masqueradeMark: "0x4000", randomFully: false },
  );
  const servicePorts = buildServicePorts(overall.services, overall.endpointSlices, "test-node", 4);
  const n = new Nftables();
  n.load(renderNftables({ config, serviceCIDRs: ["172.30.0.0/16"], servicePorts }), "kube-proxy.nft");
  assert.equal(formatRuleset(n), fx("kube-proxy-overall.kernel.txt"));
});

test("nft list ruleset equals the kernel's for intervals, anonymous sets, priorities, counters, NAT forms", () => {
  assert.equal(formatRuleset(loaded("features.nft")), fx("features.kernel.txt"));
});

test("flush table, delete chain/element, insert rule: the ruleset the kernel lists afterwards", () => {
  assert.equal(formatRuleset(loaded("updates.nft")), fx("updates.kernel.txt"));
});

test("errors are nft's: file:line:cols, the line, carets; evaluation errors before kernel ones", () => {
  for (const name of ["err-eval", "err-kernel"]) {
    const n = new Nftables();
    assert.throws(
      () => n.load(fx(`${name}.nft`), `${name}.nft`),
      (e: unknown) => e instanceof NftLoadError && e.message === fx(`${name}.kernel.txt`),
    );
    assert.equal(formatRuleset(n), "", "a failed script commits nothing");
  }
});

test("syntax errors name the line and column; a bad script leaves the loaded ruleset alone", () => {
  const n = loaded("features.nft");
  const before = formatRuleset(n);
  assert.throws(
    () => n.load("add rule ip t c1 accept\nadd rule ip t c1 frobnicate\n", "x.nft"),
    (e: unknown) =>
      e instanceof NftLoadError &&
      e.message ===
        "x.nft:2:18-27: Error: syntax error, unexpected frobnicate\nadd rule ip t c1 frobnicate\n                 ^^^^^^^^^^\n",
  );
  assert.throws(
    () => n.load("add chain ip t c6 { type filter hook sideways priority 0 ; }", "y.nft"),
    (e: unknown) =>
      e instanceof NftLoadError && e.message.startsWith("y.nft:1:38-45: Error: unknown chain hook\n"),
  );
  assert.throws(() => n.load("add table ip6 t", "z.nft"), /not supported yet: family ip6/);
  assert.equal(formatRuleset(n), before);
  // delete chain refuses while rules still jump to it, as the kernel does (EBUSY).
  assert.throws(() => n.load("delete chain ip t c6", "d.nft"), /Device or resource busy/);
});

test("service-ips: the concatenated key finds the service chain; DNAT to the endpoint, masquerade mark for off-cluster sources", () => {
  const n = loaded("kube-proxy-overall.nft");
  const t = n.tables.get("kube-proxy")!;
  const natPre = t.chains.get("nat-prerouting")!;
  const fromPod = packet("172.30.0.41", 80);
  const r = n.runChain(t, natPre, fromPod, ctx());
  assert.deepEqual(r, {
    verdict: "ACCEPT",
    nat: { kind: "DNAT", ip: ip("10.180.0.1"), portMin: 80, portMax: 80 },
  });
  assert.equal(fromPod.mark, 0, "10.0.0.0/8 sources are not marked");
  const fromOutside = packet("172.30.0.41", 80, { src: ip("203.0.113.9") });
  n.runChain(t, natPre, fromOutside, ctx());
  assert.equal(fromOutside.mark, 0x4000);
  // Wrong port or protocol: no element, no NAT.
  assert.deepEqual(n.runChain(t, natPre, packet("172.30.0.41", 81), ctx()), { verdict: "ACCEPT" });
  assert.deepEqual(n.runChain(t, natPre, packet("172.30.0.41", 80, { proto: 17 }), ctx()), {
    verdict: "ACCEPT",
  });
});

test("numgen random mod 2 vmap picks the endpoint by the seeded random number", () => {
  const n = loaded("kube-proxy-overall.nft");
  const t = n.tables.get("kube-proxy")!;
  const natPre = t.chains.get("nat-prerouting")!;
  const to = (random: number) =>
    n.runChain(t, natPre, packet("172.30.0.44", 80), ctx(random)).nat as { ip: number } | undefined;
  assert.equal(to(0.2)?.ip, ip("10.180.0.4"));
  assert.equal(to(0.7)?.ip, ip("10.180.0.5"));
});

test("node ports: nodeport-ips then the proto . port map; external chains mark for masquerade", () => {
  const n = loaded("kube-proxy-overall.nft");
  const t = n.tables.get("kube-proxy")!;
  const p = packet("192.168.0.2", 3003, { src: ip("10.0.5.5") });
  const r = n.runChain(t, t.chains.get("nat-prerouting")!, p, ctx());
  assert.equal(r.nat?.kind, "DNAT");
  assert.equal((r.nat as { ip: number }).ip, ip("10.180.0.3"));
  assert.equal(p.mark, 0x4000);
  // The masquerading chain clears the mark and masquerades.
  const post = n.runChain(t, t.chains.get("nat-postrouting")!, p, ctx());
  assert.deepEqual(post, {
    verdict: "ACCEPT",
    nat: { kind: "MASQUERADE", portMin: 0, portMax: 0, randomFully: false },
  });
  assert.equal(p.mark, 0);
  assert.deepEqual(n.runChain(t, t.chains.get("nat-postrouting")!, packet("10.1.1.1", 80), ctx()), {
    verdict: "ACCEPT",
  });
});

test("filter chains: no endpoints rejects, unallocated cluster IPs drop, source ranges filter; only for new connections", () => {
  const n = loaded("kube-proxy-overall.nft");
  const t = n.tables.get("kube-proxy")!;
  const out = t.chains.get("filter-output")!;
  assert.deepEqual(n.runChain(t, out, packet("172.30.0.46", 80), ctx()), {
    verdict: "REJECT",
    rejectWith: "icmp-port-unreachable",
  });
  assert.deepEqual(n.runChain(t, out, packet("172.30.0.46", 80), ctx(0, { ctState: "ESTABLISHED" })), {
    verdict: "ACCEPT",
  });
  const fwd = t.chains.get("filter-forward")!;
  assert.equal(n.runChain(t, fwd, packet("172.30.0.41", 8080), ctx()).verdict, "REJECT");
  assert.equal(n.runChain(t, fwd, packet("172.30.9.9", 80), ctx()).verdict, "DROP");
  assert.equal(n.runChain(t, fwd, packet("10.9.9.9", 80), ctx()).verdict, "ACCEPT");
  const pre = t.chains.get("filter-prerouting")!;
  assert.equal(n.runChain(t, pre, packet("5.6.7.8", 80, { src: ip("198.51.100.1") }), ctx()).verdict, "DROP");
  assert.equal(
    n.runChain(t, pre, packet("5.6.7.8", 80, { src: ip("203.0.113.7") }), ctx()).verdict,
    "ACCEPT",
  );
});

test("session affinity: update @set remembers the client, and the element expires with the set's timeout", () => {
  const n = loaded("kube-proxy-overall.nft");
  let now = 0;
  n.clock = () => now;
  const t = n.tables.get("kube-proxy")!;
  const set = t.sets.get("affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80")!;
  n.runChain(t, t.chains.get("nat-prerouting")!, packet("172.30.0.45", 80), ctx());
  assert.deepEqual(
    [...set.exact.values()].map((e) => e.key),
    [[[ip("10.0.5.5"), ip("10.0.5.5")]]],
  );
  now = 3600_000;
  assert.match(formatRuleset(n), /elements = \{ 10\.0\.5\.5 timeout 3h expires 2h \}/);
  now = 10800_000;
  assert.doesNotMatch(formatRuleset(n), /10\.0\.5\.5 timeout/);
});

test("counters count what reaches the counter statement; ct state is a flag match; intervals match ranges", () => {
  const n = new Nftables();
  n.load(
    [
      "add table ip t",
      "add set ip t nets { type ipv4_addr ; flags interval ; }",
      "add element ip t nets { 10.0.0.0/8, 172.16.0.0-172.16.0.9 }",
      "add chain ip t seen",
      "add chain ip t in { type filter hook input priority 0 ; policy drop ; }",
      "add rule ip t in ct state established,related counter accept",
      "add rule ip t in ip saddr @nets counter jump seen",
      "add rule ip t in tcp dport { 22, 80 } counter packets 5 bytes 300 accept",
      "add rule ip t seen ip daddr 192.168.0.2 tcp dport 443 counter accept",
    ].join("\n"),
  );
  const t = n.tables.get("t")!;
  const run = (p: Packet, c = ctx()) => n.runChain(t, t.chains.get("in")!, p, c).verdict;
  assert.equal(run(packet("192.168.0.2", 443, { src: ip("172.16.0.9") })), "ACCEPT");
  assert.equal(run(packet("192.168.0.2", 443, { src: ip("172.16.0.10") })), "DROP", "policy drop");
  assert.equal(run(packet("192.168.0.2", 80, { src: ip("10.1.1.1"), len: 40 })), "ACCEPT");
  assert.equal(run(packet("192.168.0.2", 9, { len: 52 }), ctx(0, { ctState: "RELATED" })), "ACCEPT");
  const listing = formatRuleset(n);
  assert.match(listing, /\t\tct state established,related counter packets 1 bytes 52 accept\n/);
  assert.match(listing, /\t\tip saddr @nets counter packets 2 bytes 100 jump seen\n/);
  assert.match(listing, /\t\ttcp dport \{ 22, 80 \} counter packets 6 bytes 340 accept\n/);
  assert.match(listing, /\t\tip daddr 192\.168\.0\.2 tcp dport 443 counter packets 1 bytes 60 accept\n/);
  // Reloading the same rules (a new generation of the ruleset) keeps the counter objects.
  n.load("add rule ip t seen drop\n");
  assert.match(formatRuleset(n), /tcp dport 443 counter packets 1 bytes 60 accept\n\t\tdrop\n/);
});

test("base chains run in priority order around the iptables tables at each hook", () => {
  const nf = new Netfilter();
  nf.restore("*nat\n-A OUTPUT -d 10.0.0.1/32 -p tcp -j DNAT --to-destination 10.0.0.2:80\nCOMMIT\n");
  const n = new Nftables();
  n.load(
    [
      "add table ip o",
      "add chain ip o pre { type filter hook output priority -110 ; }",
      "add chain ip o post { type filter hook output priority -90 ; }",
      "add chain ip o natout { type nat hook output priority -100 ; }",
      "add rule ip o pre ip daddr 10.0.0.9 drop",
      "add rule ip o post ip daddr 10.0.0.2 counter reject",
      "add rule ip o natout ip daddr 10.0.0.3 dnat to 10.0.0.4",
    ].join("\n"),
  );
  // -110 runs with mangle (every packet, before NAT); -90 runs before filter (after NAT).
  assert.equal(traverseHook(nf, n, "mangle", "OUTPUT", packet("10.0.0.9", 80), ctx()).verdict, "DROP");
  assert.equal(traverseHook(nf, n, "filter", "OUTPUT", packet("10.0.0.2", 80), ctx()).verdict, "REJECT");
  assert.equal(traverseHook(nf, n, "filter", "OUTPUT", packet("10.0.0.1", 80), ctx()).verdict, "ACCEPT");
  // At the nat slot the iptables table (priority -100, loaded first) maps before the nft nat chain.
  assert.equal(traverseHook(nf, n, "nat", "OUTPUT", packet("10.0.0.1", 80), ctx()).nat?.kind, "DNAT");
  const viaNft = traverseHook(nf, n, "nat", "OUTPUT", packet("10.0.0.3", 80), ctx()).nat as { ip: number };
  assert.equal(viaNft.ip, ip("10.0.0.4"));
});
