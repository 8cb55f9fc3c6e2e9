import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { cidrContainsIp, parseCidr, parseIp } from "../../src/net/index.ts";
import { assertGolden, CliHarness, fixture } from "./harness.ts";

const harnesses: CliHarness[] = [];
after(() => {
  for (const h of harnesses) h.cleanup();
});

async function cluster(topology = "lab"): Promise<CliHarness> {
  const h = new CliHarness();
  harnesses.push(h);
  const r = await h.run(`up --topology ${topology}`);
  assert.equal(r.code, 0, r.err);
  return h;
}

async function ok(h: CliHarness, line: string): Promise<string> {
  const r = await h.run(line);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  return r.out;
}

function rows(table: string): string[][] {
  return table
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s{2,}/));
}

function inCidr(ip: string, cidr: string): boolean {
  return cidrContainsIp(parseCidr(cidr)!, parseIp(ip)!);
}

test("lab: up, YAO Bank applied, pods running on the pinned nodes with addresses from the default pool", async () => {
  const h = await cluster();
  assertGolden("tortie-up-lab.txt", (await h.run("up --topology lab")).out);
  await ok(h, `kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
  const pods = await ok(h, "kubectl get pods -n yaobank -o wide");
  assertGolden("cluster-lab-get-pods-wide.txt", pods);
  const running = rows(pods);
  assert.equal(running.length, 4);
  for (const [name, ready, status, , , ip, node] of running) {
    assert.equal(ready, "1/1", name);
    assert.equal(status, "Running", name);
    assert.ok(inCidr(ip!, "198.19.16.0/21"), `${name} ${ip}`);
    if (name!.startsWith("customer")) assert.equal(node, "node1");
    if (name!.startsWith("database")) assert.equal(node, "node2");
  }
  assertGolden("cluster-lab-get-svc.txt", await ok(h, "kubectl get svc -n yaobank"));
  assertGolden("cluster-lab-get-svc-customer.txt", await ok(h, "kubectl get svc -n yaobank customer"));
  assertGolden("cluster-lab-get-endpoints.txt", await ok(h, "kubectl get endpoints -n yaobank"));
  assertGolden("cluster-lab-get-svc-all.txt", await ok(h, "kubectl get svc -A"));
  assertGolden("cluster-lab-get-nodes.txt", await ok(h, "kubectl get nodes"));
  assertGolden("cluster-lab-tigerastatus.txt", await ok(h, "kubectl get tigerastatus/calico"));
  assertGolden("cluster-lab-ipam-show.txt", await ok(h, "calicoctl ipam show --show-blocks"));
  assertGolden("cluster-lab-status.txt", await ok(h, "status"));

  // Every pod address is an endpoint of its service, on the service's targetPort.
  const endpoints = Object.fromEntries(
    rows(await ok(h, "kubectl get endpoints -n yaobank")).map((r) => [r[0], r[1]]),
  );
  const ipOf = (prefix: string) => running.filter((r) => r[0]!.startsWith(prefix)).map((r) => r[5]!);
  assert.equal(endpoints.database, `${ipOf("database")[0]}:2379`);
  assert.deepEqual(
    endpoints.summary!.split(",").sort(),
    ipOf("summary")
      .map((ip) => `${ip}:80`)
      .sort(),
  );

  // The seed's `cluster-info dump | grep -m 2 -E "service-cidr|cluster-cidr"` finds both ranges.
  const dump = await ok(h, "kubectl cluster-info dump");
  const hits = dump
    .split("\n")
    .filter((l) => /service-cidr|cluster-cidr/.test(l))
    .slice(0, 2);
  assert.ok(hits.length > 0);
  assert.match(hits.join("\n"), /198\.19\.16\.0\/20/);
  assert.match(hits.join("\n"), /198\.19\.32\.0\/20/);

  // 4 YAO Bank pods and CoreDNS hold addresses; ipam check finds nothing wrong.
  assert.match(await ok(h, "calicoctl ipam show"), /\| 5 \(0%\)/);
  assert.match(await ok(h, "calicoctl ipam check"), /found 0 problems/);
});

test("the same inputs build the same cluster: names, addresses, cluster IPs and node ports", async () => {
  const outputs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const h = await cluster();
    await ok(h, `kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
    outputs.push((await ok(h, "get pods -A -o wide")) + (await ok(h, "get svc -A")));
  }
  assert.equal(outputs[0], outputs[1]);
});

test("seed000: its own addresses (10.48.0.0/24 pods, 10.49.0.0/16 services) on master1/worker1/worker2", async () => {
  const h = await cluster("seed000");
  const manifest = readFileSync(fixture("lab/yaobank.yaml"), "utf8")
    .replace("kubernetes.io/hostname: node1", "kubernetes.io/hostname: worker1")
    .replace("kubernetes.io/hostname: node2", "kubernetes.io/hostname: worker2");
  const file = join(h.stateDir, "yaobank-seed000.yaml");
  writeFileSync(file, manifest);
  await ok(h, `kubectl apply -f ${file}`);
  const pods = await ok(h, "kubectl get pods -n yaobank -o wide");
  assertGolden("cluster-seed000-get-pods-wide.txt", pods);
  for (const [name, , status, , , ip, node] of rows(pods)) {
    assert.equal(status, "Running");
    assert.ok(inCidr(ip!, "10.48.0.0/24"), `${name} ${ip}`);
    assert.ok(["master1", "worker1", "worker2"].includes(node!));
  }
  const svc = rows(await ok(h, "kubectl get svc -A"));
  for (const r of svc) assert.ok(inCidr(r[3]!, "10.49.0.0/16"), r.join(" "));
  assert.deepEqual(
    svc.filter((r) => r[1] === "kube-dns" || r[1] === "kubernetes").map((r) => r[3]),
    ["10.49.0.1", "10.49.0.10"],
  );
  assertGolden("cluster-seed000-get-nodes.txt", await ok(h, "kubectl get nodes -o wide"));
});

test("deleting pods, deployments and services releases their addresses and endpoints", async () => {
  const h = await cluster();
  await ok(h, `kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
  const before = rows(await ok(h, "kubectl get pods -n yaobank -o wide"));
  const customer = before.find((r) => r[0]!.startsWith("customer"))!;
  await ok(h, `kubectl delete pod -n yaobank ${customer[0]}`);
  const after = rows(await ok(h, "kubectl get pods -n yaobank -o wide"));
  const replacement = after.find((r) => r[0]!.startsWith("customer"))!;
  assert.notEqual(replacement[0], customer[0], "the ReplicaSet makes a new pod with a new name");
  assert.equal(replacement[6], "node1");
  assert.match(await ok(h, "calicoctl ipam show"), /\| 5 \(0%\)/, "the old pod's address was released");
  assert.match(await ok(h, "kubectl get endpoints -n yaobank customer"), new RegExp(`${replacement[5]}:80`));

  await ok(h, "kubectl delete deployment -n yaobank summary");
  assert.equal(
    rows(await ok(h, "kubectl get pods -n yaobank")).filter((r) => r[0]!.startsWith("summary")).length,
    0,
  );
  assert.equal((await h.run("kubectl get rs -n yaobank")).out.includes("summary"), false);
  assert.match(await ok(h, "kubectl get endpoints -n yaobank summary"), /summary\s+<none>/);
  assert.match(await ok(h, "calicoctl ipam show"), /\| 3 \(0%\)/);

  await ok(h, "kubectl delete svc -n yaobank summary");
  assert.equal((await h.run("kubectl get endpoints -n yaobank summary")).code, 1);
  assert.equal((await ok(h, "kubectl get endpointslices -n yaobank")).includes("summary-"), false);

  await ok(h, "kubectl delete namespace yaobank");
  assert.match(await ok(h, "calicoctl ipam show"), /\| 1 \(0%\)/, "only CoreDNS keeps an address");
  assert.equal((await ok(h, "calicoctl get workloadendpoints -A")).includes("yaobank"), false);
  assert.match(await ok(h, "calicoctl ipam check"), /found 0 problems/);
});

test("service allocation: explicit node ports and cluster IPs are honoured, conflicts and out-of-range values rejected", async () => {
  const h = await cluster();
  await ok(h, `kubectl apply -f ${fixture("lab/yaobank.yaml")}`);
  const svc = (name: string, extra: string) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  selector: {app: x}\n  ports: [{port: 80${extra}}]\n`;
  const dup = await h.run(
    "kubectl create -f -",
    `${svc("dup", "")}  type: NodePort\n`.replace("port: 80", "port: 80, nodePort: 30180"),
  );
  assert.equal(dup.code, 1);
  assert.equal(
    dup.err,
    'error: STDIN:6:32: Service "default/dup" is invalid: spec.ports[0].nodePort: Invalid value: 30180: provided port is already allocated\n',
  );
  const range = await h.run(
    "kubectl create -f -",
    `${svc("range", "")}  type: NodePort\n`.replace("port: 80", "port: 80, nodePort: 80"),
  );
  assert.match(
    range.err,
    /nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767/,
  );
  const ip = await h.run("kubectl create -f -", `${svc("ip", "")}  clusterIP: 10.0.0.1\n`);
  assert.match(
    ip.err,
    /failed to allocate IP 10\.0\.0\.1: provided IP is not in the valid range. The range of valid IPs is 198\.19\.32\.0\/20/,
  );
  const taken = await h.run("kubectl create -f -", `${svc("taken", "")}  clusterIP: 198.19.32.10\n`);
  assert.match(taken.err, /failed to allocate IP 198\.19\.32\.10: provided IP is already allocated/);
  const pinned = await h.run(
    "kubectl create -f -",
    `${svc("pinned", "")}  clusterIP: 198.19.40.40\n  type: NodePort\n`.replace(
      "port: 80",
      "port: 80, nodePort: 31000",
    ),
  );
  assert.equal(pinned.code, 0, pinned.err);
  assert.match(
    await ok(h, "kubectl get svc pinned"),
    /pinned\s+NodePort\s+198\.19\.40\.40\s+<none>\s+80:31000\/TCP/,
  );
  // Nothing half-written: the rejected services do not exist.
  for (const name of ["dup", "range", "ip", "taken"])
    assert.equal((await h.run(`kubectl get svc ${name}`)).code, 1);
});

test("LoadBalancer services get an address from a pool that allows LoadBalancer, else stay pending", async () => {
  const h = await cluster();
  const lb = (name: string) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80}]\n`;
  assert.equal((await h.run("kubectl create -f -", lb("early"))).code, 0);
  assert.match(await ok(h, "kubectl get svc early"), /early\s+LoadBalancer\s+\S+\s+<pending>/);
  const pool =
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: lb-pool}\nspec:\n  cidr: 198.19.64.0/28\n  blockSize: 29\n  allowedUses: [LoadBalancer]\n";
  assert.equal((await h.run("calicoctl apply -f -", pool)).code, 0);
  const early = rows(await ok(h, "kubectl get svc early"))[0]!;
  assert.ok(inCidr(early[3]!, "198.19.64.0/28"), early.join(" "));
  assert.equal((await h.run("kubectl create -f -", lb("late"))).code, 0);
  const late = rows(await ok(h, "kubectl get svc late"))[0]!;
  assert.ok(inCidr(late[3]!, "198.19.64.0/28"));
  assert.notEqual(late[3], early[3]);
  // Pods never get load-balancer addresses, and deleting the service returns its address.
  assert.ok(rows(await ok(h, "get pods -A -o wide")).every((r) => !inCidr(r[6]!, "198.19.64.0/28")));
  await ok(h, "kubectl delete svc early");
  assert.match(await ok(h, "calicoctl ipam show"), /198\.19\.64\.0\/28 \|\s+16 \| 1 \(6%\)/);
});

test("up is idempotent, refuses a second topology, and down removes everything", async () => {
  const h = await cluster();
  const again = await h.run("up");
  assert.equal(again.code, 0);
  assert.match(again.out, /cluster lab was already up/);
  const other = await h.run("up --topology seed000");
  assert.equal(other.code, 1);
  assert.match(
    other.err,
    /a cluster with topology "lab" is already up in this state dir; run "tortie down" first/,
  );
  assert.match(await ok(h, "down"), /cluster lab is down/);
  assert.equal((await h.run("status")).code, 1);
  assert.match((await h.run("get pods -A")).err, /No resources found/);
  await ok(h, "up --topology seed000");
  assert.match(await ok(h, "get nodes"), /master1/);
});

test("a topology file: documented format, and bad input named by field", async () => {
  const h = new CliHarness();
  harnesses.push(h);
  const file = join(h.stateDir, "topo.yaml");
  const topo = (extra = "") => `apiVersion: tortie.dev/v1
kind: Topology
metadata: {name: tiny}
spec:
  clusterCIDR: 10.10.0.0/16
  serviceCIDR: 10.96.0.0/16
  defaultPool: {cidr: 10.10.0.0/24, blockSize: 28}
  hosts:
  - {name: cp, address: 192.168.50.1/24, role: control-plane}
  - {name: w1, address: 192.168.50.2/24, role: worker}
${extra}`;
  writeFileSync(file, topo().replace("cidr: 10.10.0.0/24", "cidr: 10.11.0.0/24"));
  const bad = await h.run(`up --topology ${file}`);
  assert.equal(bad.code, 1);
  assert.match(
    bad.err,
    /spec\.defaultPool\.cidr: Invalid value: "10\.11\.0\.0\/24": must lie inside clusterCIDR 10\.10\.0\.0\/16/,
  );
  writeFileSync(file, topo().replace("role: worker", "role: wizard"));
  assert.match((await h.run(`up --topology ${file}`)).err, /spec\.hosts\[1\]\.role/);
  assert.match(
    (await h.run("up --topology nope")).err,
    /unknown topology "nope": not a built-in \(lab, seed000\) and no such file/,
  );
  assert.match((await h.run("get nodes")).err, /No resources found/, "nothing was written");
  writeFileSync(file, topo());
  await ok(h, `up --topology ${file}`);
  await ok(h, "kubectl run web --image=nginx --port 80");
  const [pod] = rows(await ok(h, "get pods -o wide"));
  assert.ok(inCidr(pod![5]!, "10.10.0.0/24"));
  assert.match(await ok(h, "get svc kube-dns -n kube-system"), /10\.96\.0\.10/);
});

test("a pod no node fits stays Pending with the scheduler's reason", async () => {
  const h = await cluster();
  const pod =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: lost, namespace: default}\nspec:\n  nodeSelector: {kubernetes.io/hostname: nowhere}\n  containers: [{name: c, image: nginx}]\n";
  assert.equal((await h.run("kubectl create -f -", pod)).code, 0);
  assert.match(await ok(h, "get pods -o wide"), /lost\s+0\/1\s+Pending\s+0\s+0s\s+<none>\s+<none>/);
  const yaml = await ok(h, "get pod lost -o yaml");
  assert.match(
    yaml,
    /message: "0\/3 nodes are available: 3 node\(s\) didn't match Pod's node affinity\/selector\."/,
  );
});

test("a manifest that fails part-way still leaves the cluster settled for what was stored", async () => {
  const h = await cluster();
  const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, nodePort: 80}]
`;
  const r = await h.run("kubectl apply -f -", manifest);
  assert.equal(r.code, 1);
  assert.match(r.err, /provided port is not in the valid range/);
  assert.match(await ok(h, "get pods"), /web-\S+\s+1\/1\s+Running/);
});
