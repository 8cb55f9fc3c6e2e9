/**
 * Pods on two nodes talk across Felix's tunnels in the sim kernel: VXLAN, IPIP and WireGuard, built from the shared
 * fixture descriptions (test/fixtures/dataplane/tunnels.ts). The underlay carries only outer packets; wrong keys
 * or a missing fdb entry stop the traffic; policy routing sends WireGuard's own packets by the main table.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bridgeCommand } from "../../src/agent/bridge-fdb.ts";
import { ipShow } from "../../src/agent/ip-show.ts";
import { wgCommand } from "../../src/agent/wg-show.ts";
import { formatIpv4, parseIpv4, ping, tcpExchange } from "../../src/dataplane/sim/index.ts";
import { TUNNEL_NODES, type TunnelMode, tunnelCluster } from "../fixtures/dataplane/tunnels.ts";
import { TunnelNet } from "./tunnels-net.ts";

const POD_B = parseIpv4(TUNNEL_NODES[1].podIp)!;

for (const mode of ["vxlan", "ipip", "wireguard"] as const satisfies TunnelMode[])
  test(`${mode}: a pod pings and curls a pod on the other node; the underlay sees only outer packets`, () => {
    const n = new TunnelNet(tunnelCluster(mode));
    n.kernel("default/pod-node2").listen({
      protocol: "tcp",
      port: 80,
      handle: () => "HTTP/1.1 200 OK\r\n\r\n",
    });
    const r = ping(n.net, n.kernel("default/pod-node1"), POD_B, 7);
    assert.equal(r.ok, true, JSON.stringify(r));
    const curl = tcpExchange(n.net, n.kernel("default/pod-node1"), POD_B, 80, "GET / HTTP/1.1\r\n\r\n");
    assert.equal(curl.ok, true, JSON.stringify(curl));
    const uplink = n.captures.get("node1 eth0") ?? [];
    assert.ok(uplink.length > 0);
    for (const line of uplink)
      assert.match(line, /\n {4}192\.168\.0\.1[12][.> ]/, `an outer packet on the uplink: ${line}`);
    const tunnelDev = { vxlan: "vxlan.calico", ipip: "tunl0", wireguard: "wireguard.cali" }[mode];
    assert.match(
      (n.captures.get(`node2 ${tunnelDev}`) ?? [])[0] ?? "",
      /10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request/,
    );
  });

test("vxlan: outer UDP to 4789, inner + 50 bytes, one source port per flow both ways, tcpdump's VXLAN line", () => {
  const n = new TunnelNet(tunnelCluster("vxlan"));
  const trace = { hops: [], rules: [], nat: [] };
  assert.equal(ping(n.net, n.kernel("default/pod-node1"), POD_B, 7, trace).ok, true);
  const steps = trace.hops.map(
    (h: { host: string; stage: string; detail: string }) => `${h.host} ${h.stage} ${h.detail}`,
  );
  assert.ok(
    steps.includes(
      "node1 encapsulate vxlan.calico: VXLAN vni 4096 to VTEP 192.168.0.12:4789 (66:de:6a:00:00:02, outer 134 bytes)",
    ),
    steps.join("\n"),
  );
  assert.ok(
    steps.includes("node2 decapsulate vxlan.calico: VXLAN vni 4096 from 192.168.0.11"),
    steps.join("\n"),
  );
  const [request, reply] = n.captures.get("node1 eth0")!;
  const sport =
    /192\.168\.0\.11\.(\d+) > 192\.168\.0\.12\.4789: VXLAN, flags \[I\] \(0x08\), vni 4096\n/.exec(request!);
  assert.ok(sport, request);
  assert.match(request!, /proto UDP \(17\), length 134\)/);
  assert.match(reply!, new RegExp(`192\\.168\\.0\\.12\\.${sport[1]} > 192\\.168\\.0\\.11\\.4789: VXLAN`));
  assert.match(
    request!,
    /\nIP \(tos 0x0, ttl 63, .*length 84\)\n {4}10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request/,
  );
});

test("vxlan: without the fdb entry for the neighbour's MAC the packet is dropped at the sender", () => {
  const description = tunnelCluster("vxlan");
  description.hosts[0]!.namespaces[0]!.fdb = [];
  const n = new TunnelNet(description);
  const trace = { hops: [], rules: [], nat: [] };
  assert.equal(ping(n.net, n.kernel("default/pod-node1"), POD_B, 7, trace).ok, false);
  assert.ok(
    trace.hops.some(
      (h: { detail: string }) => h.detail === "vxlan.calico: no fdb entry for 66:de:6a:00:00:02",
    ),
  );
  assert.equal(n.captures.get("node1 eth0"), undefined);
});

test("ipip: outer protocol 4 to the onlink gateway, 20 bytes more, DF and the inner TTL", () => {
  const n = new TunnelNet(tunnelCluster("ipip"));
  assert.equal(ping(n.net, n.kernel("default/pod-node1"), POD_B, 7).ok, true);
  const [request] = n.captures.get("node1 eth0")!;
  assert.match(
    request!,
    /IP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[DF\], proto IPIP \(4\), length 104\)\n {4}192\.168\.0\.11 > 192\.168\.0\.12: IP \(tos 0x0, ttl 63, /,
  );
});

test("wireguard: the first packet makes a handshake; wg show prints it as wg(8) does", () => {
  const n = new TunnelNet(tunnelCluster("wireguard"));
  n.net.now = 5000;
  assert.equal(ping(n.net, n.kernel("default/pod-node1"), POD_B, 7).ok, true);
  const uplink = n.captures.get("node1 eth0")!;
  // initiation (148 + 28), response (92 + 28), data (84 padded to 96, + 32 + 28) each way.
  assert.deepEqual(
    uplink.map((l) => /length (\d+)\)/.exec(l)![1]),
    ["176", "120", "156", "156"],
  );
  for (const l of uplink) assert.match(l, /51820: UDP, length \d+$/);
  n.net.now = 65_000;
  const node1 = n.kernel("node1");
  const wg = node1.links.get("wireguard.cali")!.wireguard!;
  const peer = TUNNEL_NODES[1];
  assert.equal(
    wgCommand(node1, ["show"], n.net.now, 0).stdout,
    `interface: wireguard.cali
  public key: ${wg.publicKey}
  private key: (hidden)
  listening port: 51820
  fwmark: 0x100000

peer: ${wg.peers[0]!.publicKey}
  endpoint: ${peer.ip}:51820
  allowed ips: ${peer.block}
  latest handshake: 1 minute ago
  transfer: 220 B received, 276 B sent
`,
  );
  assert.equal(
    wgCommand(node1, ["show", "all", "dump"], n.net.now, 1_700_000_000_000).stdout,
    `wireguard.cali\t${wg.privateKey}\t${wg.publicKey}\t51820\t0x100000\n` +
      `wireguard.cali\t${wg.peers[0]!.publicKey}\t(none)\t${peer.ip}:51820\t${peer.block}\t1700000005\t220\t276\toff\n`,
  );
});

test("wireguard: a peer told the wrong public key never completes a handshake: no traffic", () => {
  const n = new TunnelNet(tunnelCluster("wireguard", { wrongPeerKey: true }));
  const trace = { hops: [], rules: [], nat: [] };
  assert.equal(ping(n.net, n.kernel("default/pod-node1"), POD_B, 7, trace).ok, false);
  const details = trace.hops.map((h: { detail: string }) => h.detail);
  assert.ok(
    details.includes("wireguard.cali: message from 192.168.0.11:51820 does not authenticate (unknown key)"),
    details.join("\n"),
  );
  assert.equal(n.captures.get("node2 wireguard.cali"), undefined);
  assert.doesNotMatch(wgCommand(n.kernel("node1"), ["show"], 0, 0).stdout, /latest handshake/);
});

test("policy routing: Felix's rule sends unmarked packets by table 1 and the device's own by main", () => {
  const n = new TunnelNet(tunnelCluster("wireguard"));
  const node1 = n.kernel("node1");
  assert.equal(node1.routeLookup(POD_B, 0)?.nexthops[0]?.dev, "wireguard.cali");
  assert.equal(node1.routeLookup(POD_B, 0x100000)?.nexthops[0]?.dev, "eth0");
  assert.equal(node1.routeLookup(POD_B, 0x100001)?.nexthops[0]?.dev, "eth0");
  assert.equal(
    ipShow(node1, ["rule"], 0).stdout,
    "0:\tfrom all lookup local\n99:\tnot from all fwmark 0x100000/0x100000 lookup 1\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
  );
  // Filtered to one table, iproute2 prints no `table`; `table all` names every table but main, local included.
  assert.equal(
    ipShow(node1, ["route", "show", "table", "1"], 0).stdout,
    "10.244.2.0/24 dev wireguard.cali proto 80 scope link \n",
  );
  assert.equal(
    ipShow(node1, ["route", "show", "table", "all"], 0).stdout,
    [
      "10.244.2.0/24 dev wireguard.cali table 1 proto 80 scope link ",
      "default via 192.168.0.1 dev eth0 ",
      "10.244.1.2 dev cali1 scope link ",
      "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11 ",
      "local 10.244.1.0 dev wireguard.cali table local proto kernel scope host src 10.244.1.0 ",
      "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 ",
      "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 ",
      "broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 ",
      "local 192.168.0.11 dev eth0 table local proto kernel scope host src 192.168.0.11 ",
      "broadcast 192.168.0.255 dev eth0 table local proto kernel scope link src 192.168.0.11 ",
      "",
    ].join("\n"),
  );
  assert.match(
    ipShow(node1, ["route", "show", "table", "local"], 0).stdout,
    /^local 10\.244\.1\.0 dev wireguard\.cali proto kernel scope host src 10\.244\.1\.0 \n/,
  );
  assert.deepEqual(ipShow(node1, ["route", "show", "table", "7"], 0), {
    stdout: "",
    stderr: "Error: ipv4: FIB table does not exist.\nDump terminated\n",
    code: 2,
  });
  assert.doesNotMatch(ipShow(node1, ["route"], 0).stdout, /wireguard/);
});

test("ip link, ip addr, ip neigh and bridge fdb print the tunnel devices as iproute2 does", () => {
  const vx = new TunnelNet(tunnelCluster("vxlan")).kernel("node1");
  assert.equal(
    ipShow(vx, ["link", "show", "vxlan.calico"], 0).stdout,
    "3: vxlan.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/ether 66:de:6a:00:00:01 brd ff:ff:ff:ff:ff:ff\n",
  );
  assert.match(
    ipShow(vx, ["route"], 0).stdout,
    /^10\.244\.2\.0\/24 via 10\.244\.2\.0 dev vxlan\.calico proto 80 onlink $/m,
  );
  assert.equal(
    ipShow(vx, ["neigh", "show", "nud", "permanent"], 0).stdout,
    "10.244.2.0 dev vxlan.calico lladdr 66:de:6a:00:00:02 PERMANENT \n",
  );
  assert.equal(
    bridgeCommand(vx, ["fdb", "show"]).stdout,
    "66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 self permanent\n",
  );
  assert.equal(
    bridgeCommand(vx, ["fdb", "show", "dev", "vxlan.calico"]).stdout,
    "66:de:6a:00:00:02 dst 192.168.0.12 self permanent\n",
  );
  const ipip = new TunnelNet(tunnelCluster("ipip")).kernel("node1");
  assert.equal(
    ipShow(ipip, ["link", "show", "tunl0"], 0).stdout,
    "3: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/ipip 0.0.0.0 brd 0.0.0.0\n",
  );
  const wg = new TunnelNet(tunnelCluster("wireguard")).kernel("node1");
  // Seed 002 line 881 (`ip addr | grep wireguard`), and the link line kernel WireGuard has.
  assert.equal(
    ipShow(wg, ["addr", "show", "wireguard.cali"], 0).stdout,
    "3: wireguard.cali: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1440 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/none \n    inet 10.244.1.0/32 brd 10.244.1.0 scope global wireguard.cali\n       valid_lft forever preferred_lft forever\n",
  );
  assert.equal(formatIpv4(wg.links.get("wireguard.cali")!.wireguard!.peers[0]!.endpoint.ip), "192.168.0.12");
});
