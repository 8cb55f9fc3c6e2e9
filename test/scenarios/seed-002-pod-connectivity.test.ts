/**
 * Seed 002's "Introduction to pod connectivity" (lines 706–810) typed line by line on the seed's lab
 * (`tortie up --app yaobank`): inside the customer pod `ip addr`, `ip -c link show up`, `ip route`; on node1
 * `ip -c link show up` and `ip route`, following the seed's chain of interface indexes (the pod's eth0@ifN is the
 * host's interface N, whose @ifM is the pod's eth0). Then the seed's "IP-IP : VXLAN" overlays: a VXLAN pool
 * (vxlanMode Always) and an IPIP one (CrossSubnet, then Always) for new pods, the pods restarted onto them, and
 * node1's tunnel device, its address from IPAM, the routes through it, traffic still flowing, tcpdump on ens4
 * showing the encapsulated packets and `tortie trace` the encapsulate/decapsulate steps.
 *
 * Where tortie's values differ from the seed's (interface indexes, MACs, the lab's addresses, pod MTU 1450 where the
 * seed's cloud hosts had 1410, the uplink called ens4), the shape is asserted; each format is iproute2 6.1's.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";
import { startTcpdump } from "./tcpdump-process.ts";

const h = new CliHarness();
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  h.cleanup();
});

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

/** `ip -c` colours names, addresses and states; the seed's copy has the text alone. */
function plain(colored: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is removed
  return colored.replace(/\x1b\[\d+m/g, "");
}

interface Pod {
  name: string;
  ip: string;
  node: string;
}

async function pods(): Promise<Pod[]> {
  const lines = (await ok("kubectl get pods -n yaobank -o wide")).trim().split("\n").slice(1);
  return lines.map((l) => {
    const f = l.split(/\s+/);
    return { name: f[0]!, ip: f[5]!, node: f[6]! };
  });
}

const pod = (all: Pod[], prefix: string, node?: string) =>
  all.find((p) => p.name.startsWith(prefix) && (node === undefined || p.node === node))!;

const esc = (s: string) => s.replace(/[.+*?()[\]|\\/^$]/g, "\\$&");

/** node1's `ip -c link show up`, as text, with each interface's index by name. */
async function node1Links(): Promise<{ text: string; index: Map<string, number> }> {
  const text = plain(await ok("exec node1 -- ip -c link show up"));
  const index = new Map<string, number>();
  for (const m of text.matchAll(/^(\d+): ([^:@]+)(?:@[^:]+)?: /gm)) index.set(m[2]!, Number(m[1]));
  return { text, index };
}

test("How pods see the network, how hosts see connections to pods, how hosts route pod traffic (seed 002)", async () => {
  const customer = pod(await pods(), "customer-");
  assert.equal(customer.node, "node1");
  const exec = `kubectl exec -n yaobank ${customer.name} --`;

  // # ip addr — lo, then eth0@ifN with the pod's /32 (broadcast = the address, as the CNI plugin's netlink adds it).
  const addr = await ok(`${exec} ip addr`);
  const eth0 = new RegExp(
    `^1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\\n` +
      ` {4}link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\\n` +
      ` {4}inet 127\\.0\\.0\\.1/8 scope host lo\\n {7}valid_lft forever preferred_lft forever\\n` +
      `(\\d+): eth0@if(\\d+): <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP group default \\n` +
      ` {4}link/ether ([0-9a-f:]{17}) brd ff:ff:ff:ff:ff:ff link-netnsid 0\\n` +
      ` {4}inet ${esc(customer.ip)}/32 brd ${esc(customer.ip)} scope global eth0\\n {7}valid_lft forever preferred_lft forever\\n$`,
  ).exec(addr);
  assert.ok(eth0, addr);
  const [, podIndex, hostIndex, podMac] = eth0;

  // # ip -c link show up — the same two interfaces, link lines only, `mode DEFAULT`.
  assert.equal(
    plain(await ok(`${exec} ip -c link show up`)),
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n" +
      "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n" +
      `${podIndex}: eth0@if${hostIndex}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default \n` +
      `    link/ether ${podMac} brd ff:ff:ff:ff:ff:ff link-netnsid 0\n`,
  );

  // # ip route — the default route via Calico's dummy next hop 169.254.1.1.
  assert.equal(
    await ok(`${exec} ip route`),
    "default via 169.254.1.1 dev eth0 \n169.254.1.1 dev eth0 scope link \n",
  );

  // On node1: interface hostIndex is the customer pod's veth, cali…@if<podIndex>, in the pod's cni-… namespace.
  const { text: links } = await node1Links();
  assert.match(
    links,
    /^1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n {4}link\/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: ens4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\n {4}link\/ether [0-9a-f:]{17} brd ff:ff:ff:ff:ff:ff\n/,
  );
  const veth = new RegExp(
    `^${hostIndex}: (cali[0-9a-f]{11})@if${podIndex}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default \\n` +
      ` {4}link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns (cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`,
    "m",
  ).exec(links);
  assert.ok(veth, links);
  const cali = veth[1]!;
  // Every cali… line is a pod's veth in its own namespace.
  for (const l of links.split("\n").filter((x) => / cali/.test(x)))
    assert.match(l, /^\d+: cali[0-9a-f]{11}@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 /);

  // # ip route — the uplink, the /26 blocks of the other nodes learnt over BGP, the pod's /32 via its veth and
  // node1's own block as a blackhole.
  const routes = await ok("exec node1 -- ip route");
  const block = customer.ip.replace(/\.\d+$/, (last) => `.${Number(last.slice(1)) & ~63}`);
  assert.match(routes, /^default via 198\.19\.15\.254 dev ens4 proto static metric 100 \n/m);
  assert.match(routes, /^198\.19\.0\.0\/20 dev ens4 proto kernel scope link src 198\.19\.0\.2 $/m);
  assert.match(routes, /^198\.19\.\d+\.\d+\/26 via 198\.19\.0\.1 dev ens4 proto bird metric 1024 $/m);
  assert.match(routes, /^198\.19\.\d+\.\d+\/26 via 198\.19\.0\.3 dev ens4 proto bird metric 1024 $/m);
  assert.match(routes, new RegExp(`^${esc(customer.ip)} dev ${cali} scope link metric 1024 $`, "m"));
  assert.match(routes, new RegExp(`^blackhole ${esc(block)}/26 proto bird $`, "m"));
});

/** Runs `tortie exec node1 -- tcpdump -nvi ens4 FILTER` as its own process until `enough` of its output. */
async function tcpdumpWhile(filter: string, traffic: () => Promise<void>, enough: (out: string) => boolean) {
  const dump = await startTcpdump(h.stateDir, "node1", ["tcpdump", "-nvi", "ens4", filter], children);
  assert.equal(
    dump.err(),
    "tcpdump: listening on ens4, link-type EN10MB (Ethernet), capture size 262144 bytes\n",
  );
  await traffic();
  await dump.until("the encapsulated packets", () => enough(dump.out()));
  assert.equal(await dump.stop(), 0);
  return dump.out();
}

/** Pool `name` for new pods, the default pool disabled, yaobank's pods restarted onto it. */
async function movePodsTo(pool: string): Promise<Pod[]> {
  assert.equal(await ok("calicoctl apply -f -", pool), "Successfully applied 1 'IPPool' resource(s)\n");
  await ok(`calicoctl patch ippool default-ipv4-ippool -p '{"spec":{"disabled":true}}'`);
  await ok("kubectl delete pods -n yaobank --all");
  return pods();
}

async function trafficFlows(all: Pod[]): Promise<void> {
  // The customer page through node1's node port, from host1 (customer → summary → database across nodes).
  assert.match(await ok("exec host1 -- curl 198.19.0.2:30180"), /Welcome to YAO Bank/);
  const customer = pod(all, "customer-");
  const database = pod(all, "database-");
  assert.notEqual(customer.node, database.node);
  assert.match(
    await ok(
      `kubectl exec -n yaobank ${customer.name} -- curl --connect-timeout 3 http://${database.ip}:2379/v2/keys?recursive=true`,
    ),
    /"action":"get"/,
  );
}

test("IP-IP : VXLAN — a VXLAN pool (vxlanMode Always): vxlan.calico on node1, its address, routes, traffic, tcpdump, trace", async () => {
  const all = await movePodsTo(
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: vxlan-pool\nspec:\n" +
      "  cidr: 198.19.24.0/22\n  vxlanMode: Always\n  natOutgoing: true\n",
  );
  const customer = pod(all, "customer-");
  const database = pod(all, "database-");
  for (const p of all) assert.match(p.ip, /^198\.19\.2[4-7]\.\d+$/, `${p.name} is in the VXLAN pool`);

  const { text: links, index } = await node1Links();
  assert.match(
    links,
    new RegExp(
      `^${index.get("vxlan.calico")}: vxlan\\.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\n` +
        ` {4}link/ether 66:[0-9a-f:]{14} brd ff:ff:ff:ff:ff:ff$`,
      "m",
    ),
  );

  // Its VXLAN settings as Felix made it: VNI 4096, node1's address, over ens4, port 4789, no learning.
  assert.match(
    await ok("exec node1 -- ip -d link show vxlan.calico"),
    /^ {4}vxlan id 4096 local 198\.19\.0\.2 dev ens4 srcport 0 0 dstport 4789 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx addrgenmode eui64 /m,
  );

  // The device's address is the one IPAM gave node1 for the tunnel.
  const node1 = await ok("calicoctl get node node1 -o yaml");
  const tunnelAddress = /^ {2}ipv4VXLANTunnelAddr: (\S+)$/m.exec(node1)?.[1];
  assert.ok(tunnelAddress, node1);
  assert.match(
    await ok("exec node1 -- ip addr show vxlan.calico"),
    new RegExp(
      `^\\d+: vxlan\\.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN group default qlen 1000\\n` +
        ` {4}link/ether 66:[0-9a-f:]{14} brd ff:ff:ff:ff:ff:ff\\n` +
        ` {4}inet ${esc(tunnelAddress)}/32 brd ${esc(tunnelAddress)} scope global vxlan\\.calico\\n {7}valid_lft forever preferred_lft forever\\n$`,
    ),
  );
  assert.match(await ok(`calicoctl ipam show --ip=${tunnelAddress}`), /is in use/);

  // Routes to the other nodes' blocks go through the tunnel: via each VTEP's address, onlink, Felix's proto 80.
  const routes = await ok("exec node1 -- ip route");
  const database26 = database.ip.replace(/\.\d+$/, (last) => `.${Number(last.slice(1)) & ~63}`);
  assert.match(
    routes,
    new RegExp(`^${esc(database26)}/26 via 198\\.19\\.\\d+\\.\\d+ dev vxlan\\.calico proto 80 onlink $`, "m"),
  );
  assert.doesNotMatch(routes, /^198\.19\.2[4-7]\.\d+\/26 via .* dev ens4/m);
  // node1's own block in the pool: BIRD's kernel filter rejects VXLAN pools, so Felix blackholes it (proto 80).
  assert.match(routes, /^blackhole 198\.19\.2[4-7]\.\d+\/26 proto 80 $/m);
  assert.doesNotMatch(routes, /^blackhole 198\.19\.2[4-7]\.\d+\/26 proto bird/m);

  // Traffic still flows; on ens4 it is VXLAN (UDP 4789, vni 4096) between the nodes.
  const dump = await tcpdumpWhile(
    "udp port 4789",
    () => trafficFlows(all),
    (out) => /VXLAN, flags \[I\] \(0x08\), vni 4096\n/.test(out),
  );
  assert.match(
    dump,
    /^\d\d:\d\d:\d\d\.\d{6} IP \(tos 0x0, ttl 64, id \d+, offset 0, flags \[none\], proto UDP \(17\), length \d+\)\n {4}198\.19\.0\.2\.\d+ > 198\.19\.0\.[13]\.4789: VXLAN, flags \[I\] \(0x08\), vni 4096\nIP \(tos 0x0, ttl \d+, id \d+, offset 0, flags \[DF\], proto TCP \(6\), length \d+\)\n {4}198\.19\.\d+\.\d+\.\d+ > 198\.19\.\d+\.\d+\.\d+: Flags \[/m,
  );

  // `tortie trace` shows the packet wrapped on node1 and unwrapped on database's node; the outer packet's steps
  // in between are indented under the tunnel.
  const trace = await ok(`trace yaobank/${customer.name} yaobank/${database.name}:2379`);
  assert.match(
    trace,
    new RegExp(
      `^node1\\n(?: {2}.*\\n)*? {2}encapsulate vxlan\\.calico: VXLAN vni 4096 to VTEP 198\\.19\\.0\\.3:4789 \\(66:[0-9a-f:]{14}, outer \\d+ bytes\\)\\n` +
        ` {4}send 198\\.19\\.0\\.2:\\d+ → 198\\.19\\.0\\.3:4789 udp, out ens4, route 198\\.19\\.0\\.0/20 dev ens4, conntrack \\w+\\n`,
      "m",
    ),
  );
  assert.match(
    trace,
    new RegExp(
      `^${database.node}\\n {4}receive in ens4: 198\\.19\\.0\\.2:\\d+ → 198\\.19\\.0\\.3:4789, conntrack \\w+\\n(?: {4}.*\\n)*` +
        ` {2}decapsulate vxlan\\.calico: VXLAN vni 4096 from 198\\.19\\.0\\.2\\n {2}receive in vxlan\\.calico: ${esc(customer.ip)}:\\d+ → ${esc(database.ip)}:2379, `,
      "m",
    ),
  );
  assert.match(trace, /^verdict: delivered /m);

  // Back to the default pool for the next scenario.
  await ok(`calicoctl patch ippool default-ipv4-ippool -p '{"spec":{"disabled":false}}'`);
  await ok("calicoctl delete ippool vxlan-pool");
});

test("IP-IP : VXLAN — an IPIP pool: CrossSubnet routes over ens4 within the subnet, Always through tunl0", async () => {
  const all = await movePodsTo(
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: ipip-pool\nspec:\n" +
      "  cidr: 198.19.28.0/22\n  ipipMode: CrossSubnet\n  natOutgoing: true\n",
  );
  const customer = pod(all, "customer-");
  const database = pod(all, "database-");
  const database26 = database.ip.replace(/\.\d+$/, (last) => `.${Number(last.slice(1)) & ~63}`);

  const { text: links, index } = await node1Links();
  assert.match(
    links,
    new RegExp(
      `^${index.get("tunl0")}: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\n` +
        ` {4}link/ipip 0\\.0\\.0\\.0 brd 0\\.0\\.0\\.0$`,
      "m",
    ),
  );
  assert.doesNotMatch(links, /vxlan\.calico/, "the VXLAN device goes with the last VXLAN pool");
  const node1 = await ok("calicoctl get node node1 -o yaml");
  const tunnelAddress = /^ {4}ipv4IPIPTunnelAddr: (\S+)$/m.exec(node1)?.[1];
  assert.ok(tunnelAddress, node1);
  assert.match(
    await ok("exec node1 -- ip addr show tunl0"),
    new RegExp(` {4}inet ${esc(tunnelAddress)}/32 brd ${esc(tunnelAddress)} scope global tunl0\\n`),
  );

  // CrossSubnet: the nodes share 198.19.0.0/20, so no encapsulation — Felix's routes go straight out of ens4.
  assert.match(
    await ok("exec node1 -- ip route"),
    new RegExp(`^${esc(database26)}/26 via 198\\.19\\.0\\.3 dev ens4 proto 80 $`, "m"),
  );
  assert.doesNotMatch(
    await ok(`trace yaobank/${customer.name} yaobank/${database.name}:2379`),
    /encapsulate/,
  );

  // Always: through tunl0, onlink, and on the wire IPIP (proto 4) between the nodes.
  await ok(`calicoctl patch ippool ipip-pool -p '{"spec":{"ipipMode":"Always"}}'`);
  const ipipRoutes = await ok("exec node1 -- ip route");
  assert.match(
    ipipRoutes,
    new RegExp(`^${esc(database26)}/26 via 198\\.19\\.0\\.3 dev tunl0 proto 80 onlink $`, "m"),
  );
  // Felix programs the IPIP routes (programClusterRoutes EnabledIPIPOnly), so it blackholes node1's own block.
  assert.match(ipipRoutes, /^blackhole 198\.19\.(2[89]|3[01])\.\d+\/26 proto 80 $/m);
  assert.doesNotMatch(ipipRoutes, /^blackhole 198\.19\.(2[89]|3[01])\.\d+\/26 proto bird/m);
  const dump = await tcpdumpWhile(
    "ip proto 4",
    () => trafficFlows(all),
    (out) => /proto IPIP \(4\)/.test(out),
  );
  assert.match(
    dump,
    /^\d\d:\d\d:\d\d\.\d{6} IP \(tos 0x0, ttl \d+, id \d+, offset 0, flags \[DF\], proto IPIP \(4\), length \d+\)\n {4}198\.19\.0\.2 > 198\.19\.0\.[13]: IP \(tos 0x0, ttl \d+, id \d+, offset 0, flags \[DF\], proto TCP \(6\), length \d+\)\n {4}198\.19\.\d+\.\d+\.\d+ > 198\.19\.\d+\.\d+\.\d+: Flags \[/m,
  );
  const trace = await ok(`trace yaobank/${customer.name} yaobank/${database.name}:2379`);
  assert.match(trace, /^ {2}encapsulate tunl0: IPIP to 198\.19\.0\.3 \(outer \d+ bytes\)$/m);
  assert.match(trace, /^ {2}decapsulate tunl0: IPIP from 198\.19\.0\.2$/m);
  assert.match(trace, /^verdict: delivered /m);
});
