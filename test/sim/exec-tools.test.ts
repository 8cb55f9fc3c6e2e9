import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { assertGolden, CliHarness, fixture } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());
let customer = "";

async function podName(prefix: string): Promise<string> {
  const pods = await h.store().list(controlKinds.Pod, "yaobank");
  return pods.map((p) => p.metadata.name!).find((n) => n.startsWith(prefix))!;
}

async function ok(line: string): Promise<string> {
  const r = await h.run(line);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  return r.out;
}

before(async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  customer = await podName("customer");
});

test("sudo runs the command (seed 004 types it), accepts harmless flags and refuses the rest plainly", async () => {
  const list = "iptables -v --numeric --table nat --list KUBE-SERVICES";
  const plain = await ok(`exec node1 -- ${list}`);
  assert.equal(await ok(`exec node1 -- sudo ${list}`), plain);
  assert.equal(await ok(`exec node1 -- sudo -E -n -- ${list}`), plain);
  assert.equal(await ok(`exec node1 -- sudo -u root ${list}`), plain);
  assert.equal(
    await ok(`kubectl exec ${customer} -n yaobank -- sudo ip route`),
    await ok(`kubectl exec ${customer} -n yaobank -- ip route`),
  );
  const other = await h.run("exec node1 -- sudo -u bob ip route");
  assert.equal(other.code, 1);
  assert.equal(other.err, "not supported yet: sudo -u bob on the sim dataplane (commands run as root)\n");
  const login = await h.run("exec node1 -- sudo -i ip route");
  assert.equal(login.err, "not supported yet: sudo -i on the sim dataplane\n");
  const bare = await h.run("exec node1 -- sudo -E");
  assert.equal(bare.code, 1);
  assert.equal(bare.err, "usage: sudo [-EHkn] [-u root] [VAR=value] command [arg ...]\n");
  // A missing chain is iptables' own error, through sudo too.
  const missing = await h.run("exec node1 -- sudo iptables -t nat -L NOPE");
  assert.equal(missing.err, "iptables: No chain/target/match by that name.\n");
});

test("ip link/addr read like iproute2 6.1 and seed 002: eth0@ifN link-netnsid 0 in a pod, cali…@ifN link-netns cni-… on the host", async () => {
  const podLinks = await ok(`kubectl exec ${customer} -n yaobank -- ip link show up`);
  assertGolden("sim-pod-ip-link-show-up.txt", podLinks);
  assert.match(
    podLinks,
    /^2: eth0@if\d+: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu \d+ qdisc noqueue state UP mode DEFAULT group default \n {4}link\/ether [0-9a-f:]{17} brd ff:ff:ff:ff:ff:ff link-netnsid 0$/m,
  );
  assertGolden(
    "sim-pod-ip-c-link-show-up.txt",
    await ok(`kubectl exec ${customer} -n yaobank -- ip -c link show up`),
  );
  assertGolden("sim-pod-ip-addr.txt", await ok(`kubectl exec ${customer} -n yaobank -- ip addr`));
  const hostLinks = await ok("exec node1 -- ip -c link show up");
  assertGolden("sim-node1-ip-c-link-show-up.txt", hostLinks);
  // The pod's eth0 names its peer's index on the host, and the host's cali end names the pod's eth0.
  const peerIndex = /eth0@if(\d+):/.exec(podLinks)![1];
  const plainHost = await ok("exec node1 -- ip link show up");
  const caliLine = plainHost.split("\n").find((l) => l.startsWith(`${peerIndex}: cali`));
  assert.ok(caliLine, `no cali link with index ${peerIndex}:\n${plainHost}`);
  assert.match(caliLine, /^\d+: cali[0-9a-f]{11}@if2: .* mode DEFAULT group default $/);
  assert.match(
    plainHost,
    /link\/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n/,
  );
  assertGolden("sim-node1-ip-addr.txt", await ok("exec node1 -- ip a"));
  assert.equal(
    await ok("exec node1 -- ip link show dev ens4"),
    `${plainHost.split("\n").slice(2, 4).join("\n")}\n`,
  );
  const none = await h.run("exec node1 -- ip link show eth9");
  assert.equal(none.code, 1);
  assert.equal(none.err, 'Device "eth9" does not exist.\n');
});

test("ip rule lists the three default rules, tab-separated", async () => {
  const expected =
    "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n";
  assert.equal(await ok("exec node1 -- ip rule"), expected);
  assert.equal(await ok(`kubectl exec ${customer} -n yaobank -- ip rule show`), expected);
  assert.equal(await ok("exec node1 -- ip ru list"), expected);
});

test("ip neigh shows what neighbour resolution learned, REACHABLE then STALE as the virtual clock moves on", async () => {
  const start = h.now;
  try {
    assert.equal(await ok(`kubectl exec ${customer} -n yaobank -- ip neigh`), "");
    await ok("exec host1 -- curl 198.19.0.1:30180");
    // customer called summary: its only neighbour is Calico's gateway, answered by proxy ARP on the cali end.
    assert.equal(
      await ok(`kubectl exec ${customer} -n yaobank -- ip neigh`),
      "169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee REACHABLE \n",
    );
    assert.equal(
      await ok(`kubectl exec ${customer} -n yaobank -- ip -c neigh show dev eth0`),
      "\x1b[35m169.254.1.1 \x1b[0mlladdr \x1b[33mee:ee:ee:ee:ee:ee \x1b[0mREACHABLE \n",
    );
    const control = await ok("exec control -- ip neigh");
    assert.match(control, /^198\.19\.15\.254 dev ens4 lladdr [0-9a-f:]{17} REACHABLE $/m);
    h.now = new Date(start.getTime() + 60_000);
    assert.equal(
      await ok(`kubectl exec ${customer} -n yaobank -- ip neigh`),
      "169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee STALE \n",
    );
    const bad = await h.run("exec node1 -- ip neigh show dev nope0");
    assert.equal(bad.err, 'Cannot find device "nope0"\n');
  } finally {
    h.now = start;
  }
});

test("ss -tan / -uan list the namespace's sockets in ss's column layout", async () => {
  assertGolden("sim-customer-ss-tan.txt", await ok(`kubectl exec ${customer} -n yaobank -- ss -tan`));
  assert.equal(
    await ok(`kubectl exec ${customer} -n yaobank -- ss -tan`),
    [
      "State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess",
      "LISTEN 0      4096         0.0.0.0:80        0.0.0.0:*          ",
      "",
    ].join("\n"),
  );
  const database = await podName("database");
  assert.match(
    await ok(`kubectl exec ${database} -n yaobank -- ss -tln`),
    /^LISTEN 0 {6}4096 {9}0\.0\.0\.0:2379 {6}0\.0\.0\.0:\* {10}$/m,
  );
  // Without -a or -l only connected sockets show; the sim keeps none between commands.
  assert.equal(
    await ok(`kubectl exec ${customer} -n yaobank -- ss -tn`),
    "State Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n",
  );
  const dns = (await h.store().list(controlKinds.Pod, "kube-system")).find((p) =>
    p.metadata.name!.startsWith("coredns"),
  );
  assert.ok(dns, "no coredns pod");
  {
    const both = await ok(`kubectl exec ${dns.metadata.name} -n kube-system -- ss -tuan`);
    assertGolden("sim-coredns-ss-tuan.txt", both);
    assert.match(both, /^Netid State {2}Recv-Q Send-Q Local Address:Port Peer Address:PortProcess\n/);
    assert.match(both, /^udp {3}UNCONN 0 {6}0 {12}0\.0\.0\.0:53 {8}0\.0\.0\.0:\* {10}$/m);
  }
  const names = await h.run(`kubectl exec ${customer} -n yaobank -- ss -ta`);
  assert.equal(names.code, 1);
  assert.match(names.err, /not supported yet: ss without -n/);
});
