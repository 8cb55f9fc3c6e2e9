import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pinToNodes } from "../../src/lab/index.ts";
import { CliHarness } from "./harness.ts";

function podNodes(wide: string): Record<string, string> {
  const nodes: Record<string, string> = {};
  for (const line of wide.trim().split("\n").slice(1)) {
    const cells = line.split(/\s+/);
    nodes[cells[0]!.replace(/-[a-z0-9]+-[a-z0-9]+$/, "")] ??= cells[6]!;
    if (cells[2] !== "Running") assert.fail(`${cells[0]} is ${cells[2]}`);
  }
  return nodes;
}

test("up --topology seed000 --app yaobank pins the app to seed000's own workers and waits until it is ready", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const up = await h.run("up --topology seed000 --app yaobank");
  assert.equal(up.err, "");
  assert.equal(up.code, 0);
  assert.match(up.out, /^app yaobank: customer 1\/1, database 1\/1, summary 2\/2 ready$/m);
  assert.match(up.out, /^dataplane sim: running: 4 hosts and \d+ pod namespaces programmed$/m);
  // Seed 004 runs on seed000: customer on worker1, database on worker2 (where the lab has node1 and node2).
  const wide = await h.run("kubectl get pods -n yaobank -o wide");
  const nodes = podNodes(wide.out);
  assert.equal(nodes.customer, "worker1", wide.out);
  assert.equal(nodes.database, "worker2", wide.out);
  // ...and its lines work there: the node port page from outside, the summary rules on worker1.
  assert.match((await h.run("exec host1 -- curl -s 10.0.0.11:30180")).out, /Balance: 2389\.45/);
  const summary = await h.run(
    "shell worker1",
    "sudo iptables -v --numeric --table nat --list KUBE-SERVICES | grep -E summary\n",
  );
  assert.equal(summary.code, 0, summary.err);
  assert.equal(summary.out.trim().split("\n").length, 1);
  assert.match(
    summary.out,
    /KUBE-SVC-OIQIZJVJK6E34BR4 .*\/\* yaobank\/summary:http cluster IP \*\/ tcp dpt:80/,
  );
  const status = await h.run("status");
  assert.match(
    status.out,
    /^cluster seed000: dataplane sim, running: 4 hosts and \d+ pod namespaces programmed$/m,
  );
  assert.doesNotMatch(status.out + up.out, /not supported yet|not built yet/);
});

test("a topology with one worker gets everything the lab pins to node1 and node2", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const file = join(h.stateDir, "one-worker.yaml");
  writeFileSync(
    file,
    `apiVersion: tortie.dev/v1
kind: Topology
metadata:
  name: solo
spec:
  clusterCIDR: 10.48.0.0/16
  serviceCIDR: 10.49.0.0/16
  dnsServiceIP: 10.49.0.10
  defaultPool:
    name: default-ipv4-ippool
    cidr: 10.48.0.0/24
    blockSize: 26
    natOutgoing: true
    encapsulation: None
  hosts:
    - { name: cp, address: 10.0.0.10/24, role: control-plane, interface: eth0 }
    - { name: w1, address: 10.0.0.11/24, role: worker, interface: eth0 }
`,
  );
  const up = await h.run(`up --topology ${file} --app yaobank`);
  assert.equal(up.code, 0, up.err);
  const nodes = podNodes((await h.run("kubectl get pods -n yaobank -o wide")).out);
  assert.equal(nodes.customer, "w1");
  assert.equal(nodes.database, "w1");
});

test("pinToNodes maps node1/node2 to the given workers and leaves other pins and the lab alone", () => {
  const deploy = (node: string) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: node },
    spec: { template: { spec: { nodeSelector: { "kubernetes.io/hostname": node } } } },
  });
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p" },
    spec: { nodeSelector: { "kubernetes.io/hostname": "node2" } },
  };
  const out = pinToNodes([deploy("node1"), deploy("node2"), deploy("other"), pod], ["a", "b", "c"]);
  const pinned = out.map(
    (o) => (o.kind === "Pod" ? o.spec : o.spec.template.spec).nodeSelector["kubernetes.io/hostname"],
  );
  assert.deepEqual(pinned, ["a", "b", "other", "b"]);
  const lab = [deploy("node1"), deploy("node2")];
  assert.deepEqual(pinToNodes(lab, ["node1", "node2"]), lab);
});
