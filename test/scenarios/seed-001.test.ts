/**
 * Seed 001 ("IP Pools and Services Advertisement"), whole, typed line by line on the lab topology with seed 002's
 * addresses (`tortie up --app yaobank`): the seed's own manifests (01-externalIpPool.yml, 02-externalNamespace.yml,
 * 03-nginx-deployment-ns.yml as the seed prints them; 01.globalBgpPeer.yml is not printed, so it is seed 002's global
 * peer to host1), `sudo calicoctl node status` on node1, `sudo birdc …` on host1 (the seed's "Bird VM") and `curl`
 * from host1 to the nginx pod.
 *
 * The seed ran elsewhere (AWS, kops, pool 100.96.0.0/11, a two-session Bird VM in another AS that imported
 * everything, with extra routes 1.1.1.1 and 10.10.10.10 of its own). Here host1 is the lab's router: iBGP (AS 64512)
 * with control, node1 and node2, exporting nothing and importing only 198.19.48.0/20, 198.19.32.0/20 and
 * 198.19.24.0/21. So what the seed shows is checked as its shape: the sessions up and Established, the /29 block of
 * the nginx pod learned by the router and reachable, the node's blackhole for that block; not the seed's AWS lines.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";
import {
  assertNginxPage,
  BIRDC_BANNER,
  BIRDC_PROTOCOLS_HEADER,
  birdcBgpRoute,
  birdcBgpRowUp,
  blockOf,
  nodeStatusPattern,
  ok,
  podFromWide,
  routeEntries,
  wait,
} from "./bgp-helpers.ts";
import { SEED001_MANIFESTS } from "./seed-001-manifests.ts";

const h = new CliHarness();
after(() => h.cleanup());
const dir = join(h.stateDir, "lab-manifests");
const file = (name: string) => join(dir, name);

const NODE_IP: Record<string, string> = { control: "198.19.0.1", node1: "198.19.0.2", node2: "198.19.0.3" };
let nginx = { name: "", ip: "", node: "" };

before(async () => {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(SEED001_MANIFESTS)) writeFileSync(file(name), text);
  // The seed's cluster runs other workloads (its node1 routes to three other nodes' /26 blocks); YAO Bank plays that
  // part here, so every node has a block of the default pool.
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  wait(h, 60);
});

test("Pod external routable IP Pool: the pools, external-ns, nginx with an address from external-pool", async () => {
  // The seed's default pool is its cluster's (100.96.0.0/11); the lab's is 198.19.16.0/21.
  assert.equal(
    await ok(h, "calicoctl get ippools --allow-version-mismatch"),
    "NAME                  CIDR             SELECTOR   \ndefault-ipv4-ippool   198.19.16.0/21   all()      \n\n",
  );
  assert.equal(
    await ok(h, `calicoctl apply -f ${file("01-externalIpPool.yml")} --allow-version-mismatch`),
    "Successfully applied 1 'IPPool' resource(s)\n",
  );
  assert.equal(
    await ok(h, "calicoctl get ippools --allow-version-mismatch"),
    "NAME                  CIDR             SELECTOR   \n" +
      "default-ipv4-ippool   198.19.16.0/21   all()      \n" +
      "external-pool         198.19.24.0/21   !all()     \n\n",
  );
  assert.equal(
    await ok(h, `kubectl apply -f ${file("02-externalNamespace.yml")}`),
    "namespace/external-ns created\n",
  );
  // The seed shows only the first line ("similar to"); the file holds both objects and kubectl reports both.
  assert.equal(
    await ok(h, `kubectl apply -f ${file("03-nginx-deployment-ns.yml")}`),
    "deployment.apps/nginx created\nnetworkpolicy.networking.k8s.io/nginx created\n",
  );
  nginx = podFromWide(await ok(h, "kubectl get pods -n external-ns -o wide"), "nginx-");
  assert.match(nginx.name, /^nginx-[0-9a-f]{8,10}-[a-z0-9]{5}$/);
  // "Notice the ngnix pod has been allocated an address (198.19.24.184) belonging to the external-pool."
  assert.match(nginx.ip, /^198\.19\.(2[4-9]|3[01])\.\d+$/, `${nginx.ip} is not in 198.19.24.0/21`);
  assert.ok(nginx.node in NODE_IP, nginx.node);
});

test("BGP peering: the global peer to host1 is Established on node1, next to the mesh", async () => {
  assert.equal(
    await ok(h, `calicoctl apply -f ${file("01.globalBgpPeer.yml")} --allow-version-mismatch`),
    "Successfully applied 1 'BGPPeer' resource(s)\n",
  );
  wait(h, 30);
  // "Connect to node1": `export node1_ip=$(kubectl get node … -o go-template=…)` then `ssh ubuntu@$node1_ip`. The
  // sim's shell has no $(…), so the kubectl part is typed alone; on k3s address 1 is the Hostname, which ssh takes.
  const node1 = await ok(
    h,
    `kubectl get node --selector='!node-role.kubernetes.io/master' -o go-template='{{(index (index .items 0).status.addresses 1).address}}{{"\\n"}}'`,
  );
  assert.equal(node1, "node1\n");
  // The seed's node1 is one of three AWS nodes too: two mesh peers and the global one, listed after the mesh. confd
  // sorts peers by name (Global_… before Mesh_…), but BIRD 1.6 appends a protocol a reconfiguration adds to the end of
  // its list, and `show protocols` (so this table) follows that list: the peer added to a running node comes last.
  const ssh = await h.run("shell host1", "ssh ubuntu@node1\nsudo calicoctl node status\nexit\n");
  assert.equal(ssh.code, 0, ssh.err);
  assert.match(
    ssh.out,
    nodeStatusPattern([
      { peer: "198.19.0.1", type: "node-to-node mesh" },
      { peer: "198.19.0.3", type: "node-to-node mesh" },
      { peer: "198.19.15.254", type: "global" },
    ]),
  );
});

test("the Bird VM (host1): birdc show protocol lists its sessions with the nodes, all Established", async () => {
  const out = await ok(h, "exec host1 -- sudo birdc show protocol");
  assert.match(out, BIRDC_BANNER);
  const lines = out.split("\n");
  assert.equal(lines[1], BIRDC_PROTOCOLS_HEADER, out);
  // The seed's VM had sessions named node1 and node2 (its two workers); the lab's host1 has one per cluster node.
  for (const name of ["control", "node1", "node2"]) assert.match(out, birdcBgpRowUp(name));
  assert.equal(lines.filter((l) => /^\S+ +BGP +/.test(l)).length, 3, out);
  // Every other row is BIRD 2's: NAME PROTO TABLE STATE SINCE, e.g. `kernel1    Kernel     master4    up     16:57:09.492`.
  for (const l of lines.slice(2).filter((l) => l !== "" && !/ BGP /.test(l)))
    assert.match(
      l,
      /^\S+ +(Device|Direct|Kernel|Static) +(---|master4|master6) +up +(\d\d:\d\d:\d\d\.\d{3}|\d{4}-\d\d-\d\d) *\S*.*$/,
      out,
    );
});

test("the node's routes: the nginx pod's /32 to its cali interface, its /29 block a blackhole, other blocks by BGP", async () => {
  // The seed checks node1, which is where its nginx ran; here it is the node the scheduler chose.
  const out = await ok(h, `exec ${nginx.node} -- ip route`);
  const entries = routeEntries(out);
  assert.ok(
    entries.some((e) =>
      new RegExp(`^${nginx.ip.replaceAll(".", "\\.")} dev cali[0-9a-f]{11} scope link metric 1024$`).test(e),
    ),
    out,
  );
  assert.ok(
    entries.includes(`blackhole ${blockOf(nginx.ip, 29)} proto bird`),
    `no bird blackhole for the /29:\n${out}`,
  );
  // The other nodes' /26 blocks of the default pool arrive over the mesh: `<block> via <node> dev ens4 proto bird`,
  // with today's Calico's `metric 1024` (confd's krt_metric for BGP routes; the seed's older Calico set none).
  const viaBird = entries.filter((e) => / proto bird metric 1024$/.test(e) && / via /.test(e));
  const others = Object.entries(NODE_IP).filter(([n]) => n !== nginx.node);
  for (const [, ip] of others)
    assert.ok(
      viaBird.some((e) =>
        new RegExp(
          `^198\\.19\\.\\d+\\.\\d+/26 via ${ip.replaceAll(".", "\\.")} dev ens4 proto bird metric 1024$`,
        ).test(e),
      ),
      `no block route via ${ip} in:\n${out}`,
    );
  // host1 exports nothing (the lab's router is `export none`), so nothing is learned from it.
  assert.ok(!entries.some((e) => / via 198\.19\.15\.254 .*proto bird/.test(e)), out);
  // No route is static any more: the node's routes to other blocks come from BIRD.
  assert.ok(!entries.some((e) => /proto static/.test(e) && !/^default /.test(e)), out);
});

test("the Bird VM's routes: the /29 from the node that owns it, no default-pool /26; curl reaches nginx", async () => {
  const out = await ok(h, "exec host1 -- sudo birdc show route");
  assert.match(out, /^BIRD 2\.\d+\.\d+ ready\.\nTable master4:\n/);
  assert.match(out, birdcBgpRoute(blockOf(nginx.ip, 29), nginx.node, NODE_IP[nginx.node]!, "ens4"));
  // iBGP: a node does not re-advertise what it learned from its mesh peers, so the /29 comes from one session only
  // (the seed's eBGP VM got it from both of its nodes).
  const alt = /^ {21}unicast \[(control|node1|node2) /m;
  assert.doesNotMatch(out, alt, out);
  // host1's filter takes only 198.19.48.0/20, 198.19.32.0/20 and 198.19.24.0/21: no /26 blocks of the default pool.
  assert.doesNotMatch(out, /^198\.19\.(1[6-9]|2[0-3])\.\d+\/26 /m, out);

  const routes = await ok(h, "exec host1 -- ip route");
  assert.ok(
    routeEntries(routes).includes(`${blockOf(nginx.ip, 29)} via ${NODE_IP[nginx.node]} dev ens4 proto bird`),
    routes,
  );
  const page = await h.run(`exec host1 -- curl ${nginx.ip}`);
  assert.equal(page.code, 0, `curl ${nginx.ip} from host1: ${page.err}`);
  assertNginxPage(page.out);
});
