import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  type Kernel,
  type Network,
  rpFilterMode,
  SysctlError,
  sysctlGet,
  sysctlSet,
} from "../../src/dataplane/sim/index.ts";
import type { Packet } from "../../src/dataplane/sim/netfilter/index.ts";
import { CliHarness, fixture } from "../cli/harness.ts";
import { ip, MiniNet } from "./mini-net.ts";

/** A UDP datagram from `client` whose source claims to be `src`. */
function spoofed(net: Network, client: Kernel, src: string, dst: string) {
  const p: Packet = {
    src: ip(src),
    dst: ip(dst),
    proto: 17,
    sport: 5353,
    dport: 53,
    len: 40,
    mark: 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
  };
  return net.send(client, p);
}

/**
 * The router also reaches 10.2.0.0/16 behind the server's side (eth1). A client on eth0 that claims a source
 * in 10.2/16 is lying about where it is: strict rp_filter drops it, loose accepts it (a route back exists),
 * and neither accepts a source the router has no route back to at all.
 */
function network(): MiniNet {
  const m = new MiniNet();
  m.route(m.router, "10.2.0.0/16", "10.1.0.1", "eth1");
  return m;
}

test("strict rp_filter drops a spoofed source; loose accepts it; off accepts anything", () => {
  const m = network();
  sysctlSet(m.router, "net.ipv4.conf.eth0.rp_filter", 1);
  const strict = spoofed(m.net, m.client, "10.2.3.4", "10.1.0.1");
  assert.equal(strict.kind, "dropped");
  assert.equal(strict.kind === "dropped" && strict.host, "router");
  assert.equal(strict.kind === "dropped" && strict.reason, "rp_filter: no route back to 10.2.3.4 via eth0");
  // The honest source passes strict mode.
  assert.equal(spoofed(m.net, m.client, "10.0.0.1", "10.1.0.1").kind, "delivered");

  sysctlSet(m.router, "net.ipv4.conf.eth0.rp_filter", 2);
  assert.equal(spoofed(m.net, m.client, "10.2.3.4", "10.1.0.1").kind, "delivered");
  // Loose mode still wants some route back.
  assert.equal(spoofed(m.net, m.client, "192.0.2.7", "10.1.0.1").kind, "dropped");

  sysctlSet(m.router, "net.ipv4.conf.eth0.rp_filter", 0);
  assert.equal(spoofed(m.net, m.client, "192.0.2.7", "10.1.0.1").kind, "delivered");
});

test("the kernel uses max(all, interface): all=2 makes a strict interface loose, all=1 makes an off one strict", () => {
  const m = network();
  sysctlSet(m.router, "net.ipv4.conf.eth0.rp_filter", 1);
  sysctlSet(m.router, "net.ipv4.conf.all.rp_filter", 2);
  assert.equal(rpFilterMode(m.router, "eth0"), 2);
  assert.equal(spoofed(m.net, m.client, "10.2.3.4", "10.1.0.1").kind, "delivered");

  sysctlSet(m.router, "net.ipv4.conf.eth0.rp_filter", 0);
  sysctlSet(m.router, "net.ipv4.conf.all.rp_filter", 1);
  assert.equal(rpFilterMode(m.router, "eth0"), 1);
  assert.equal(spoofed(m.net, m.client, "10.2.3.4", "10.1.0.1").kind, "dropped");
  // Packets addressed to the router itself are checked too.
  assert.equal(spoofed(m.net, m.client, "10.2.3.4", "10.0.0.254").kind, "dropped");
});

test("sysctl names: get and set, `default` for interfaces created later, errors as sysctl(8) words them", () => {
  const m = network();
  assert.equal(sysctlGet(m.router, "net.ipv4.conf.all.rp_filter"), 0);
  assert.equal(sysctlGet(m.router, "net/ipv4/ip_forward"), 1);
  sysctlSet(m.router, "net.ipv4.conf.default.rp_filter", 2);
  const link = m.router.addLink({ name: "eth2", kind: "ether", mac: "02:00:00:00:02:fe", mtu: 1500 });
  assert.equal(link.rpFilter, 2);
  assert.equal(sysctlGet(m.router, "net.ipv4.conf.eth0.rp_filter"), 0, "existing interfaces keep theirs");
  assert.throws(
    () => sysctlGet(m.router, "net.ipv4.conf.eth9.rp_filter"),
    new SysctlError("sysctl: cannot stat /proc/sys/net/ipv4/conf/eth9/rp_filter: No such file or directory"),
  );
  assert.throws(
    () => sysctlSet(m.router, "net.ipv4.conf.all.rp_filter", 3),
    new SysctlError('sysctl: setting key "net.ipv4.conf.all.rp_filter": Invalid argument'),
  );
});

const h = new CliHarness();
after(() => h.cleanup());

test("the lab's nodes: Ubuntu's loose default (all=2), Felix's strict cali interfaces; sysctl reads them", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const all = await h.run("exec node1 -- sysctl net.ipv4.conf.all.rp_filter");
  assert.equal(all.out, "net.ipv4.conf.all.rp_filter = 2\n", all.err);
  const uplink = await h.run("exec node1 -- sysctl -n net.ipv4.conf.ens4.rp_filter");
  assert.equal(uplink.out, "2\n", uplink.err);
  const links = (await h.run("exec node1 -- ip link")).out;
  const cali = /\d+: (cali[0-9a-f]+)@/.exec(links)?.[1];
  assert.ok(cali, links);
  const strict = await h.run(`exec node1 -- sysctl net.ipv4.conf.${cali}.rp_filter`);
  assert.equal(strict.out, `net.ipv4.conf.${cali}.rp_filter = 1\n`);
  const missing = await h.run("exec node1 -- sysctl net.ipv4.conf.nosuch.rp_filter");
  assert.equal(missing.code, 255);
  assert.equal(
    missing.err,
    "sysctl: cannot stat /proc/sys/net/ipv4/conf/nosuch/rp_filter: No such file or directory\n",
  );
});
