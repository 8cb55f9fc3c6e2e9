import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { assertGolden, CliHarness, fixture } from "../cli/harness.ts";
import { DATABASE_POLICY } from "../policy/seed-manifests.ts";

const h = new CliHarness();
after(() => h.cleanup());

async function podName(prefix: string): Promise<string> {
  const pods = await h.store().list(controlKinds.Pod, "yaobank");
  return pods.map((p) => p.metadata.name!).find((n) => n.startsWith(prefix))!;
}

function counterOf(listing: string, target: string): number {
  const line = listing.split("\n").find((l) => l.includes(` ${target} `));
  assert.ok(line, `no rule jumping to ${target} in:\n${listing}`);
  return Number(line.trim().split(/\s+/)[0]);
}

test("seed 002 on the sim: the node port page, SNAT in customer's log, the database before and after policy", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const customer = await podName("customer");

  const page = await h.run("exec host1 -- curl 198.19.0.1:30180");
  assert.equal(page.code, 0, page.err);
  assert.match(
    page.out,
    /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389.45<\/h2>/,
  );

  // eTP Cluster: the node masquerades, so customer sees the node the client connected to.
  const logs = await h.run(`kubectl logs -n yaobank ${customer}`);
  assert.equal(logs.out, '198.19.0.1 - - [02/Jan/2026 03:04:05] "GET / HTTP/1.1" 200 -\n');

  const conntrack = await h.run("exec control -- conntrack -L");
  assert.match(
    conntrack.out,
    /tcp {6}6 \d+ TIME_WAIT src=198\.19\.15\.254 dst=198\.19\.0\.1 sport=\d+ dport=30180 src=198\.19\.22\.\d+ dst=198\.19\.0\.1 sport=80 dport=\d+ \[ASSURED\]/,
  );
  assert.match(conntrack.err, /flow entries have been shown/);

  const attack = await h.run(
    `kubectl exec -it ${customer} -n yaobank -c customer -- curl http://database:2379/v2/keys?recursive=true`,
  );
  assert.equal(attack.code, 0, attack.err);
  assert.match(attack.out, /"action":"get"/);
  assert.match(attack.out, /Spike Curtis/);

  assert.equal((await h.run("kubectl apply -f -", DATABASE_POLICY)).code, 0);
  const blocked = await h.run(
    `kubectl exec ${customer} -n yaobank -- curl --connect-timeout 3 http://database:2379/v2/keys?recursive=true`,
  );
  assert.equal(blocked.code, 28);
  assert.equal(
    blocked.err,
    "curl: (28) Failed to connect to database port 2379 after 3001 ms: Timeout was reached\ncommand terminated with exit code 28\n",
  );
  // summary is still allowed in, so the page still renders.
  assert.match((await h.run("exec host1 -- curl 198.19.0.1:30180")).out, /Balance: 2389.45/);
});

test("node1's KUBE-SERVICES reads like seed 004 and its counters grow with traffic; ip route like seed 002", async () => {
  const list = "exec node1 -- iptables -v --numeric --table nat --list KUBE-SERVICES";
  const before = (await h.run(list)).out;
  assert.match(
    before,
    /^Chain KUBE-SERVICES \(2 references\)\n pkts bytes target {5}prot opt in {5}out {5}source {15}destination {9}\n/,
  );
  assert.match(
    before,
    /KUBE-NODEPORTS {2}all {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {12}\/\* kubernetes service nodeports; NOTE: this must be the last rule in this chain \*\/ ADDRTYPE match dst-type LOCAL\n/,
  );
  const summaryChain = "KUBE-SVC-OIQIZJVJK6E34BR4"; // yaobank/summary:http, the seed's own chain name
  const n = counterOf(before, summaryChain);
  assert.ok(n >= 1);
  // customer (on node1) calls summary's cluster IP once per page.
  assert.equal((await h.run("exec host1 -- curl 198.19.0.1:30180")).code, 0);
  assert.equal(counterOf((await h.run(list)).out, summaryChain), n + 1);
  const routes = await h.run("exec node1 -- ip route");
  assertGolden("sim-node1-ip-route.txt", routes.out);
  // node1's own block is BIRD's static blackhole; the other nodes' blocks are learned over the BGP mesh.
  assert.match(routes.out, /^blackhole 198\.19\.22\.128\/26 proto bird $/m);
  assert.match(routes.out, /^198\.19\.21\.64\/26 via 198\.19\.0\.3 dev ens4 proto bird /m);
  assert.doesNotMatch(routes.out, /^198\.19\.2\S* .*proto static/m);
});

test("exec reports bad targets and commands plainly", async () => {
  // kubectl and calicoctl are tortie's own on a host (`sudo` as the seeds type it); a container has neither.
  const pools = await h.run("exec node1 -- sudo calicoctl get ippools");
  assert.equal(pools.code, 0, pools.err);
  assert.equal(
    pools.out,
    "NAME                  CIDR             SELECTOR   \ndefault-ipv4-ippool   198.19.16.0/21   all()      \n\n",
  );
  const customer = await podName("customer");
  const inPod = await h.run(`exec yaobank/${customer} -- calicoctl get ippools`);
  assert.deepEqual(
    [inPod.code, inPod.err],
    [1, 'error: exec: "calicoctl": executable file not found in $PATH\n'],
  );
  const noHost = await h.run("exec nohost -- ip route");
  assert.equal(noHost.code, 1);
  assert.equal(noHost.err, "error: no host named nohost in this cluster\n");
  const usage = await h.run("exec node1 ip route");
  assert.equal(usage.code, 2);
  const unknown = await h.run("exec node1 -- strace -f ls");
  assert.equal(unknown.code, 1);
  assert.equal(unknown.err, "not supported yet: strace on the sim dataplane\n");
  const badUrl = await h.run("exec host1 -- curl http://");
  assert.equal(badUrl.code, 3);
  assert.equal(badUrl.err, "curl: (3) URL using bad/illegal format or missing URL\n");
  writeFileSync(join(h.stateDir, "sim-state.json"), "{not json");
  const corrupt = await h.run("exec node1 -- ip route");
  assert.equal(corrupt.code, 1);
  assert.match(
    corrupt.err,
    /^error: .*sim-state\.json: the sim dataplane's saved state is unreadable .*delete the file/,
  );
});
