/**
 * The commands that show BGP on the sim: `calicoctl node status` (on a node, or with --node), `birdc`/`birdcl`
 * through each host's control socket, `tortie bgp routes` with the filter line that decided, and what the BGP
 * sessions must not leave behind (counters, conntrack). Lab topology, YAO Bank deployed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness, fixture } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\nexit ${r.code}\n${r.err}`);
  return r.out;
}

function wait(seconds: number): void {
  h.now = new Date(h.now.getTime() + seconds * 1000);
}

const GLOBAL_PEER = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 198.19.15.254
  asNumber: 64512
`;

const MESH_ONLY = `Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 198.19.0.1   | node-to-node mesh | up    | 03:04:05 | Established |
| 198.19.0.3   | node-to-node mesh | up    | 03:04:05 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

`;

before(async () => {
  await ok("up");
  await ok(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
});

test("the BGP sessions leave no trace: counters and conntrack do not grow per command", async () => {
  const first = await ok("exec node1 -- iptables-save -c");
  await ok("exec node2 -- ip route");
  await ok("exec host1 -- ip route");
  assert.equal(await ok("exec node1 -- iptables-save -c"), first);
  const ct = await h.run("exec node1 -- conntrack -L");
  assert.deepEqual(
    [ct.out, ct.err],
    ["", "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n"],
  );
  assert.equal(await ok("exec node1 -- ip neigh"), "");
  // BIRD listens on 179 on every host that runs it.
  assert.match(await ok("exec node1 -- ss -tan"), /^LISTEN +0 +\d+ +0\.0\.0\.0:179 +0\.0\.0\.0:\*/m);
});

test("calicoctl node status on a node: the mesh, Established since the sessions came up", async () => {
  // A minute after `up` (03:04:05) the mesh is up, since a time within seconds of `up` (BIRD's timers).
  wait(60);
  const first = await ok("exec node1 -- sudo calicoctl node status");
  const since = /^\| 198\.19\.0\.1 +\| node-to-node mesh \| up {4}\| (03:04:[01]\d) \|/m.exec(first)?.[1];
  assert.ok(since, first);
  const expected = MESH_ONLY.replaceAll("03:04:05", since);
  assert.equal(first, expected);
  // An hour later the sessions are the same ones: SINCE does not move (the state is saved between commands).
  wait(3600);
  assert.equal(await ok("exec node1 -- sudo calicoctl node status"), expected);
  assert.equal(await ok("calicoctl node status --node node1"), expected);
  const shell = await h.run("shell node1", "sudo calicoctl node status\n");
  assert.equal(shell.out, expected);
});

test("calicoctl node status refuses as calicoctl does: no root, no calico-node, no node named", async () => {
  assert.deepEqual(await h.run("exec node1 -- calicoctl node status"), {
    code: 1,
    out: "Need super user privileges: Operation not permitted\n",
    err: "",
  });
  assert.deepEqual(await h.run("exec host1 -- sudo calicoctl node status"), {
    code: 1,
    out: "",
    err: "Calico process is not running.\n",
  });
  const bare = await h.run("calicoctl node status");
  assert.equal(bare.code, 2);
  assert.match(bare.err, /runs on a node: tortie exec NODE -- sudo calicoctl node status/);
  const diags = await h.run("calicoctl node diags");
  assert.deepEqual([diags.code, diags.err], [1, "not supported yet: calicoctl node diags\n"]);
});

test("a global BGPPeer to host1: the sessions come up after it is applied, host1 sees all three nodes", async () => {
  wait(300);
  assert.equal(
    await ok("calicoctl apply -f -", GLOBAL_PEER),
    "Successfully applied 1 'BGPPeer' resource(s)\n",
  );
  // The agents see the new peer (04:10:05: 03:04:05 + 1 min + 1 h + 5 min); BIRD's connect delay and the OPEN
  // exchange take seconds at most, so half a minute later the sessions are up since a time within it.
  await ok("exec node1 -- ip route");
  wait(30);
  const since = "04:10:[0-3]\\d";
  const status = await ok("exec node1 -- sudo calicoctl node status");
  assert.match(status, /^\| 198\.19\.0\.1 {4}\| node-to-node mesh \| up {4}\| 03:04:[01]\d \|/m);
  assert.match(
    status,
    new RegExp(`^\\| 198\\.19\\.15\\.254 \\| global {12}\\| up {4}\\| ${since} \\| Established \\|$`, "m"),
  );
  const protocols = await ok("exec host1 -- sudo birdc show protocol");
  assert.match(protocols, /^BIRD 2\.0\.7 ready\.\nName {7}Proto {6}Table {6}State {2}Since {9}Info\n/);
  for (const n of ["control", "node1", "node2"])
    assert.match(
      protocols,
      new RegExp(`^${n.padEnd(10)} BGP {8}--- {8}up {5}${since}\\.\\d{3}  Established`, "m"),
    );
});

test("birdc and birdcl reach the BIRD of the host they run on, through its control socket", async () => {
  const calico = await ok("exec node1 -- birdcl -s /var/run/calico/bird.ctl show protocols");
  assert.match(
    calico,
    /^BIRD v0\.3\.3\+birdv1\.6\.8 ready\.\nname {5}proto {4}table {4}state {2}since {7}info\n/,
  );
  assert.match(calico, /^Global_198_19_15_254 BGP +master +up +04:10:[0-3]\d +Established/m);
  assert.equal(await ok("exec node1 -- birdcl show protocols"), calico);
  assert.deepEqual(await h.run("exec node1 -- birdcl -s /run/bird/bird.ctl show status"), {
    code: 1,
    out: "",
    err: "Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n",
  });
  const pods = await h.store().list((await import("../../src/control/index.ts")).controlKinds.Pod, "yaobank");
  const customer = pods.find((p) => p.metadata.name!.startsWith("customer"))!.metadata.name!;
  const inPod = await h.run(`exec yaobank/${customer} -- birdc show protocols`);
  assert.equal(inPod.code, 1);
  assert.match(inPod.err, /^Unable to connect to server control socket \(\/var\/run\/bird\/bird\.ctl\)/);
  const interactive = await h.run("exec host1 -- birdc");
  assert.deepEqual(
    [interactive.code, interactive.err],
    [1, "not supported yet: birdc without a command (interactive mode) on the sim dataplane\n"],
  );
  // rt-show.c's 8001 for an address no route covers.
  assert.equal(
    await ok("exec host1 -- birdc show route for 192.0.2.1"),
    "BIRD 2.0.7 ready.\nNetwork not found\n",
  );
});

test("bgp routes: what node1 sends host1 and what host1 accepts, each with the filter line that decided", async () => {
  const sent = JSON.parse(await ok("bgp routes node1 --peer 198.19.15.254 --export -o json"));
  assert.equal(sent.host, "node1");
  assert.equal(sent.peers.length, 1);
  const peer = sent.peers[0];
  assert.deepEqual(
    [peer.protocol, peer.neighbor, peer.as, peer.state, peer.info],
    ["Global_198_19_15_254", "198.19.15.254", 64512, "up", "Established"],
  );
  assert.ok(peer.routes.every((r: { direction: string }) => r.direction === "export"));
  // Prefix order (address, then length), not the order BIRD's table holds them in.
  const key = (net: string) => {
    const [addr, len] = net.split("/");
    return addr!.split(".").reduce((n, o) => n * 256 + Number(o), 0) * 64 + Number(len);
  };
  const nets: string[] = peer.routes.map((r: { net: string }) => r.net);
  assert.ok(nets.length > 3);
  assert.deepEqual(
    nets,
    [...nets].sort((a, b) => key(a) - key(b)),
  );
  const block = peer.routes.find((r: { net: string }) => r.net === "198.19.22.128/26");
  assert.deepEqual(
    [block.verdict, block.dest, block.from, block.file, block.statement],
    ["accept", "blackhole", "static1", "bird_aggr.cfg", "if ( net = 198.19.22.128/26 ) then { accept; }"],
  );
  // host1's import filter keeps the default pool's blocks out: `reject;` at the end of calico_routes.
  const got = JSON.parse(await ok("bgp routes host1 --peer node1 --import -o json"));
  const there = got.peers[0].routes.find((r: { net: string }) => r.net === "198.19.22.128/26");
  assert.deepEqual(
    [there.verdict, there.file, there.line, there.statement],
    ["reject", "bird.conf", 12, "reject;"],
  );
  const text = await ok("bgp routes host1 --peer node1 --import");
  assert.match(text, /^node1: neighbor 198\.19\.0\.2 AS 64512 \(local AS 64512\), up Established\n/);
  assert.match(text, /^import +198\.19\.22\.128\/26 +198\.19\.0\.2 +node1 +reject +bird\.conf:12 +reject;$/m);
  const unknown = await h.run("bgp routes node1 --peer 10.9.9.9");
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.err,
    /^error: node1 has no BGP peer 10\.9\.9\.9 \(its peers: Global_198_19_15_254 198\.19\.15\.254, Mesh_198_19_0_1 198\.19\.0\.1, Mesh_198_19_0_3 198\.19\.0\.3\)\n$/,
  );
});

test("bgp routes -f: the answer with a change laid over the store, nothing stored", async () => {
  const filter = `apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata:
  name: no-blocks-to-host1
spec:
  exportV4:
    - action: Reject
      matchOperator: In
      cidr: 198.19.16.0/20
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 198.19.15.254
  asNumber: 64512
  filters:
    - no-blocks-to-host1
`;
  const { writeFileSync } = await import("node:fs");
  const file = `${h.stateDir}/filter.yaml`;
  writeFileSync(file, filter);
  const before = JSON.parse(await ok("bgp routes node1 --peer Global_198_19_15_254 --export -o json"));
  const after = JSON.parse(
    await ok(`bgp routes node1 --peer Global_198_19_15_254 --export -f ${file} -o json`),
  );
  const verdict = (answer: typeof before) =>
    answer.peers[0].routes.find((r: { net: string }) => r.net === "198.19.22.128/26");
  assert.equal(verdict(before).verdict, "accept");
  assert.equal(verdict(after).verdict, "reject");
  assert.equal(verdict(after).file, "bird.cfg");
  assert.match(verdict(after).statement, /reject/);
  // Nothing was stored: the filter does not exist and the peer has no filters.
  assert.equal((await h.run("calicoctl get bgpfilter no-blocks-to-host1")).code, 1);
  assert.doesNotMatch(await ok("calicoctl get bgppeer bgppeer-global-host1 -o yaml"), /filters/);
  assert.deepEqual(
    verdict(JSON.parse(await ok("bgp routes node1 --peer Global_198_19_15_254 --export -o json"))),
    verdict(before),
  );
});

test("a BGP configuration BIRD refuses stops BIRD on every node: no routes between nodes, and the user is told", async () => {
  const h2 = new CliHarness();
  try {
    assert.equal((await h2.run("up")).code, 0);
    const bad = `apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: bad-community}
spec:
  exportV4:
  - action: Accept
    matchOperator: In
    cidr: 198.19.0.0/16
    operations:
    - addCommunity: {value: "99999999:1"}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: host1}
spec: {peerIP: 198.19.15.254, asNumber: 64512, filters: [bad-community]}
`;
    assert.equal((await h2.run("calicoctl apply -f -", bad)).code, 0);
    const routes = await h2.run("exec node1 -- ip route");
    assert.equal(routes.code, 0);
    // No `proto bird` routes and no `proto static` stand-ins: the other nodes' blocks are unreachable.
    assert.equal(
      routes.out,
      "default via 198.19.15.254 dev ens4 proto static metric 100 \n198.19.0.0/20 dev ens4 proto kernel scope link src 198.19.0.2 \n",
    );
    assert.match(
      routes.err,
      /^tortie: not programmed on the sim: BGP on node1: BIRD refused its configuration: bird\.cfg:\d+:\d+ Can't operate with value out of bounds in pair constructor$/m,
    );
    assert.equal(
      (await h2.run("exec node1 -- sudo calicoctl node status")).out,
      "Calico process is running.\n\nThe BGP backend process (BIRD) is not running.\n\n",
    );
    assert.match(
      (await h2.run("status")).out,
      /; BIRD not running on control, node1, node2 \(tortie exec says why\)\n/,
    );
    const why = await h2.run("bgp routes node1");
    assert.equal(why.code, 1);
    assert.match(why.err, /^error: node1 runs no BIRD: BIRD refused its configuration: bird\.cfg:/);
  } finally {
    h2.cleanup();
  }
});

test("down forgets the dataplane: after a new up, BIRD and its sessions start again", async () => {
  const h3 = new CliHarness();
  try {
    assert.equal((await h3.run("up")).code, 0);
    h3.now = new Date(h3.now.getTime() + 2 * 3600 * 1000);
    assert.equal((await h3.run("down")).code, 0);
    assert.equal((await h3.run("up")).code, 0);
    h3.now = new Date(h3.now.getTime() + 60 * 1000);
    const status = await h3.run("exec node1 -- sudo calicoctl node status");
    assert.match(
      status.out,
      /^\| 198\.19\.0\.1 +\| node-to-node mesh \| up +\| 05:04:[01]\d \| Established \|$/m,
    );
    // The virtual clock starts again with the new cluster: BIRD's time is the wall clock's.
    const clock = await h3.run("exec host1 -- sudo birdc show status");
    assert.match(
      clock.out,
      /^Current server time is 2026-01-02 05:05:05\.000\nLast reboot on 2026-01-02 05:04:05\.000$/m,
    );
  } finally {
    h3.cleanup();
  }
});
