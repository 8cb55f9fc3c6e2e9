import assert from "node:assert/strict";
import { test } from "node:test";
import {
  joinSegment,
  Kernel,
  maskOf,
  parseIpv4,
  parseIpv4Prefix,
  SysctlError,
  sysctlGet,
  sysctlSet,
} from "../../src/dataplane/sim/index.ts";
import type { Packet } from "../../src/dataplane/sim/netfilter/index.ts";
import { ip, MiniNet } from "./mini-net.ts";

/**
 * The router reaches 10.9.0.1 (an anycast address both servers own) by an ECMP route via server (10.1.0.1) and
 * server2 (10.1.0.2). Which one a datagram reaches is the router's multipath hash of the flow.
 */
function anycast(): MiniNet & { server2: Kernel } {
  const m = new MiniNet() as MiniNet & { server2: Kernel };
  const dmz = m.router.links.get("eth1")!.segment!;
  const server2 = new Kernel("server2");
  const link = server2.addLink({ name: "eth0", kind: "ether", mac: "02:00:00:00:01:02", mtu: 1500 });
  joinSegment(dmz, server2, link);
  server2.addAddress("eth0", parseIpv4Prefix("10.1.0.0/24")!, ip("10.1.0.2"));
  for (const k of [m.server, server2])
    k.addAddress("lo", { addr: ip("10.9.0.1"), len: 32, mask: maskOf(32) }, ip("10.9.0.1"));
  m.router.addRoute({
    type: "unicast",
    dst: parseIpv4Prefix("10.9.0.0/24")!,
    nexthops: [
      { via: ip("10.1.0.1"), dev: "eth1", weight: 1 },
      { via: ip("10.1.0.2"), dev: "eth1", weight: 1 },
    ],
    proto: "bird",
    scope: "global",
    metric: 0,
  });
  m.server2 = server2;
  return m;
}

function reached(m: MiniNet, sport: number): string {
  const p: Packet = {
    src: ip("10.0.0.1"),
    dst: parseIpv4("10.9.0.1")!,
    proto: 17,
    sport,
    dport: 53,
    len: 40,
    mark: 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
  };
  const d = m.net.send(m.client, p);
  assert.equal(d.kind, "delivered");
  return d.kind === "delivered" ? d.kernel.name : "";
}

test("ECMP hashes the addresses only by default (fib_multipath_hash_policy 0): every flow of a pair takes one path", () => {
  const m = anycast();
  assert.equal(sysctlGet(m.router, "net.ipv4.fib_multipath_hash_policy"), 0);
  const servers = new Set<string>();
  for (let port = 40000; port < 40064; port++) servers.add(reached(m, port));
  assert.equal(servers.size, 1, [...servers].join(","));
});

test("fib_multipath_hash_policy 1 hashes the 5-tuple: flows of one pair spread over the nexthops", () => {
  const m = anycast();
  sysctlSet(m.router, "net.ipv4.fib_multipath_hash_policy", 1);
  const servers = new Set<string>();
  for (let port = 40000; port < 40064; port++) servers.add(reached(m, port));
  assert.deepEqual([...servers].sort(), ["server", "server2"]);
  assert.throws(
    () => sysctlSet(m.router, "net.ipv4.fib_multipath_hash_policy", 4),
    (e) => e instanceof SysctlError && /Invalid argument/.test(e.message),
  );
});
