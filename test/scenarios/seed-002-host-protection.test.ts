/**
 * Seed 002's "Protecting Hosts" and "Lockdown Nodeport access" typed line by line on the seed's lab
 * (`tortie up --app yaobank`): default-node-policy, host endpoints auto-created by the patched
 * KubeControllersConfiguration, then nodeport-policy (deny, then allow host1 only), pre-DNAT on the node port.
 * Where the seed shows no output, the check is what the user would see from host1: the page, a timeout, SSH through
 * the failsafe ports.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { DEFAULT_NODE_POLICY, NODEPORT_ALLOW_HOST1, NODEPORT_DENY } from "../policy/seed-manifests.ts";

const h = new CliHarness();
after(() => h.cleanup());
let summary = "";

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  summary = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("summary"))!;
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

const PAGE =
  /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389\.45<\/h2>/;

async function pageLoads(line: string): Promise<void> {
  assert.match(await ok(line), PAGE);
}
async function timesOut(line: string, to: string): Promise<void> {
  const r = await h.run(line);
  assert.deepEqual(
    [r.code, r.out, r.err],
    [28, "", `curl: (28) Failed to connect to ${to} port 30180 after 3000 ms: Timeout was reached\n`],
  );
}

/** SSH from host1 works through Calico's failsafe ports: the port answers, and `ssh node1` in a shell lands there. */
async function sshWorks(): Promise<void> {
  const nc = await h.run("exec host1 -- nc -zv 198.19.0.2 22");
  assert.deepEqual([nc.code, nc.err], [0, "Connection to 198.19.0.2 22 port [tcp/ssh] succeeded!\n"]);
  const ssh = await h.run("shell host1", "ssh node1\nip -4 addr | grep -E 'inet 198'\nexit\n");
  assert.equal(ssh.err, "");
  assert.equal(ssh.out, "    inet 198.19.0.2/20 brd 198.19.15.255 scope global ens4\n");
}

const KUBELET = "exec host1 -- nc -zv -w 3 198.19.0.2 10250";

test("default-node-policy, then host endpoints: kubelet shut to host1, SSH (failsafe) and the node port still open", async () => {
  assert.deepEqual(await h.run(KUBELET), {
    code: 0,
    out: "",
    err: "Connection to 198.19.0.2 10250 port [tcp/*] succeeded!\n",
  });
  assert.equal(
    await ok("calicoctl apply -f -", DEFAULT_NODE_POLICY),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  // No host endpoints yet: the policy selects nothing.
  assert.equal((await h.run(KUBELET)).code, 0);
  assert.equal(await ok("calicoctl get heps"), "NAME   NODE   \n\n");

  assert.equal(
    await ok(
      `calicoctl patch kubecontrollersconfiguration default --patch='{"spec": {"controllers": {"node": {"hostEndpoint": {"autoCreate": "Enabled"}}}}}'`,
    ),
    "Successfully patched 1 'KubeControllersConfiguration' resource\n",
  );
  // The seed's table, NAME and NODE; calicoctl lists the HostEndpoint CRDs by name (the seed's run shows node2 first).
  assert.equal(
    await ok("calicoctl get heps"),
    [
      "NAME               NODE      ",
      "control-auto-hep   control   ",
      "node1-auto-hep     node1     ",
      "node2-auto-hep     node2     ",
      "",
      "",
    ].join("\n"),
  );
  const wide = await ok("calicoctl get heps -o wide");
  assert.match(wide, /^NAME {15}NODE {6}INTERFACE {3}IPS {10}PROFILES {22}\n/);
  assert.match(wide, /^node1-auto-hep {5}node1 {5}\* {11}198\.19\.0\.2 {3}projectcalico-default-allow {3}$/m);
  const kubelet = await h.run(KUBELET);
  assert.deepEqual(
    [kubelet.code, kubelet.err],
    [1, "nc: connect to 198.19.0.2 port 10250 (tcp) timed out: Operation now in progress\n"],
  );
  await sshWorks();
  // Node port traffic is forwarded to the pod, which default-node-policy (not applyOnForward) does not cover.
  await pageLoads("exec host1 -- curl --connect-timeout 3 198.19.0.1:30180");
});

test("nodeport-policy (deny): the node port times out from host1, SSH still works", async () => {
  assert.equal(
    await ok("calicoctl apply -f -", NODEPORT_DENY),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  await timesOut("exec host1 -- curl --connect-timeout 3 198.19.0.1:30180", "198.19.0.1");
  await timesOut("exec host1 -- curl --connect-timeout 3 198.19.0.2:30180", "198.19.0.2");
  await sshWorks();
  assert.equal(
    await ok("calicoctl get gnp"),
    "NAME                  \ndefault-node-policy   \nnodeport-policy       \n\n",
  );
});

test("nodeport-policy (allow host1): host1 gets the page through any node, node2 and a pod are still refused", async () => {
  assert.equal(
    await ok("calicoctl apply -f -", NODEPORT_ALLOW_HOST1),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  await pageLoads("exec host1 -- curl 198.19.0.1:30180");
  await pageLoads("exec host1 -- curl 198.19.0.3:30180");
  await timesOut("exec node2 -- curl --connect-timeout 3 198.19.0.1:30180", "198.19.0.1");
  await timesOut(`exec yaobank/${summary} -- curl --connect-timeout 3 198.19.0.1:30180`, "198.19.0.1");
  await sshWorks();
});
