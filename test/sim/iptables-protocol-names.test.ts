/**
 * How iptables names a rule's protocol: iptables-save and -S look the number up in /etc/protocols (`-p 4` is saved
 * as `-p ipencap`, 94 as `ipip`, 58 as `ipv6-icmp`, `-p all` not at all), -L without -n too, and -L -n prints
 * numbers (1.8.9) or only iptables' own few names (1.8.4, the labs'). Felix's IPIP rule (`-p 4`) is the case that
 * matters. Pinned exactly; where root and iptables are present, the same rules are loaded into the kernel in a
 * throwaway namespace and its iptables 1.8.9 must print the same.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { test } from "node:test";
import { Netfilter } from "../../src/dataplane/sim/index.ts";

const RULES = [
  "-A INPUT -p 4 -j ACCEPT",
  "-A INPUT -s 1.2.3.4/32 -p ipencap -j ACCEPT",
  "-A INPUT -p ipip -j ACCEPT",
  "-A INPUT -p 47 -j ACCEPT",
  "-A INPUT -p esp -j ACCEPT",
  "-A INPUT -p 58 -j ACCEPT",
  "-A INPUT -p all -j ACCEPT",
  "-A INPUT -p 200 -j ACCEPT",
  "-A INPUT ! -p 4 -j ACCEPT",
  "-A INPUT -p ICMP -j ACCEPT",
];

function sim(): Netfilter {
  const nf = new Netfilter();
  nf.restore(`*filter\n:INPUT ACCEPT [0:0]\n${RULES.join("\n")}\nCOMMIT\n`);
  return nf;
}

const SPECS = [
  "-P INPUT ACCEPT",
  "-P FORWARD ACCEPT",
  "-P OUTPUT ACCEPT",
  "-A INPUT -p ipencap -j ACCEPT",
  "-A INPUT -s 1.2.3.4/32 -p ipencap -j ACCEPT",
  "-A INPUT -p ipip -j ACCEPT",
  "-A INPUT -p gre -j ACCEPT",
  "-A INPUT -p esp -j ACCEPT",
  "-A INPUT -p ipv6-icmp -j ACCEPT",
  "-A INPUT -j ACCEPT",
  "-A INPUT -p 200 -j ACCEPT",
  "-A INPUT ! -p ipencap -j ACCEPT",
  "-A INPUT -p icmp -j ACCEPT",
  "",
].join("\n");

/** The `prot` column of `iptables -L INPUT` for RULES. */
const named = ["ipencap", "ipencap", "ipip", "gre", "esp", "ipv6-icmp", "all", "200", "!ipencap", "icmp"];
const numbers = ["4", "4", "94", "47", "50", "58", "0", "200", "!4", "1"];
const labNumeric = ["4", "4", "94", "47", "esp", "icmpv6", "all", "200", "!4", "icmp"];

function protColumn(listing: string): string[] {
  return listing
    .split("\n")
    .slice(2)
    .filter((l) => l.startsWith("ACCEPT"))
    .map((l) => /^ACCEPT +(!?\S+) +--/.exec(l)?.[1] ?? l);
}

test("iptables -S and iptables-save name protocols from /etc/protocols: -p 4 is ipencap", () => {
  const nf = sim();
  assert.equal(nf.specs("filter"), SPECS);
  assert.match(nf.save({ table: "filter" }), /^-A INPUT -p ipencap -j ACCEPT$/m);
  assert.match(nf.save({ table: "filter" }), /^-A INPUT ! -p ipencap -j ACCEPT$/m);
});

test("iptables -L names, -L -n numbers (1.8.9) or iptables' own names (1.8.4)", () => {
  const nf = sim();
  assert.deepEqual(protColumn(nf.list("filter", { chain: "INPUT" })), named);
  assert.deepEqual(
    protColumn(nf.list("filter", { chain: "INPUT", numeric: true, protocolNumbers: true })),
    numbers,
  );
  assert.deepEqual(protColumn(nf.list("filter", { chain: "INPUT", numeric: true })), labNumeric);
  assert.match(
    nf.list("filter", { chain: "INPUT", numeric: true, protocolNumbers: true }),
    /^ACCEPT {5}4 {4}-- {2}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {11}\n/m,
  );
});

test("-p names parse as getprotobyname does (lower-cased): ipip is 94, not 4; unknown names are errors", () => {
  const nf = new Netfilter();
  nf.restore("*filter\n-A INPUT -p IPENCAP\n-A INPUT -p ipip\n-A INPUT -p icmpv6\n-A INPUT -p mh\nCOMMIT\n");
  assert.deepEqual(nf.specs("filter", "INPUT").split("\n").slice(1, 5), [
    "-A INPUT -p ipencap",
    "-A INPUT -p ipip",
    "-A INPUT -p ipv6-icmp",
    "-A INPUT -p mobility-header",
  ]);
  assert.throws(
    () => new Netfilter().restore("*filter\n-A INPUT -p IP-ENCAP -j ACCEPT\nCOMMIT\n"),
    /unknown protocol "ip-encap" specified/,
  );
});

test("the kernel's iptables prints the same (throwaway namespace)", (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root for a network namespace");
  if (spawnSync("iptables", ["--version"]).status !== 0) return t.skip("iptables is not installed");
  const ns = `tortie-proto-${process.pid}`;
  if (spawnSync("ip", ["netns", "add", ns]).status !== 0) return t.skip("cannot create a network namespace");
  t.after(() => spawnSync("ip", ["netns", "del", ns]));
  const run = (...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
  for (const r of RULES) run("iptables", ...r.split(" "));
  if (!/v1\.8\.9/.test(run("iptables", "--version"))) return t.skip("the pinned output is iptables 1.8.9's");
  assert.equal(run("iptables", "-S"), SPECS);
  assert.deepEqual(protColumn(run("iptables", "-L", "INPUT")), named);
  assert.deepEqual(protColumn(run("iptables", "-L", "INPUT", "-n")), numbers);
  assert.deepEqual(
    run("iptables", "-L", "INPUT", "-n"),
    sim().list("filter", { chain: "INPUT", numeric: true, protocolNumbers: true }),
  );
});
