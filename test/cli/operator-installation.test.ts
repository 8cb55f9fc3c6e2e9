/**
 * The Installation on the operator path (`up --no-cni`, the operator from its v3.21 URL): the CRD's enums refused
 * in the API server's words, dataplanes tortie does not run refused at apply, the operator's own validation
 * reported on TigeraStatus `calico` (Degraded), and deleting the Installation garbage-collects the calico-system
 * components while Calico's resources (the IPPool) stay.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CliHarness } from "./harness.ts";

const OPERATOR_URL = "https://docs.projectcalico.org/archive/v3.21/manifests/tigera-operator.yaml";

function installation(calicoNetwork: string): string {
  return `apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata:\n  name: default\nspec:\n  calicoNetwork:\n${calicoNetwork}`;
}

async function ok(h: CliHarness, line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  return r.out;
}

async function withOperator(t: { after: (f: () => void) => void }): Promise<CliHarness> {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --no-cni --no-serve");
  await ok(h, `kubectl create -f ${OPERATOR_URL}`);
  return h;
}

test("linuxDataplane: VPP and Nftables are refused at apply (not run by tortie), Bogus in the API server's words", async (t) => {
  const h = await withOperator(t);
  for (const dataplane of ["Nftables", "VPP"]) {
    const r = await h.run("kubectl apply -f -", installation(`    linuxDataplane: ${dataplane}\n`));
    assert.deepEqual(r, {
      code: 1,
      out: "",
      err: `error: STDIN:1: not supported yet: Installation spec.calicoNetwork.linuxDataplane "${dataplane}" (tortie runs Iptables and BPF)\n`,
    });
  }
  const bogus = await h.run("kubectl create -f -", installation("    linuxDataplane: Bogus\n"));
  assert.equal(bogus.code, 1);
  assert.match(
    bogus.err,
    /spec\.calicoNetwork\.linuxDataplane: Unsupported value: "Bogus": supported values: "Iptables", "BPF", "VPP", "Nftables"\n$/,
  );
  const encapsulation = await h.run(
    "kubectl apply -f -",
    installation("    ipPools:\n    - cidr: 198.19.16.0/21\n      encapsulation: GRE\n"),
  );
  assert.match(
    encapsulation.err,
    /spec\.calicoNetwork\.ipPools\[0\]\.encapsulation: Unsupported value: "GRE": supported values: "IPIPCrossSubnet", "IPIP", "VXLAN", "VXLANCrossSubnet", "None"\n$/,
  );
  assert.equal((await h.run("kubectl get installation")).err, "No resources found\n");
});

test("ipPools blockSize 33: stored, the operator reports it Degraded and installs nothing; fixed, Calico comes up", async (t) => {
  const h = await withOperator(t);
  await ok(
    h,
    "kubectl apply -f -",
    installation("    ipPools:\n    - cidr: 198.19.16.0/21\n      blockSize: 33\n"),
  );
  const status = JSON.parse(await ok(h, "kubectl get tigerastatus calico -o json"));
  const degraded = status.status.conditions.find((c: { type: string }) => c.type === "Degraded");
  assert.deepEqual(
    { status: degraded.status, reason: degraded.reason, message: degraded.message },
    {
      status: "True",
      reason: "Invalid Installation provided",
      message: "ipPool.blockSize must be greater than 19 and less than or equal to 32",
    },
  );
  assert.equal(
    (await h.run("kubectl get pods -n calico-system")).err,
    "No resources found in calico-system namespace.\n",
  );
  assert.equal((await h.run("calicoctl get ippools")).out.includes("198.19.16.0/21"), false);

  await ok(
    h,
    "kubectl apply -f -",
    installation("    ipPools:\n    - cidr: 198.19.16.0/21\n      blockSize: 26\n"),
  );
  assert.match(await ok(h, "kubectl get tigerastatus calico"), /^calico\s+True\s+False\s+False\s/m);
});

test("deleting the Installation: calico-system's components go, TigeraStatus goes, the IPPool stays", async (t) => {
  const h = await withOperator(t);
  await ok(
    h,
    "kubectl create -f -",
    installation("    ipPools:\n    - cidr: 198.19.16.0/21\n      encapsulation: None\n"),
  );
  assert.match(await ok(h, "kubectl get pods -n calico-system"), /^calico-node-/m);
  await ok(h, "kubectl delete installation default");
  assert.equal((await h.run("kubectl get pods -n calico-system")).out, "");
  assert.equal((await h.run("kubectl get daemonset -n calico-system")).out, "");
  assert.equal((await h.run("kubectl get tigerastatus")).err, "No resources found\n");
  assert.match(await ok(h, "calicoctl get ippools"), /198\.19\.16\.0\/21/);
});
