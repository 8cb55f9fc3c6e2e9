/**
 * Seed 002's "BGP Peering" (lines ~951–1180) and "Introduction to Advertising Services" (~1658–1830), typed line by
 * line on the seed's lab (`tortie up --app yaobank`): `calicoctl`/`kubectl` as the seed types them on host1,
 * `sudo calicoctl node status` on node1 (`tortie exec node1 -- …`), `ip route` and `curl` on host1.
 * host1 is the lab's BIRD 2 router (../shared/lab/README.md): iBGP with control, node1 and node2, importing only
 * exactly 198.19.48.0/20 and what is inside 198.19.32.0/20 and 198.19.24.0/21.
 *
 * Differences from the seed's text, each explained where it is checked:
 * - the seed's VMs have a second NIC with a DHCP default route (192.168.159.x); those lines are not Calico's and
 *   the lab topology has no such NIC. The seed's interface eth0 is the topology's ens4.
 * - `kubectl apply -f https://raw.githubusercontent.com/tigera/ccol1/main/nginx.yaml` is the same file from
 *   test/fixtures/lab/nginx.yaml (the sim has no internet).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness, fixture } from "../cli/harness.ts";
import {
  assertNginxPage,
  assertRoutes,
  blockOf,
  EXTERNAL_NS,
  EXTERNAL_POOL,
  GLOBAL_PEER,
  nodeStatusPattern,
  ok,
  podFromWide,
  seedRoutes,
  wait,
  YAOBANK_PAGE,
} from "./bgp-helpers.ts";

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  wait(h, 60); // the lab has been up a while before this section
});

const SERVICE_CLUSTER_IPS = `---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  serviceClusterIPs:
  - cidr: "198.19.32.0/20"
`;

/** What is not Calico's in the seed's host1 listings: the VM's DHCP NIC. */
const HOST1_ENV = {
  drop: [/proto dhcp/, /^192\.168\.159\.112\/28 /],
  rename: ["eth0", "ens4"] as [string, string],
};

let nginxIp = "";
let customerClusterIp = "";

test("BGP Peering: the external pool, node1 peering only with the mesh, then with host1 too", async () => {
  assert.equal(
    await ok(h, "calicoctl get ippools"),
    "NAME                  CIDR             SELECTOR   \ndefault-ipv4-ippool   198.19.16.0/21   all()      \n\n",
  );
  // `cat <<EOF | calicoctl apply -f -` (the seed's "<--------- New CIDR" is its annotation, not typed).
  assert.equal(
    await ok(h, "calicoctl apply -f -", EXTERNAL_POOL),
    "Successfully applied 1 'IPPool' resource(s)\n",
  );
  assert.equal(
    await ok(h, "calicoctl get ippools"),
    "NAME                  CIDR             SELECTOR   \n" +
      "default-ipv4-ippool   198.19.16.0/21   all()      \n" +
      "external-pool         198.19.24.0/21   !all()     \n\n",
  );

  // "Examine BGP peering status": node1 peers with control and node2 only.
  const before = await ok(h, "exec node1 -- sudo calicoctl node status");
  assert.match(
    before,
    nodeStatusPattern([
      { peer: "198.19.0.1", type: "node-to-node mesh" },
      { peer: "198.19.0.3", type: "node-to-node mesh" },
    ]),
  );

  assert.equal(
    await ok(h, "calicoctl apply -f -", GLOBAL_PEER),
    "Successfully applied 1 'BGPPeer' resource(s)\n",
  );
  wait(h, 30); // "Switch to node1 again"
  // As the seed: the mesh peers, then the global one. confd sorts peers by name (Global_… first), but BIRD 1.6 appends
  // a protocol a reconfiguration adds to the end of its list, which `show protocols` walks.
  const after = await ok(h, "exec node1 -- sudo calicoctl node status");
  assert.match(
    after,
    nodeStatusPattern([
      { peer: "198.19.0.1", type: "node-to-node mesh" },
      { peer: "198.19.0.3", type: "node-to-node mesh" },
      { peer: "198.19.15.254", type: "global" },
    ]),
  );
  // The same table without logging in to node1 (issue 14: `tortie calicoctl node status --node node1`).
  assert.equal(await ok(h, "calicoctl node status --node node1"), after);
  // The mesh sessions did not flap when the global peer was added: their SINCE is unchanged.
  const since = (out: string, peer: string) =>
    new RegExp(`^\\| ${peer.replaceAll(".", "\\.")} +\\| [^|]+\\| [^|]+\\| ([^|]+?) +\\|`, "m").exec(
      out,
    )?.[1];
  assert.equal(since(after, "198.19.0.1"), since(before, "198.19.0.1"));
  assert.equal(since(after, "198.19.0.3"), since(before, "198.19.0.3"));
  // As in the seed (04:04:45 then 04:09:36), the global session came up after the mesh, when the peer was added.
  assert.ok(since(after, "198.19.15.254")! > since(after, "198.19.0.1")!, after);
});

test("BGP Peering: external-ns, nginx from the external pool, reachable from host1 by its pod IP", async () => {
  assert.equal(await ok(h, "kubectl apply -f -", EXTERNAL_NS), "namespace/external-ns created\n");
  assert.equal(
    await ok(h, `kubectl apply -f ${fixture("lab/nginx.yaml")}`),
    "deployment.apps/nginx created\nnetworkpolicy.networking.k8s.io/nginx created\n",
  );
  const nginx = podFromWide(await ok(h, "kubectl get pods -n external-ns -o wide"), "nginx-");
  nginxIp = nginx.ip;
  // The seed's pod got 198.19.28.208, the first address of a /29 block of the external pool; ours is IPAM's choice.
  assert.match(nginxIp, /^198\.19\.(2[4-9]|3[01])\.\d+$/);
  assert.equal(nginx.node, "node1");
  wait(h, 10);

  const page = await h.run(`exec host1 -- curl ${nginxIp}`);
  assert.equal(page.code, 0, `curl ${nginxIp} from host1: ${page.err}`);
  assertNginxPage(page.out);

  // "Check Calico IPAM allocations statistics": the external pool's one address in use.
  const ipam = await ok(h, "calicoctl ipam show");
  assert.match(
    ipam,
    /^\+----------\+----------------\+-----------\+------------\+-------------\+\n\| GROUPING \| {6}CIDR {6}\| IPS TOTAL \| IPS IN USE \| {2}IPS FREE {3}\|\n/,
  );
  assert.match(
    ipam,
    /^\| IP Pool {2}\| 198\.19\.16\.0\/21 \| {6}2048 \| \d+ \(\d+%\) +\| \d+ \(\d+%\) +\|$/m,
  );
  assert.match(ipam, /^\| IP Pool {2}\| 198\.19\.24\.0\/21 \| {6}2048 \| 1 \(0%\) {5}\| 2047 \(100%\) \|$/m);
});

test("Advertise Cluster IP Range: host1 learns 198.19.32.0/20 via the three nodes (ECMP) and reaches a cluster IP", async () => {
  assert.ok(nginxIp, "needs the nginx pod of the previous test");
  const nginxBlock = blockOf(nginxIp, 29);
  // The seed's first listing, its pod IP replaced by ours.
  await assertRoutes(
    h,
    "host1",
    seedRoutes(
      `default via 192.168.159.113 dev eth0 proto dhcp src 192.168.159.121 metric 100
192.168.159.112/28 dev eth0 proto kernel scope link src 192.168.159.121
192.168.159.113 dev eth0 proto dhcp scope link src 192.168.159.121 metric 100
198.19.0.0/20 dev eth0 proto kernel scope link src 198.19.15.254
198.19.28.208/29 via 198.19.0.2 dev eth0 proto bird`.replace("198.19.28.208/29", nginxBlock),
      HOST1_ENV,
    ),
    "before serviceClusterIPs",
  );

  assert.equal(
    await ok(h, "calicoctl apply -f -", SERVICE_CLUSTER_IPS),
    "Successfully applied 1 'BGPConfiguration' resource(s)\n",
  );
  assert.match(
    await ok(h, "calicoctl get bgpconfig default -o yaml"),
    /^apiVersion: projectcalico\.org\/v3\nkind: BGPConfiguration\nmetadata:\n {2}creationTimestamp: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\n {2}name: default\n {2}resourceVersion: "\d+"\n {2}uid: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\nspec:\n {2}serviceClusterIPs:\n {2}- cidr: 198\.19\.32\.0\/20\n$/,
  );
  wait(h, 10);
  await assertRoutes(
    h,
    "host1",
    seedRoutes(
      `default via 192.168.159.113 dev eth0 proto dhcp src 192.168.159.117 metric 100
192.168.159.112/28 dev eth0 proto kernel scope link src 192.168.159.117
192.168.159.113 dev eth0 proto dhcp scope link src 192.168.159.117 metric 100
198.19.0.0/20 dev eth0 proto kernel scope link src 198.19.15.254
198.19.28.208/29 via 198.19.0.2 dev eth0 proto bird
198.19.32.0/20 proto bird
        nexthop via 198.19.0.1 dev eth0 weight 1
        nexthop via 198.19.0.2 dev eth0 weight 1
        nexthop via 198.19.0.3 dev eth0 weight 1`.replace("198.19.28.208/29", nginxBlock),
      HOST1_ENV,
    ),
    "after serviceClusterIPs",
  );

  const svc = await ok(h, "kubectl get svc -n yaobank customer");
  const m =
    /^NAME {7}TYPE {7}CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE\ncustomer {3}NodePort {3}(198\.19\.(?:3[2-9]|4[0-7])\.\d+) +<none> +80:30180\/TCP +\S+\n$/.exec(
      svc,
    );
  assert.ok(m, svc);
  customerClusterIp = m[1]!;
  // ECMP spreads flows by their hash: several connections (new source ports) all reach a node that serves it.
  for (let i = 0; i < 6; i++) {
    const r = await h.run(`exec host1 -- curl ${customerClusterIp}`);
    assert.equal(r.code, 0, `curl ${customerClusterIp} #${i + 1} from host1: ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }
});

test("Advertise External IPs: 198.19.48.0/20 via the three nodes, then the customer's external IP answers from host1", async () => {
  assert.ok(
    nginxIp && customerClusterIp,
    "needs the nginx pod and the customer's cluster IP of the previous tests",
  );
  const svcs = await ok(h, "kubectl get svc -n yaobank");
  // kubectl sorts by name; the seed's listing (database, summary, customer) came from another kubectl's order.
  assert.match(
    svcs,
    /^NAME {7}TYPE {8}CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE\ncustomer {3}NodePort {4}198\.19\.\S+ +<none> +80:30180\/TCP +\S+\ndatabase {3}ClusterIP {3}198\.19\.\S+ +<none> +2379\/TCP +\S+\nsummary {4}ClusterIP {3}198\.19\.\S+ +<none> +80\/TCP +\S+\n$/,
  );

  assert.equal(
    await ok(
      h,
      `calicoctl patch BGPConfig default --patch '{"spec": {"serviceExternalIPs": [{"cidr": "198.19.48.0/20"}]}}'`,
    ),
    "Successfully patched 1 'BGPConfiguration' resource\n",
  );
  wait(h, 10);
  const nginxBlock = blockOf(nginxIp, 29);
  const seedListing = `default via 192.168.159.113 dev eth0 proto dhcp src 192.168.159.117 metric 100
192.168.159.112/28 dev eth0 proto kernel scope link src 192.168.159.117
192.168.159.113 dev eth0 proto dhcp scope link src 192.168.159.117 metric 100
198.19.0.0/20 dev eth0 proto kernel scope link src 198.19.15.254
198.19.28.208/29 via 198.19.0.2 dev eth0 proto bird
198.19.32.0/20 proto bird
        nexthop via 198.19.0.1 dev eth0 weight 1
        nexthop via 198.19.0.2 dev eth0 weight 1
        nexthop via 198.19.0.3 dev eth0 weight 1
198.19.38.11 via 198.19.0.2 dev eth0 proto bird
198.19.48.0/20 proto bird
        nexthop via 198.19.0.1 dev eth0 weight 1
        nexthop via 198.19.0.2 dev eth0 weight 1
        nexthop via 198.19.0.3 dev eth0 weight 1`
    .replace("198.19.28.208/29", nginxBlock)
    .replace("198.19.38.11 ", `${customerClusterIp} `);
  // The seed's listing also has `198.19.38.11 via 198.19.0.2 … proto bird`: the customer service's cluster IP (the
  // seed's later `kubectl get svc` shows customer at 198.19.38.11) as a /32 from node1, which Calico advertises only
  // for a service with externalTrafficPolicy: Local (reference §4.5). Nothing in this seed sets it: the seed's
  // service carried it from the earlier lab (seed 000 B.1). Here the service is still Cluster, so no /32 — until the
  // last test sets Local as seed 000 does, and the seed's listing then appears line for line.
  const withoutSlash32 = seedRoutes(seedListing, HOST1_ENV).filter(
    (e) => !e.startsWith(`${customerClusterIp} `),
  );
  await assertRoutes(h, "host1", withoutSlash32, "after serviceExternalIPs");

  assert.equal(
    await ok(h, `kubectl patch svc -n yaobank customer -p  '{"spec": {"externalIPs": ["198.19.48.10"]}}'`),
    "service/customer patched\n",
  );
  assert.match(
    await ok(h, "kubectl get svc -n yaobank"),
    /\ncustomer {3}NodePort {4}198\.19\.\S+ +198\.19\.48\.10 +80:30180\/TCP +\S+\n/,
  );
  wait(h, 5);
  // eTP Cluster: every node answers for the external IP, so every ECMP path works.
  for (let i = 0; i < 6; i++) {
    const r = await h.run("exec host1 -- curl 198.19.48.10");
    assert.equal(r.code, 0, `curl 198.19.48.10 #${i + 1} from host1: ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }

  // externalTrafficPolicy: Local (seed 000 B.1's line): the cluster IP as a /32 from node1 only, the node with
  // customer's endpoint — the seed's listing line for line. host1 takes the /32 (inside 198.19.32.0/20) but not the
  // external IP's /32 node1 now also advertises: its filter takes only exactly 198.19.48.0/20.
  assert.equal(
    await ok(h, `kubectl patch svc -n yaobank customer -p '{"spec":{"externalTrafficPolicy":"Local"}}'`),
    "service/customer patched\n",
  );
  wait(h, 5);
  await assertRoutes(h, "host1", seedRoutes(seedListing, HOST1_ENV), "after externalTrafficPolicy: Local");
  for (let i = 0; i < 6; i++) {
    const r = await h.run(`exec host1 -- curl ${customerClusterIp}`);
    assert.equal(r.code, 0, `curl ${customerClusterIp} #${i + 1} from host1 (eTP Local): ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }
});
