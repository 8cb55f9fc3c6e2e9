/**
 * Seed 002's "Calico Lab installation using Operator Method" (lines ~1842–2080), typed line by line on
 * `tortie up --no-cni`: the nodes NotReady without a CNI, the Tigera operator from its v3.21 manifest URL, the
 * seed's Installation, TigeraStatus, the calico-system pods, the nodes Ready, then YAO Bank from its URL.
 *
 * Differences from the seed's text, each explained where it is checked:
 * - tortie settles every command before the next, so TigeraStatus is already Available when first read and AGE
 *   is the harness's fixed 0s; pod name suffixes are tortie's own.
 * - the seed's k3s extras (traefik, metrics-server, local-path-provisioner, helm-install) are not modelled.
 * - tortie emulates Calico v3.21: no csi-node-driver pods (they came with v3.23).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

const INSTALLATION = `apiVersion: operator.tigera.io/v1
kind: Installation
metadata:
  name: default
spec:
  calicoNetwork:
    containerIPForwarding: Enabled
    ipPools:
    - cidr: 198.19.16.0/21
      natOutgoing: Enabled
      encapsulation: None
`;

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  assert.equal(r.err, "", line);
  return r.out;
}

/** NAME column values of a kubectl table whose names start with `prefix`. */
function names(table: string, prefix: string): string[] {
  return table
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s+/)[0]!)
    .filter((n) => n.startsWith(prefix));
}

test("seed 002 install: NotReady nodes, the operator from its URL, the Installation, then Calico up and nodes Ready", async () => {
  await ok("up --no-cni --no-serve");
  assert.equal(
    await ok("kubectl get nodes -A"),
    "NAME      STATUS     ROLES    AGE   VERSION\n" +
      "control   NotReady   master   0s    v1.18.10+k3s1\n" +
      "node1     NotReady   <none>   0s    v1.18.10+k3s1\n" +
      "node2     NotReady   <none>   0s    v1.18.10+k3s1\n",
  );

  // The CRDs, PodSecurityPolicy and RBAC objects of the real file are not modelled (see the shipped copy's header).
  assert.equal(
    await ok("kubectl create -f https://docs.projectcalico.org/archive/v3.21/manifests/tigera-operator.yaml"),
    "namespace/tigera-operator created\nserviceaccount/tigera-operator created\ndeployment.apps/tigera-operator created\n",
  );
  const operator = await ok("kubectl get pods -n tigera-operator");
  assert.match(
    operator,
    /^NAME {31}READY {3}STATUS {4}RESTARTS {3}AGE\ntigera-operator-[a-z0-9]{10}-[a-z0-9]{5} {3}1\/1 {5}Running {3}0 {10}0s\n$/,
  );
  // Host-networked and tolerating every taint: it runs on a NotReady node, with that node's address.
  assert.match(await ok("kubectl get pods -n tigera-operator -o wide"), / 198\.19\.0\.[123] /);
  assert.equal(
    await ok("calicoctl get ippool"),
    "NAME   CIDR   SELECTOR   \n\n",
    "the operator waits for an Installation",
  );

  assert.equal(
    await ok("kubectl apply -f -", INSTALLATION),
    "installation.operator.tigera.io/default created\n",
  );
  assert.equal(
    await ok("kubectl get tigerastatus/calico"),
    "NAME     AVAILABLE   PROGRESSING   DEGRADED   SINCE\ncalico   True        False         False      0s\n",
  );
  const calico = await ok("kubectl get pods -n calico-system");
  assert.equal(names(calico, "calico-node-").length, 3, calico);
  assert.equal(
    names(calico, "calico-typha-").length,
    3,
    "operator v1.23 runs one Typha per node up to 3 nodes",
  );
  assert.equal(names(calico, "calico-kube-controllers-").length, 1, calico);
  assert.equal(names(calico, "csi-node-driver-").length, 0, "Calico v3.21 has no CSI driver");
  for (const line of calico.trim().split("\n").slice(1)) assert.match(line, /^\S+ +1\/1 +Running +0 +0s$/);
  for (const name of names(calico, "calico-node-")) assert.match(name, /^calico-node-[a-z0-9]{5}$/);
  for (const name of names(calico, "calico-typha-"))
    assert.match(name, /^calico-typha-[a-z0-9]{10}-[a-z0-9]{5}$/);
  // calico-node is the operator's DaemonSet, one pod per node (the seed's `kubectl get ds` is not typed; this is
  // what the API server's DaemonSet table prints).
  assert.equal(
    await ok("kubectl get ds -n calico-system"),
    "NAME          DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR            AGE\n" +
      "calico-node   3         3         3       3            3           kubernetes.io/os=linux   0s\n",
  );

  assert.equal(
    await ok("kubectl get nodes -A"),
    "NAME      STATUS   ROLES    AGE   VERSION\n" +
      "control   Ready    master   0s    v1.18.10+k3s1\n" +
      "node1     Ready    <none>   0s    v1.18.10+k3s1\n" +
      "node2     Ready    <none>   0s    v1.18.10+k3s1\n",
  );
  // The Installation's pool: natOutgoing Enabled, encapsulation None.
  assert.equal(
    await ok("calicoctl get ippool -o wide"),
    "NAME                  CIDR             NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   \n" +
      "default-ipv4-ippool   198.19.16.0/21   true   Never      Never       false      false              all()      \n\n",
  );
  assert.equal(await ok("calicoctl get nodes"), "NAME      \ncontrol   \nnode1     \nnode2     \n\n");
  // CoreDNS was Pending on the not-ready taint; it now runs with a pod address from the pool.
  assert.match(
    await ok("kubectl get pods -n kube-system -o wide"),
    /^coredns-\S+ +1\/1 +Running +0 +0s +198\.19\.(1[6-9]|2[0-3])\.\d+ /m,
  );
  // The untainted nodes have no not-ready taint left.
  assert.equal(await ok("kubectl get node node1 -o jsonpath={.spec.taints}"), "");
});

test("seed 002 install: YAO Bank from its URL on the operator-installed cluster, its page from host1", async () => {
  assert.match(
    await ok("kubectl apply -f https://raw.githubusercontent.com/tigera/ccol1/main/yaobank.yaml"),
    /^deployment\.apps\/customer created$/m,
  );
  assert.match(await ok("kubectl rollout status -n yaobank deployment/customer"), /successfully rolled out/);
  const page = await ok("exec host1 -- curl 198.19.0.1:30180");
  assert.match(page, /<h1>Welcome to YAO Bank<\/h1>/);
  assert.match(page, /<h2>Balance: 2389\.45<\/h2>/);
});

test("seed 002 eBPF section's restart lines: the operator pod and calico-node pods come back", async () => {
  const before = names(await ok("kubectl get pods -n tigera-operator"), "tigera-operator-");
  assert.match(
    await ok("kubectl delete pod -n tigera-operator -l k8s-app=tigera-operator"),
    /^pod "tigera-operator-\S+" deleted\n$/,
  );
  const after = names(await ok("kubectl get pods -n tigera-operator"), "tigera-operator-");
  assert.equal(after.length, 1);
  assert.notDeepEqual(after, before, "the ReplicaSet made a new pod");
  const nodesBefore = names(await ok("kubectl get pods -n calico-system"), "calico-node-");
  await ok("kubectl delete pod -n calico-system -l k8s-app=calico-node");
  const calico = await ok("kubectl get pods -n calico-system");
  assert.equal(names(calico, "calico-node-").length, 3, calico);
  for (const name of names(calico, "calico-node-"))
    assert.ok(!nodesBefore.includes(name), `the DaemonSet made new pods, new names: ${calico}`);
  assert.match(await ok("kubectl get tigerastatus/calico"), /^calico +True +False +False /m);
});

test("seed 002 install: `calicoctl ipam check` is clean: host-networked pods (calico-node, typha, the operator) hold no pod addresses", async () => {
  const check = await ok("calicoctl ipam check");
  assert.match(check, /^Check complete; found 0 problems\.$/m, check);
  assert.doesNotMatch(check, /calico-node|calico-typha|tigera-operator/);
});
