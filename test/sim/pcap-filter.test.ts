import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilter, FilterError, parseIpv4 } from "../../src/dataplane/sim/index.ts";

const ip = (s: string) => parseIpv4(s)!;
const tcp = (src: string, sport: number, dst: string, dport: number) => ({
  src: ip(src),
  dst: ip(dst),
  proto: 6,
  sport,
  dport,
});
const udp = (src: string, sport: number, dst: string, dport: number) => ({
  ...tcp(src, sport, dst, dport),
  proto: 17,
});
const icmp = (src: string, dst: string, id = 30180) => ({
  src: ip(src),
  dst: ip(dst),
  proto: 1,
  sport: id,
  dport: 0,
});

const SYN = tcp("198.19.15.254", 57064, "198.19.0.1", 30180);
const REPLY = tcp("198.19.0.1", 30180, "198.19.15.254", 57064);
const FORWARDED = tcp("198.19.0.1", 57064, "198.19.22.3", 80);
const DNS = udp("198.19.22.4", 40000, "198.19.32.10", 53);
const PING = icmp("198.19.15.254", "198.19.0.1");

function matches(expr: string, ...packets: ReturnType<typeof tcp>[]): boolean[] {
  const f = compileFilter(expr);
  return packets.map((p) => f(p));
}

test("the seed's filter: 'tcp port 30180' takes both directions, not the forwarded leg or ICMP", () => {
  assert.deepEqual(matches("tcp port 30180", SYN, REPLY, FORWARDED, DNS, PING), [
    true,
    true,
    false,
    false,
    false,
  ]);
});

test("protocols, directions, hosts and nets", () => {
  assert.deepEqual(matches("udp", SYN, DNS, PING), [false, true, false]);
  assert.deepEqual(matches("icmp", SYN, DNS, PING), [false, false, true]);
  assert.deepEqual(matches("ip", SYN, DNS, PING), [true, true, true]);
  assert.deepEqual(matches("dst port 30180", SYN, REPLY), [true, false]);
  assert.deepEqual(matches("src port 30180", SYN, REPLY), [false, true]);
  assert.deepEqual(matches("port 53", SYN, DNS), [false, true]);
  assert.deepEqual(matches("udp dst port domain", DNS, SYN), [true, false]);
  assert.deepEqual(matches("host 198.19.0.1", SYN, REPLY, DNS), [true, true, false]);
  assert.deepEqual(matches("src host 198.19.0.1", SYN, REPLY), [false, true]);
  assert.deepEqual(matches("dst 198.19.0.1", SYN, REPLY), [true, false]);
  assert.deepEqual(matches("net 198.19.16.0/20", FORWARDED, SYN), [true, false]);
  assert.deepEqual(matches("src net 198.19", SYN, DNS), [true, true]);
  assert.deepEqual(matches("dst net 198.19.32.0/20", DNS, SYN), [true, false]);
  assert.deepEqual(matches("src and dst net 198.19.0.0/16", SYN), [true]);
  assert.equal(compileFilter("")(PING), true);
});

test("and/or/not with libpcap's precedence (and = or, left to right; not binds tightest), parentheses, &&/||/!", () => {
  assert.deepEqual(matches("tcp and not port 80", SYN, FORWARDED), [true, false]);
  assert.deepEqual(matches("icmp or udp", SYN, DNS, PING), [false, true, true]);
  // Left to right: (udp or tcp) and port 53, not udp or (tcp and port 53).
  assert.deepEqual(matches("udp or tcp and port 53", DNS, SYN), [true, false]);
  assert.deepEqual(matches("udp or (tcp and port 53)", DNS, SYN), [true, false]);
  assert.deepEqual(matches("!(tcp && port 30180) || icmp", SYN, PING, DNS), [false, true, true]);
  assert.deepEqual(matches("not not tcp", SYN, DNS), [true, false]);
});

test("a bare value inherits the qualifiers before it: 'port 80 or 30180', 'host A or B'", () => {
  assert.deepEqual(matches("tcp port 80 or 30180", SYN, FORWARDED, DNS), [true, true, false]);
  assert.deepEqual(matches("host 198.19.22.3 or 198.19.15.254", SYN, FORWARDED, DNS), [true, true, false]);
});

test("errors are libpcap's", () => {
  const err = (expr: string) => {
    try {
      compileFilter(expr);
    } catch (e) {
      assert.ok(e instanceof FilterError);
      return e.message;
    }
    assert.fail(`'${expr}' compiled`);
  };
  const syntax = "syntax error in filter expression: syntax error";
  for (const bad of [
    "tcp prt 80",
    "tcp port",
    "tcp and (port 80",
    "src port 80 or",
    "port 80)",
    "and tcp",
    "80",
  ])
    assert.equal(err(bad), syntax, bad);
  assert.equal(err("port 99999"), "illegal port number 99999 > 65535");
  assert.equal(err("net 10.0.0.1/8"), 'non-network bits set in "10.0.0.1/8"');
  assert.equal(err("port bogus"), "unknown port 'bogus'");
  assert.equal(err("host nosuchhost"), "unknown host 'nosuchhost'");
});
