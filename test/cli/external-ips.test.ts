import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness } from "./harness.ts";

/**
 * CVE-2020-8554: a Service's externalIPs capture traffic for any address from every pod and node. tortie's lab
 * admits an external IP only inside the default BGPConfiguration's serviceExternalIPs (the externalip-webhook's
 * rule and message), and never a host's address or a service's cluster IP.
 */

const h = new CliHarness();
after(() => h.cleanup());

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  return r.out;
}

const externalIPs = async () =>
  (await ok("kubectl get svc -n yaobank customer -o jsonpath={.spec.externalIPs}")).trim();

let summaryPod = "";

before(async () => {
  await ok("up --app yaobank");
  summaryPod = (await ok("kubectl get pods -n yaobank -o name"))
    .split("\n")
    .find((n) => n.includes("summary"))!;
  summaryPod = summaryPod.replace("pod/", "");
});

test("the issue's Service patch is refused with the webhook's message, one line, nothing stored", async () => {
  const r = await h.run(
    `kubectl patch svc -n yaobank customer -p '{"spec":{"externalIPs":["1.1.1.1","198.19.0.2","198.19.32.10"]}}'`,
  );
  assert.equal(r.code, 1, r.out);
  assert.equal(r.out, "");
  assert.equal(
    r.err,
    'error: admission webhook "validate-externalip.webhook.svc" denied the request: ' +
      'spec.externalIPs: Invalid value: "1.1.1.1": externalIP specified is not allowed to use; ' +
      'spec.externalIPs: Invalid value: "198.19.0.2": externalIP is the address of host node1; ' +
      'spec.externalIPs: Invalid value: "198.19.32.10": externalIP is the cluster IP of service kube-system/kube-dns\n',
  );
  assert.equal(await externalIPs(), "");
  // ...so a pod's curl to 1.1.1.1 no longer reaches YAO Bank.
  const curl = await h.run(
    `kubectl exec ${summaryPod} -n yaobank -- curl --connect-timeout 3 http://1.1.1.1`,
  );
  assert.notEqual(curl.code, 0, curl.out);
  assert.doesNotMatch(curl.out, /YAO Bank/);
});

test("a new Service with an external IP outside the allowed ranges is refused too", async () => {
  const r = await h.run(
    "kubectl apply -f -",
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: mitm\n  namespace: yaobank\nspec:\n  selector: {app: customer}\n  ports: [{port: 80}]\n  externalIPs: [8.8.8.8]\n",
  );
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /denied the request: spec\.externalIPs: Invalid value: "8\.8\.8\.8": externalIP specified is not allowed to use\n$/,
  );
  assert.equal((await h.run("kubectl get svc -n yaobank mitm")).code, 1);
});

test("the seeds' flow works: advertise serviceExternalIPs, then use an address inside them", async () => {
  await ok(
    `calicoctl patch BGPConfig default --patch '{"spec": {"serviceExternalIPs": [{"cidr": "198.19.48.0/20"}, {"cidr": "198.19.0.0/24"}]}}'`,
  );
  assert.equal(
    await ok(`kubectl patch svc -n yaobank customer -p  '{"spec": {"externalIPs": ["198.19.48.10"]}}'`),
    "service/customer patched\n",
  );
  assert.equal(await externalIPs(), '["198.19.48.10"]');
  // Inside an allowed range, a host's address is still refused.
  const node = await h.run(
    `kubectl patch svc -n yaobank customer -p '{"spec":{"externalIPs":["198.19.48.10","198.19.0.3"]}}'`,
  );
  assert.equal(node.code, 1);
  assert.match(node.err, /"198\.19\.0\.3": externalIP is the address of host node2\n$/);
  // Shrinking the allowed ranges does not wedge the Service: later writes keep the address already admitted.
  await ok(`calicoctl patch BGPConfig default --type merge --patch '{"spec": {"serviceExternalIPs": null}}'`);
  assert.equal(await ok("kubectl label svc -n yaobank customer tier=front"), "service/customer labeled\n");
  assert.equal(await externalIPs(), '["198.19.48.10"]');
});

test("without a cluster (a bare store) nothing is programmed and the rule does not apply", async () => {
  const bare = new CliHarness();
  try {
    const r = await bare.run(
      "kubectl apply -f -",
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: default\nspec:\n  ports: [{port: 80}]\n  externalIPs: [1.1.1.1]\n",
    );
    assert.equal(r.code, 0, r.err);
  } finally {
    bare.cleanup();
  }
});
