/**
 * `ip -d link|addr show` (iproute2 6.1): the generic details (pinned from the real tool here: `ip -d link show lo`
 * in a fresh namespace, compared byte for byte when root is available) and Felix's vxlan.calico as iplink_vxlan.c
 * prints it; devices whose details the sim does not model say so.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { test } from "node:test";
import { ipShow } from "../../src/agent/ip-show.ts";
import { Kernel } from "../../src/dataplane/sim/index.ts";
import { tunnelCluster } from "../fixtures/dataplane/tunnels.ts";
import { TunnelNet } from "./tunnels-net.ts";

const LO_DETAILS =
  "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n" +
  "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 tso_max_segs 65535 gro_max_size 65536 \n";

const run = (k: Kernel, ...args: string[]) => ipShow(k, args, 0);

test("ip -d link show lo: the generic details; -details abbreviated; ip -d addr without addrgenmode", () => {
  const k = new Kernel("h");
  assert.deepEqual(run(k, "-d", "link", "show", "lo"), { stdout: LO_DETAILS, stderr: "", code: 0 });
  assert.equal(run(k, "-det", "link", "show", "lo").stdout, LO_DETAILS);
  assert.equal(run(k, "-details", "link", "show", "lo").stdout, LO_DETAILS);
  assert.match(
    run(k, "-d", "addr", "show", "lo").stdout,
    /^ {4}link\/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0 {2}allmulti 0 minmtu 0 maxmtu 0 numtxqueues 1 /m,
  );
});

test("ip -d link show vxlan.calico: id, local, lower device, ports, nolearning, ttl auto, ageing 300, checksums", () => {
  const n = new TunnelNet(tunnelCluster("vxlan"));
  const k = n.kernel("node1");
  const vxlan = k.links.get("vxlan.calico")!;
  const expected =
    `${vxlan.index}: vxlan.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n` +
    `    link/ether ${vxlan.mac} brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \n` +
    "    vxlan id 4096 local 192.168.0.11 dev eth0 srcport 0 0 dstport 4789 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size 65536 tso_max_segs 65535 gro_max_size 65536 \n";
  assert.equal(run(k, "-d", "link", "show", "vxlan.calico").stdout, expected);
  const addr = run(k, "-d", "addr", "show", "dev", "vxlan.calico").stdout;
  assert.match(addr, / noudp6zerocsumrx numtxqueues 1 /);
  assert.match(addr, /\n {4}inet \S+\/32 /);
  // Without -d, the plain two lines.
  assert.equal(run(k, "link", "show", "vxlan.calico").stdout.split("\n").length, 3);
});

test("devices whose details are not modelled yet say so", () => {
  const n = new TunnelNet(tunnelCluster("ipip"));
  const r = run(n.kernel("node1"), "-d", "link", "show", "tunl0");
  assert.deepEqual(r, {
    stdout: "",
    stderr: "not supported yet: ip -d link show for ipip devices (tunl0) on the sim dataplane\n",
    code: 1,
  });
});

test("the real ip -d link show lo prints the same (throwaway namespace)", (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root for a network namespace");
  if (!/iproute2-6\.1\.0/.test(spawnSync("ip", ["-V"], { encoding: "utf8" }).stdout ?? ""))
    return t.skip("the pinned output is iproute2 6.1's");
  const ns = `tortie-ipd-${process.pid}`;
  if (spawnSync("ip", ["netns", "add", ns]).status !== 0) return t.skip("cannot create a network namespace");
  t.after(() => spawnSync("ip", ["netns", "del", ns]));
  const inNs = (...args: string[]) =>
    execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
  inNs("ip", "link", "set", "lo", "up");
  assert.equal(inNs("ip", "-d", "link", "show", "lo"), LO_DETAILS);
});
