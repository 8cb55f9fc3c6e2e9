/**
 * Seed 000 ("Advanced Services and Calico"), sections A–C, typed line by line on the seed's own addressing
 * (`tortie up --topology seed000 --app yaobank`: master1 10.0.0.10, worker1 .11, worker2 .12, host1 .20 on ens160;
 * services 10.49.0.0/16, external IPs 10.50.0.0/24). `calicoctl`/`kubectl` as the seed types them on host1, `ip route`
 * and `curl` on host1 (`tortie exec host1 -- …`).
 *
 * "Before you begin": host1 is a BGP peer (the earlier lab's step C: a global BGPPeer to 10.0.0.20, AS 64512), and
 * the earlier lab's nginx runs in external-ns from an external pool of /29 blocks, on worker1 — the seed's first
 * listing shows its block `10.48.2.232/29 via 10.0.0.11`. The pool's CIDR is not in the seed; 10.48.2.0/24 holds the
 * seed's two /29s (.176 and .232) and is the range host1's seed000 BIRD configuration imports.
 *
 * Differences from the seed's listings, not Calico's doing: the VMs' DHCP routes (default via 10.0.0.254 and the
 * gateway's /32) are left out, and from A.3 on the seed also shows `10.48.2.176/29 via 10.0.0.12`, a second external
 * pod on worker2 that the seed's text never creates.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CliHarness, fixture } from "../cli/harness.ts";
import { assertRoutes, blockOf, ok, podFromWide, seedRoutes, wait, YAOBANK_PAGE } from "./bgp-helpers.ts";

const h = new CliHarness();
after(() => h.cleanup());

const EXTERNAL_POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 10.48.2.0/24
  blockSize: 29
  ipipMode: Never
  natOutgoing: true
  nodeSelector: "!all()"
`;
const EXTERNAL_NS = `apiVersion: v1
kind: Namespace
metadata:
  annotations:
    cni.projectcalico.org/ipv4pools: '["external-pool"]'
  name: external-ns
`;
const HOST1_PEER = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 10.0.0.20
  asNumber: 64512
`;
/** The seed's 610-default-bgp.yaml: "The `serviceClusterIPs` clause tells Calico to advertise the cluster IP range." */
const DEFAULT_BGP = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  serviceClusterIPs:
  - cidr: 10.49.0.0/16
`;

/** The seed's VMs' DHCP lines, and the second external pod the seed's text never creates. */
const ENV = { drop: [/proto dhcp/, /^10\.48\.2\.176\/29 /] };
const manifest = join(h.stateDir, "610-default-bgp.yaml");
let nginxBlock = "";
let clusterIp = "";

before(async () => {
  const up = await h.run("up --topology seed000 --app yaobank");
  assert.equal(up.code, 0, up.err);
  writeFileSync(manifest, DEFAULT_BGP);
  // The earlier labs' state the seed starts from.
  await ok(h, "calicoctl apply -f -", HOST1_PEER);
  await ok(h, "calicoctl apply -f -", EXTERNAL_POOL);
  await ok(h, "kubectl apply -f -", EXTERNAL_NS);
  const nginx = readFileSync(fixture("lab/nginx.yaml"), "utf8").replace(
    "kubernetes.io/hostname: node1",
    "kubernetes.io/hostname: worker1",
  );
  await ok(h, "kubectl apply -f -", nginx);
  const pod = podFromWide(await ok(h, "kubectl get pods -n external-ns -o wide"), "nginx-");
  assert.equal(pod.node, "worker1");
  nginxBlock = blockOf(pod.ip, 29);
  wait(h, 60);
});

/** The seed's host1 listings with its nginx block replaced by ours. */
const seed = (listing: string) => seedRoutes(listing.replaceAll("10.48.2.232/29", nginxBlock), ENV);

test("A. advertise the cluster IP range: 10.49.0.0/16 via the three nodes with ECMP; curl to a cluster IP from host1", async () => {
  // A.1
  await assertRoutes(
    h,
    "host1",
    seed(`default via 10.0.0.254 dev ens160 proto dhcp src 10.0.0.20 metric 100
10.0.0.0/24 dev ens160 proto kernel scope link src 10.0.0.20
10.0.0.254 dev ens160 proto dhcp scope link src 10.0.0.20 metric 100
10.48.2.232/29 via 10.0.0.11 dev ens160 proto bird`),
    "(A.1)",
  );
  // A.2
  assert.equal(
    await ok(h, `calicoctl apply -f ${manifest}`),
    "Successfully applied 1 'BGPConfiguration' resource(s)\n",
  );
  // The seed's calicoctl (2019) printed creationTimestamp unquoted; today's quotes it.
  assert.match(
    await ok(h, "calicoctl get bgpconfig default -o yaml"),
    /^apiVersion: projectcalico\.org\/v3\nkind: BGPConfiguration\nmetadata:\n {2}creationTimestamp: "?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"?\n {2}name: default\n {2}resourceVersion: "\d+"\n {2}uid: [0-9a-f-]{36}\nspec:\n {2}serviceClusterIPs:\n {2}- cidr: 10\.49\.0\.0\/16\n$/,
  );
  wait(h, 10);
  // A.3
  await assertRoutes(
    h,
    "host1",
    seed(`default via 10.0.0.254 dev ens160 proto dhcp src 10.0.0.20 metric 100
10.0.0.0/24 dev ens160 proto kernel scope link src 10.0.0.20
10.0.0.254 dev ens160 proto dhcp scope link src 10.0.0.20 metric 100
10.48.2.176/29 via 10.0.0.12 dev ens160 proto bird
10.48.2.232/29 via 10.0.0.11 dev ens160 proto bird
10.49.0.0/16 proto bird
	nexthop via 10.0.0.10 dev ens160 weight 1
	nexthop via 10.0.0.11 dev ens160 weight 1
	nexthop via 10.0.0.12 dev ens160 weight 1`),
    "(A.3)",
  );
  // A.4
  const svc = await ok(h, "kubectl get svc -n yaobank customer");
  const m =
    /^NAME {7}TYPE {7}CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE\ncustomer {3}NodePort {3}(10\.49\.\d+\.\d+) +<none> +80:30180\/TCP +\S+\n$/.exec(
      svc,
    );
  assert.ok(m, svc);
  clusterIp = m[1]!;
  // ECMP hashes each flow to one of the three nodes; every node's kube-proxy serves the cluster IP.
  for (let i = 0; i < 6; i++) {
    const r = await h.run(`exec host1 -- curl ${clusterIp}`);
    assert.equal(r.code, 0, `curl ${clusterIp} #${i + 1} from host1: ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }
});

test("B. externalTrafficPolicy: Local: the cluster IP as a /32 via worker1 only; the node port on master1 stops answering", async () => {
  assert.ok(clusterIp, "needs the customer's cluster IP from A.4");
  // B.1
  assert.equal(
    await ok(h, `kubectl patch svc -n yaobank customer -p '{"spec":{"externalTrafficPolicy":"Local"}}'`),
    "service/customer patched\n",
  );
  wait(h, 5);
  // B.2
  await assertRoutes(
    h,
    "host1",
    seed(`default via 10.0.0.254 dev ens160 proto dhcp src 10.0.0.20 metric 100
10.0.0.0/24 dev ens160 proto kernel scope link src 10.0.0.20
10.0.0.254 dev ens160 proto dhcp scope link src 10.0.0.20 metric 100
10.48.2.176/29 via 10.0.0.12 dev ens160 proto bird
10.48.2.232/29 via 10.0.0.11 dev ens160 proto bird
10.49.0.0/16 proto bird
	nexthop via 10.0.0.10 dev ens160 weight 1
	nexthop via 10.0.0.11 dev ens160 weight 1
	nexthop via 10.0.0.12 dev ens160 weight 1
10.49.217.62 via 10.0.0.11 dev ens160 proto bird`).map((e) => e.replace("10.49.217.62 ", `${clusterIp} `)),
    "(B.2)",
  );
  for (let i = 0; i < 6; i++) {
    const r = await h.run(`exec host1 -- curl ${clusterIp}`);
    assert.equal(r.code, 0, `curl ${clusterIp} #${i + 1} from host1 (eTP Local): ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }
  // B.3: "The link you were using maps to a nodePort on master1 … this will no longer work since there are no
  // customer pods hosted on master1. Accessing via the nodePort on worker1 would work of course."
  const master1 = await h.run("exec host1 -- curl --connect-timeout 3 10.0.0.10:30180");
  assert.equal(master1.code, 28, `node port on master1 with eTP Local: ${master1.out}${master1.err}`);
  assert.match(
    master1.err,
    /^curl: \(28\) Failed to connect to 10\.0\.0\.10 port 30180 after \d+ ms: Timeout was reached\n$/,
  );
  const worker1 = await h.run("exec host1 -- curl 10.0.0.11:30180");
  assert.equal(worker1.code, 0, worker1.err);
  assert.match(worker1.out, YAOBANK_PAGE);
  // Source IP preserved: customer logs host1's address, not a node's.
  const pods = await ok(h, "kubectl get pods -n yaobank -o wide");
  const customer = podFromWide(pods, "customer-").name;
  const logs = await ok(h, `kubectl logs -n yaobank ${customer}`);
  assert.match(logs.trimEnd().split("\n").at(-1)!, /^10\.0\.0\.20 - - \[.+\] "GET \/ HTTP\/1\.1" 200 -$/);
});

test("C. service external IPs: 10.50.0.0/24 via the three nodes, the external IP assigned, curl from host1", async () => {
  assert.ok(clusterIp, "needs the customer's cluster IP from A.4");
  // C.1
  const before = await ok(h, "kubectl get svc -n yaobank");
  assert.match(
    before,
    /^NAME {7}TYPE {8}CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE\ncustomer {3}NodePort {4}10\.49\.\S+ +<none> +80:30180\/TCP +\S+\ndatabase {3}ClusterIP {3}10\.49\.\S+ +<none> +2379\/TCP +\S+\nsummary {4}ClusterIP {3}10\.49\.\S+ +<none> +80\/TCP +\S+\n$/,
  );
  // C.2 (the seed's `\`-continued line, joined)
  assert.equal(
    await ok(
      h,
      `calicoctl patch BGPConfig default --patch '{"spec": {"serviceExternalIPs": [{"cidr": "10.50.0.0/24"}]}}'`,
    ),
    "Successfully patched 1 'BGPConfiguration' resource\n",
  );
  wait(h, 10);
  // C.3
  await assertRoutes(
    h,
    "host1",
    seed(`default via 10.0.0.254 dev ens160 proto dhcp src 10.0.0.20 metric 100
10.0.0.0/24 dev ens160 proto kernel scope link src 10.0.0.20
10.0.0.254 dev ens160 proto dhcp scope link src 10.0.0.20 metric 100
10.48.2.176/29 via 10.0.0.12 dev ens160 proto bird
10.48.2.232/29 via 10.0.0.11 dev ens160 proto bird
10.49.0.0/16 proto bird
	nexthop via 10.0.0.10 dev ens160 weight 1
	nexthop via 10.0.0.11 dev ens160 weight 1
	nexthop via 10.0.0.12 dev ens160 weight 1
10.49.217.62 via 10.0.0.11 dev ens160 proto bird
10.50.0.0/24 proto bird
	nexthop via 10.0.0.10 dev ens160 weight 1
	nexthop via 10.0.0.11 dev ens160 weight 1
	nexthop via 10.0.0.12 dev ens160 weight 1`).map((e) => e.replace("10.49.217.62 ", `${clusterIp} `)),
    "(C.3)",
  );
  // C.4
  assert.equal(
    await ok(h, `kubectl patch svc -n yaobank customer -p  '{"spec": {"externalIPs": ["10.50.0.10"]}}'`),
    "service/customer patched\n",
  );
  const after = await ok(h, "kubectl get svc -n yaobank");
  assert.match(after, /\ncustomer {3}NodePort {4}10\.49\.\S+ +10\.50\.0\.10 +80:30180\/TCP +\S+\n/);
  const noAge = (row: string | undefined) => row?.replace(/\S+$/, "");
  assert.equal(noAge(after.split("\n")[2]), noAge(before.split("\n")[2])); // database unchanged
  wait(h, 5);
  // C.5: the service is still externalTrafficPolicy: Local, so only worker1 serves its external IP; Calico
  // advertises 10.50.0.10/32 from worker1 (reference §4.5), so every flow from host1 goes there.
  for (let i = 0; i < 6; i++) {
    const r = await h.run("exec host1 -- curl 10.50.0.10");
    assert.equal(r.code, 0, `curl 10.50.0.10 #${i + 1} from host1: ${r.err}`);
    assert.match(r.out, YAOBANK_PAGE);
  }
});
