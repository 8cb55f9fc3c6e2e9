/**
 * `tortie up --no-cni`: the seed 002 lab before the operator install (seed lines ~1890–1910): Kubernetes without a
 * CNI, every node NotReady with the kubelet's reason and the node lifecycle controller's taint, CoreDNS Pending,
 * and no Calico object yet. Also the URL table `kubectl create -f URL` reads from.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliHarness } from "./harness.ts";

const NOT_READY =
  "runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

async function ok(h: CliHarness, line: string | string[], stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  assert.equal(r.err, "", String(line));
  return r.out;
}

test("up --no-cni: nodes NotReady and tainted, CoreDNS Pending on the taint, no Calico objects", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const up = await ok(h, "up --no-cni --no-serve");
  assert.match(up, /^cluster lab is up: nodes control, node1, node2; external hosts host1; /);
  assert.equal(
    await ok(h, "kubectl get nodes -A"),
    [
      "NAME      STATUS     ROLES    AGE   VERSION",
      "control   NotReady   master   0s    v1.18.10+k3s1",
      "node1     NotReady   <none>   0s    v1.18.10+k3s1",
      "node2     NotReady   <none>   0s    v1.18.10+k3s1",
      "",
    ].join("\n"),
  );
  const ready = await ok(h, [
    "kubectl",
    "get",
    "node",
    "node1",
    "-o",
    'jsonpath={.status.conditions[?(@.type=="Ready")].reason}|{.status.conditions[?(@.type=="Ready")].message}|{.spec.taints}',
  ]);
  assert.equal(
    ready,
    `KubeletNotReady|${NOT_READY}|[{"effect":"NoSchedule","key":"node.kubernetes.io/not-ready"}]`,
  );
  const pods = await ok(h, "kubectl get pods -A");
  assert.match(pods, /^kube-system {3}coredns-[a-z0-9]+-[a-z0-9]{5} {3}0\/1 {5}Pending {3}0 {10}0s$/m);
  assert.equal(pods.trim().split("\n").length, 2, pods);
  const reason = await ok(
    h,
    "kubectl get pods -n kube-system -l k8s-app=kube-dns -o jsonpath={.items[0].status.conditions[0].message}",
  );
  assert.equal(
    reason,
    "0/3 nodes are available: 3 node(s) had taint {node.kubernetes.io/not-ready: }, that the pod didn't tolerate.",
  );
  assert.equal(await ok(h, "calicoctl get ippool"), "NAME   CIDR   SELECTOR   \n\n");
  assert.equal(await ok(h, "calicoctl get nodes"), "NAME   \n\n");
  for (const kind of ["felixconfiguration", "bgpconfiguration", "installation", "tigerastatus"]) {
    const r = await h.run(`kubectl get ${kind}`);
    assert.equal(r.out, "", kind);
    assert.match(r.err, /No resources found/, kind);
  }
  const status = await ok(h, "status");
  assert.match(status, /^node node1: NotReady, worker, 198\.19\.0\.2\/20, 0 pods running$/m);
  assert.match(status, /^calico: not available$/m);

  // A second `up` keeps the cluster as it was brought up: it does not install Calico over it.
  assert.match(await ok(h, "up --no-serve"), /^cluster lab was already up: /);
  assert.match(await ok(h, "kubectl get nodes"), /^node1 +NotReady /m);
  assert.equal(await ok(h, "calicoctl get ippool"), "NAME   CIDR   SELECTOR   \n\n");
});

test("up --no-cni refuses --app and a cluster that already runs Calico, each in one line", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const app = await h.run("up --no-cni --app yaobank --no-serve");
  assert.equal(app.code, 1);
  assert.equal(
    app.err,
    "error: --app yaobank needs a CNI: without Calico no pod gets an address (leave out --no-cni, or install Calico first and apply the app with kubectl)\n",
  );
  assert.equal((await h.run("kubectl get nodes")).out, "", "nothing was built");
  await ok(h, "up --no-serve");
  const again = await h.run("up --no-cni --no-serve");
  assert.equal(again.code, 1);
  assert.equal(
    again.err,
    'error: cluster lab is up with Calico installed; run "tortie down" first to bring it up with --no-cni\n',
  );
  assert.match(await ok(h, "kubectl get nodes"), /^node1 +Ready /m);
});

test("up --help documents --no-cni", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const help = await h.run("up --help");
  assert.match(help.out, /--no-cni +Kubernetes without Calico, as before the operator install/);
});

test("kubectl -f URL: the labs' known URLs read shipped copies; any other URL is refused in one line", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --no-serve");
  const other = await h.run("kubectl apply -f https://example.com/app.yaml");
  assert.equal(other.code, 1);
  assert.equal(
    other.err,
    "error: not supported yet: reading manifests from URLs (tortie has no network access): https://example.com/app.yaml\n",
  );
  assert.equal(
    await ok(h, "kubectl apply -f https://raw.githubusercontent.com/tigera/ccol1/main/yaobank.yaml"),
    [
      "namespace/yaobank created",
      "service/database created",
      "serviceaccount/database created",
      "deployment.apps/database created",
      "service/summary created",
      "serviceaccount/summary created",
      "deployment.apps/summary created",
      "service/customer created",
      "serviceaccount/customer created",
      "deployment.apps/customer created",
      "",
    ].join("\n"),
  );
});
