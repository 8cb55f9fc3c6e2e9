/**
 * The node-to-node mesh carries the routes between pods on different nodes (seed 002, "How Hosts Route Pod Traffic":
 * "routes labeled proto bird … to pods on other nodes that Calico has learned over BGP"). Turning the mesh off with
 * no route reflector breaks pod-to-pod traffic across nodes, as on Calico; making node1 a route reflector, the way
 * Calico's docs do it (routeReflectorClusterID, a label, a BGPPeer from all() to has(route-reflector)), restores it.
 * Lab topology with YAO Bank: customer on node1, database on node2 (`tortie up --app yaobank`).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";
import { DEFAULT_NODE_POLICY } from "../policy/seed-manifests.ts";
import { nodeStatusPattern, ok, podFromWide, routeEntries, seedRoutes, wait } from "./bgp-helpers.ts";

const h = new CliHarness();
after(() => h.cleanup());

let customer = "";
let database = { name: "", ip: "", node: "" };
let remoteBlocksOnNode1: string[] = [];

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  const pods = await ok(h, "kubectl get pods -n yaobank -o wide");
  customer = podFromWide(pods, "customer-").name;
  database = podFromWide(pods, "database-");
  assert.equal(database.node, "node2");
  wait(h, 60);
});

/** customer (node1) to the database pod (node2) by its pod IP: no service, no NAT, just the routes between nodes. */
async function crossNode(): Promise<{ code: number; out: string; err: string }> {
  return h.run(
    `kubectl exec -n yaobank ${customer} -- curl --connect-timeout 3 http://${database.ip}:2379/v2/keys?recursive=true`,
  );
}
async function assertCrossNodeWorks(when: string): Promise<void> {
  const r = await crossNode();
  assert.equal(r.code, 0, `customer -> database ${when}: ${r.err}`);
  assert.match(r.out, /"action":"get"/);
  const ping = await h.run(`kubectl exec -n yaobank ${customer} -- ping -c 1 ${database.ip}`);
  assert.equal(ping.code, 0, `ping ${database.ip} ${when}: ${ping.out}${ping.err}`);
  assert.match(ping.out, /1 packets transmitted, 1 received, 0% packet loss/);
}
async function assertCrossNodeFails(when: string): Promise<void> {
  const r = await crossNode();
  // Which error depends on where the packet dies (host1, node1's default router, has no route for it: an ICMP
  // unreachable, curl's 7; or dropped: a timeout, 28). It must not connect.
  assert.ok([7, 28].includes(r.code), `customer -> database ${when}: exit ${r.code}, ${r.out}${r.err}`);
  assert.doesNotMatch(r.out, /"action":"get"/);
  const ping = await h.run(`kubectl exec -n yaobank ${customer} -- ping -c 1 ${database.ip}`);
  assert.equal(ping.code, 1, `ping ${database.ip} ${when}: ${ping.out}${ping.err}`);
}

/** A node's routes to other nodes' blocks: `<block> via <node> dev ens4 proto bird metric 1024` (see below). */
function blockRoutes(listing: string): string[] {
  return routeEntries(listing).filter((e) =>
    / via 198\.19\.0\.\d+ dev ens4 proto bird( metric \d+)?$/.test(e),
  );
}

test("with the mesh: node1's ip route is seed 002's — other nodes' /26 blocks proto bird, its own a bird blackhole", async () => {
  const out = await ok(h, "exec node1 -- ip route");
  // Seed 002 lines 784–796, its DHCP NIC left out (not Calico's), eth0 as ens4, and only the pods of this lab (the
  // seed had five on node1; the /32 lines are Felix's, named after each pod). The block addresses are IPAM's and the
  // lab's IPAM gives the seed's. One difference is Calico's own: today's confd (the golden vectors in
  // test/fixtures/confd) sets krt_metric 1024 (ipv4NormalRoutePriority) on every route learned over BGP before BIRD
  // programs it, so the routes read `proto bird metric 1024`; the seed's older Calico set none. Its blackhole (a
  // static route, not BGP) has no metric, as in the seed.
  const calicoLines = seedRoutes(
    `default via 192.168.44.65 dev eth0 proto dhcp src 192.168.44.75 metric 100
192.168.44.64/28 dev eth0 proto kernel scope link src 192.168.44.75
192.168.44.65 dev eth0 proto dhcp scope link src 192.168.44.75 metric 100
198.19.0.0/20 dev eth0 proto kernel scope link src 198.19.0.2
198.19.21.0/26 via 198.19.0.1 dev eth0 proto bird metric 1024
198.19.21.64/26 via 198.19.0.3 dev eth0 proto bird metric 1024
blackhole 198.19.22.128/26 proto bird`,
    { drop: [/proto dhcp/, /^192\.168\./], rename: ["eth0", "ens4"] },
  );
  const entries = routeEntries(out).filter((e) => !/ dev cali[0-9a-f]{11} scope link metric 1024$/.test(e));
  // node1's default route via host1 is the topology's (the seed's came from DHCP on the other NIC).
  assert.deepEqual(
    entries.filter((e) => !e.startsWith("default ")),
    calicoLines,
    out,
  );
  remoteBlocksOnNode1 = blockRoutes(out);
  assert.equal(remoteBlocksOnNode1.length, 2, out);
  await assertCrossNodeWorks("with the mesh");
});

test("mesh off, no route reflector: the sessions go, the proto bird block routes go, pod-to-pod across nodes fails", async () => {
  assert.equal(
    await ok(h, `calicoctl patch bgpconfig default -p '{"spec": {"nodeToNodeMeshEnabled": false}}'`),
    "Successfully patched 1 'BGPConfiguration' resource\n",
  );
  wait(h, 5);
  assert.equal(
    await ok(h, "exec node1 -- sudo calicoctl node status"),
    "Calico process is running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n",
  );
  const out = await ok(h, "exec node1 -- ip route");
  assert.deepEqual(blockRoutes(out), [], `node1 still routes other nodes' blocks:\n${out}`);
  // Its own block stays: BIRD's static protocol still programs the blackhole.
  assert.ok(routeEntries(out).includes("blackhole 198.19.22.128/26 proto bird"), out);
  const node2 = await ok(h, "exec node2 -- ip route");
  assert.deepEqual(blockRoutes(node2), [], `node2 still routes other nodes' blocks:\n${node2}`);
  await assertCrossNodeFails("with the mesh off");
});

test("node1 as a route reflector (Calico's docs): sessions to it, the block routes back, pod-to-pod works again", async () => {
  assert.equal(
    await ok(h, `calicoctl patch node node1 -p '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'`),
    "Successfully patched 1 'Node' resource\n",
  );
  assert.equal(await ok(h, "kubectl label node node1 route-reflector=true"), "node/node1 labeled\n");
  assert.equal(
    await ok(
      h,
      "calicoctl apply -f -",
      `kind: BGPPeer
apiVersion: projectcalico.org/v3
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: all()
  peerSelector: has(route-reflector)
`,
    ),
    "Successfully applied 1 'BGPPeer' resource(s)\n",
  );
  wait(h, 30);
  // The reflector peers with both other nodes (not with itself); they peer with it only.
  assert.match(
    await ok(h, "exec node1 -- sudo calicoctl node status"),
    nodeStatusPattern([
      { peer: "198.19.0.1", type: "node specific" },
      { peer: "198.19.0.3", type: "node specific" },
    ]),
  );
  assert.match(
    await ok(h, "exec node2 -- sudo calicoctl node status"),
    nodeStatusPattern([{ peer: "198.19.0.2", type: "node specific" }]),
  );
  // node1 learns both blocks directly; node2 learns control's block reflected by node1, its next hop kept (control).
  const out = await ok(h, "exec node1 -- ip route");
  assert.deepEqual(blockRoutes(out), remoteBlocksOnNode1, out);
  const node2 = await ok(h, "exec node2 -- ip route");
  assert.ok(
    blockRoutes(node2).includes("198.19.21.0/26 via 198.19.0.1 dev ens4 proto bird metric 1024"),
    node2,
  );
  assert.ok(
    blockRoutes(node2).includes("198.19.22.128/26 via 198.19.0.2 dev ens4 proto bird metric 1024"),
    node2,
  );
  await assertCrossNodeWorks("through the route reflector");
});

test("a new session takes BIRD's timers on the virtual clock: not up the moment the BGPPeer is applied", async () => {
  // Issue 14: sessions go Idle → Connect → Established with BIRD's timers. Calico's bgp_template has
  // `connect delay time 2`, so for the first 2 s BIRD shows the new protocol `start` / `Idle` (then Connect, Active).
  const clock = (out: string) =>
    /^Current server time is \d{4}-\d\d-\d\d (\d\d:\d\d:\d\d)\.\d{3}$/m.exec(out)?.[1];
  const applied = clock(await ok(h, "exec host1 -- sudo birdc show status"));
  assert.ok(applied);
  assert.equal(
    await ok(
      h,
      "calicoctl apply -f -",
      "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: bgppeer-global-host1\nspec:\n  peerIP: 198.19.15.254\n  asNumber: 64512\n",
    ),
    "Successfully applied 1 'BGPPeer' resource(s)\n",
  );
  const now = await ok(h, "exec node2 -- sudo calicoctl node status");
  assert.match(
    now,
    /^\| 198\.19\.15\.254 \| global +\| start \| \d\d:\d\d:\d\d \| (Idle|Connect|Active) +\|$/m,
    now,
  );
  wait(h, 30);
  const later = await ok(h, "exec node2 -- sudo calicoctl node status");
  const m = /^\| 198\.19\.15\.254 \| global +\| up +\| (\d\d:\d\d:\d\d) \| Established \|$/m.exec(later);
  assert.ok(m, later);
  // Up a few seconds after the apply (connect delay, then TCP and the OPEN exchange), not at the apply, nor when looked at.
  const secs = (t: string) => t.split(":").reduce((a, x) => a * 60 + Number(x), 0);
  const after = secs(m[1]!) - secs(applied);
  assert.ok(after >= 2 && after <= 10, `Established ${after} s after the apply (${applied} → ${m[1]})`);
});

test("BIRD has run since `tortie up`: its start and the mesh sessions date from then, not from a later command", async () => {
  // A fresh lab, left alone for a minute after `up` before anyone looks (as in every seed).
  const fresh = new CliHarness();
  try {
    assert.equal((await fresh.run("up")).code, 0);
    wait(fresh, 60);
    const status = await ok(fresh, "exec host1 -- sudo birdc show status");
    assert.match(status, /^Last reboot on 2026-01-02 03:04:0\d\.\d{3}$/m, status);
    const mesh = await ok(fresh, "exec node1 -- sudo calicoctl node status");
    for (const peer of ["198\\.19\\.0\\.1", "198\\.19\\.0\\.3"])
      assert.match(
        mesh,
        new RegExp(`^\\| ${peer} +\\| node-to-node mesh \\| up +\\| 03:04:[01]\\d \\| Established \\|$`, "m"),
        mesh,
      );
  } finally {
    fresh.cleanup();
  }
});

test("BGP runs over TCP 179 through the nodes' netfilter: failsafe keeps the mesh up under host protection, removing 179 from it ends the mesh after the hold time", async () => {
  const lab = new CliHarness();
  try {
    assert.equal((await lab.run("up --app yaobank")).code, 0);
    wait(lab, 60);
    const pods = await ok(lab, "kubectl get pods -n yaobank -o wide");
    const from = podFromWide(pods, "customer-").name;
    const to = podFromWide(pods, "database-").ip;
    const cross = () =>
      lab.run(
        `kubectl exec -n yaobank ${from} -- curl --connect-timeout 3 http://${to}:2379/v2/keys?recursive=true`,
      );
    // Seed 002's "Protecting Hosts": default-node-policy, then host endpoints on every node.
    await ok(lab, "calicoctl apply -f -", DEFAULT_NODE_POLICY);
    await ok(
      lab,
      `calicoctl patch kubecontrollersconfiguration default --patch='{"spec": {"controllers": {"node": {"hostEndpoint": {"autoCreate": "Enabled"}}}}}'`,
    );
    wait(lab, 300); // longer than BIRD's hold time (240 s)
    // Felix's default failsafe ports include TCP 179 both ways: the mesh stays up, pods still reach each other.
    assert.match(
      await ok(lab, "exec node1 -- sudo calicoctl node status"),
      nodeStatusPattern([
        { peer: "198.19.0.1", type: "node-to-node mesh" },
        { peer: "198.19.0.3", type: "node-to-node mesh" },
      ]),
    );
    assert.equal((await cross()).code, 0);

    // Without 179 in the failsafe ports, default-node-policy (ingress from 127.0.0.1 only) refuses the peers'
    // connections. BIRD notices when the hold timer expires, not before.
    await ok(
      lab,
      `calicoctl patch felixconfiguration default --patch='{"spec": {"failsafeInboundHostPorts": [{"protocol": "tcp", "port": 22}], "failsafeOutboundHostPorts": [{"protocol": "tcp", "port": 22}]}}'`,
    );
    wait(lab, 10);
    assert.match(
      await ok(lab, "exec node1 -- sudo calicoctl node status"),
      /^\| 198\.19\.0\.1 +\| node-to-node mesh \| up +\| \d\d:\d\d:\d\d \| Established \|$/m,
    );
    wait(lab, 300);
    const down = await ok(lab, "exec node1 -- sudo calicoctl node status");
    for (const peer of ["198\\.19\\.0\\.1", "198\\.19\\.0\\.3"])
      assert.match(
        down,
        new RegExp(
          `^\\| ${peer} +\\| node-to-node mesh \\| start \\| \\d\\d:\\d\\d:\\d\\d \\| (Idle|Connect|Active)\\b[^|]*\\|$`,
          "m",
        ),
        down,
      );
    assert.match(down, /Hold timer expired/);
    const routes = await ok(lab, "exec node1 -- ip route");
    assert.deepEqual(blockRoutes(routes), [], routes);
    assert.ok(routeEntries(routes).includes("blackhole 198.19.22.128/26 proto bird"), routes);
    const r = await cross();
    assert.ok([7, 28].includes(r.code), `customer -> database with the mesh down: exit ${r.code} ${r.err}`);
  } finally {
    lab.cleanup();
  }
});
