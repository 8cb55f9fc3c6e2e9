/**
 * tcpdump's `[ip] proto N|NAME` (pcap-filter(7)), as libpcap 1.10 compiles it (checked with `tcpdump -d`): a number,
 * an /etc/protocols name (`ipencap` is 4, `ipip` 94), or an escaped keyword (`\tcp`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { compileFilter, FilterError, parseIpv4 } from "../../src/dataplane/sim/index.ts";

const packet = (proto: number, dport = 0) => ({
  src: parseIpv4("198.19.0.2")!,
  dst: parseIpv4("198.19.0.3")!,
  proto,
  sport: 0,
  dport,
});
const IPIP = packet(4);
const VXLAN = packet(17, 4789);
const TCP = packet(6, 80);

const matches = (expr: string) => [IPIP, VXLAN, TCP].map((p) => compileFilter(expr)(p));

test("ip proto 4 takes IPIP packets only; names and escaped keywords", () => {
  assert.deepEqual(matches("ip proto 4"), [true, false, false]);
  assert.deepEqual(matches("proto 4"), [true, false, false]);
  assert.deepEqual(matches("ip proto ipencap"), [true, false, false]);
  assert.deepEqual(matches("ip proto ipip"), [false, false, false]);
  assert.deepEqual(matches("proto \\udp"), [false, true, false]);
  assert.deepEqual(matches("ip proto 4 or udp port 4789"), [true, true, false]);
  assert.deepEqual(matches("not ip proto 4"), [false, true, true]);
  // libpcap compares the protocol byte: 300 compiles and matches nothing.
  assert.deepEqual(matches("ip proto 300"), [false, false, false]);
});

test("proto errors are libpcap's", () => {
  const err = (expr: string) => {
    try {
      compileFilter(expr);
    } catch (e) {
      assert.ok(e instanceof FilterError);
      return e.message;
    }
    assert.fail(`'${expr}' compiled`);
  };
  assert.equal(err("ip proto foo"), "unknown ip proto 'foo'");
  assert.equal(err("ip proto"), "syntax error in filter expression: syntax error");
  assert.equal(err("proto tcp"), "syntax error in filter expression: syntax error");
});
