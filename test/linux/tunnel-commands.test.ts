/**
 * The linux dataplane's tunnel commands and parsers (pure): what `ip`, `bridge` and `wg` are given, and how the
 * kernel's listings are read back (spelt as the real tools print them on this machine).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { compareLines } from "../../src/cli/verify-tunnels.ts";
import { routeArgs } from "../../src/dataplane/linux/ip-commands.ts";
import {
  fdbReplaceLine,
  neighbourReplaceLine,
  parseKernelRule,
  ruleArgs,
  vxlanAddLine,
  wireguardConfText,
} from "../../src/dataplane/linux/tunnel-commands.ts";
import { wireguardDrift } from "../../src/dataplane/linux/tunnel-drift.ts";
import { parseKernelFdb, parseKernelNeighbours } from "../../src/dataplane/linux/tunnel-programmer.ts";

test("a VXLAN device, its neighbour and fdb entries as Felix adds them", () => {
  assert.equal(
    vxlanAddLine({
      name: "vxlan.calico",
      kind: "vxlan",
      mac: "66:de:6a:00:00:01",
      mtu: 1450,
      vxlan: { vni: 4096, port: 4789, local: "192.168.0.11", parent: "eth0" },
    }),
    "link add vxlan.calico type vxlan id 4096 local 192.168.0.11 dev eth0 dstport 4789 nolearning",
  );
  assert.equal(
    neighbourReplaceLine({ dev: "vxlan.calico", ip: "10.244.2.0", mac: "66:de:6a:00:00:02" }),
    "neigh replace 10.244.2.0 lladdr 66:de:6a:00:00:02 dev vxlan.calico nud permanent",
  );
  assert.equal(
    fdbReplaceLine({ dev: "vxlan.calico", mac: "66:de:6a:00:00:02", dst: "192.168.0.12" }),
    "fdb replace 66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 self permanent",
  );
  assert.deepEqual(
    parseKernelNeighbours("10.244.2.0 dev vxlan.calico lladdr 66:de:6a:00:00:02 PERMANENT \n"),
    [{ ip: "10.244.2.0", dev: "vxlan.calico", mac: "66:de:6a:00:00:02" }],
  );
  assert.deepEqual(
    parseKernelFdb(
      "33:33:00:00:00:01 dev eth0 self permanent\n66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 self permanent\n",
    ),
    [{ mac: "66:de:6a:00:00:02", dev: "vxlan.calico", dst: "192.168.0.12" }],
  );
});

test("routes carry their table, onlink and proto by number (ip -batch misreads a proto name after a number)", () => {
  assert.equal(
    routeArgs({
      dst: "10.244.2.0/24",
      type: "unicast",
      via: "10.244.2.0",
      dev: "vxlan.calico",
      proto: 80,
      scope: "global",
      metric: 0,
      onlink: true,
    }),
    "10.244.2.0/24 via 10.244.2.0 dev vxlan.calico proto 80 scope global onlink",
  );
  assert.equal(
    routeArgs({
      dst: "0.0.0.0/0",
      type: "unicast",
      via: "192.168.0.1",
      dev: "eth0",
      proto: "boot",
      scope: "global",
      metric: 0,
    }),
    "default via 192.168.0.1 dev eth0 proto 3 scope global",
  );
  assert.equal(
    routeArgs({
      dst: "10.244.2.0/24",
      type: "unicast",
      dev: "wireguard.cali",
      proto: 80,
      scope: "link",
      metric: 0,
      table: 1,
    }),
    "10.244.2.0/24 dev wireguard.cali proto 80 scope link table 1",
  );
});

test("Felix's WireGuard rule round-trips through `ip rule show`; the kernel's defaults are never tortie's", () => {
  const rule = { priority: 99, table: 1, fwmark: { value: 0x100000, mask: 0x100000, not: true } };
  assert.equal(ruleArgs(rule), "not fwmark 0x100000/0x100000 lookup 1 priority 99");
  assert.deepEqual(parseKernelRule("99:\tnot from all fwmark 0x100000/0x100000 lookup 1"), rule);
  assert.equal(parseKernelRule("32766:\tfrom all lookup main"), undefined);
  assert.equal(parseKernelRule("0:\tfrom all lookup local"), undefined);
  assert.deepEqual(parseKernelRule("200:\tfrom all lookup 7"), { priority: 200, table: 7 });
});

test("the WireGuard device's syncconf text, and its drift read from `wg show DEV dump`", () => {
  const w = {
    privateKey: "cHJpdmF0ZQ==",
    publicKey: "cHVibGlj",
    listenPort: 51820,
    fwmark: 0x100000,
    peers: [
      {
        publicKey: "cGVlcg==",
        endpoint: "192.168.0.12:51820",
        allowedIps: ["10.244.2.0/24", "10.244.2.64/32"],
      },
    ],
  };
  assert.equal(
    wireguardConfText(w),
    "[Interface]\nPrivateKey = cHJpdmF0ZQ==\nListenPort = 51820\nFwMark = 0x100000\n\n[Peer]\nPublicKey = cGVlcg==\nEndpoint = 192.168.0.12:51820\nAllowedIPs = 10.244.2.0/24, 10.244.2.64/32\n",
  );
  const dump = [
    "cHJpdmF0ZQ==\tcHVibGlj\t51820\t0x100000",
    "cGVlcg==\t(none)\t192.168.0.12:51820\t10.244.2.64/32,10.244.2.0/24\t0\t0\t0\toff",
  ].join("\n");
  assert.equal(wireguardDrift(dump, "wireguard.cali", w), undefined);
  assert.equal(
    wireguardDrift(dump.split("\n")[0]!, "wireguard.cali", w),
    "wireguard.cali peer cGVlcg== endpoint 192.168.0.12:51820 allowed-ips 10.244.2.0/24,10.244.2.64/32 is missing",
  );
  assert.equal(
    wireguardDrift(dump.replace("\t51820\t0x100000", "\t51821\t0x100000"), "wireguard.cali", w),
    "wireguard.cali listens on 51821, not 51820",
  );
});

test("verify compares tunnel state line by line: a line one kernel lacks is one divergence", () => {
  const c = compareLines(
    "node1",
    "neighbours",
    "10.244.2.0 dev vxlan.calico lladdr 66:de:6a:00:00:02 PERMANENT",
    "10.244.2.0 dev vxlan.calico lladdr 66:de:6a:00:00:02 PERMANENT\n10.244.3.0 dev vxlan.calico lladdr 66:de:6a:00:00:03 PERMANENT",
  );
  assert.equal(c.checks, 2);
  assert.deepEqual(c.divergences, [
    {
      where: "node1",
      what: "ip neigh 10.244.3.0 dev vxlan.calico lladdr 66:de:6a:00:00:03 PERMANENT",
      sim: "(none)",
      linux: "present",
    },
  ]);
});
