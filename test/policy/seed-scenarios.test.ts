/**
 * The policy scenarios of seed 002 on the lab with YAO Bank, applied with the seed's own commands and YAML,
 * each followed by the verdicts the seed states (through `tortie policy explain -o json`).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { findKind } from "../../src/api/index.ts";
import { CliHarness } from "../cli/harness.ts";
import {
  CUSTOMER_SUMMARY_POLICIES,
  DATABASE_POLICY,
  DEFAULT_APP_POLICY,
  DEFAULT_APP_POLICY_WITH_DNS,
  DEFAULT_NODE_POLICY,
  EGRESS_LOCKDOWN,
  NODEPORT_ALLOW_HOST1,
  NODEPORT_DENY,
} from "./seed-manifests.ts";

const h = new CliHarness();
let pods: Record<string, string> = {};
let svc: Record<string, string> = {};

interface Explained {
  verdict: "allowed" | "denied";
  paths: {
    checks: {
      stage: string;
      verdict: string;
      reason: string;
      decidedBy?: { policy: string; rule: number };
    }[];
  }[];
}

async function explain(from: string, to: string, port: number, proto = "tcp"): Promise<Explained> {
  const r = await h.run([
    "policy",
    "explain",
    from,
    to,
    "--port",
    String(port),
    "--proto",
    proto,
    "-o",
    "json",
  ]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}

async function expectVerdict(
  from: string,
  to: string,
  port: number,
  verdict: "allowed" | "denied",
  proto = "tcp",
) {
  const e = await explain(from, to, port, proto);
  assert.equal(
    e.verdict,
    verdict,
    `${from} -> ${to}:${port}/${proto}: ${JSON.stringify(e.paths.map((p) => p.checks.map((c) => c.reason)))}`,
  );
  return e;
}

async function apply(tool: "kubectl" | "calicoctl", yaml: string) {
  const r = await h.run([tool, "apply", "-f", "-"], yaml);
  assert.equal(r.code, 0, r.err);
}

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  const store = h.store();
  for (const p of await store.list(findKind("v1", "Pod")!, "yaobank"))
    pods[p.metadata.labels!.app!] = `yaobank/${p.metadata.name}`;
  for (const s of await store.list(findKind("v1", "Service")!)) svc[s.metadata.name!] = s.spec.clusterIP;
  pods = { ...pods };
  svc = { ...svc };
});
after(() => h.cleanup());

test("seed 002, step 1: the database is open until database-policy, then only summary reaches it", async () => {
  await expectVerdict(pods.customer!, `${svc.database}`, 2379, "allowed");
  await apply("kubectl", DATABASE_POLICY);
  const denied = await expectVerdict(pods.customer!, svc.database!, 2379, "denied");
  const last = denied.paths[0]!.checks.at(-1)!;
  assert.equal(last.stage, "workload");
  assert.match(last.reason, /end of tier default/);
  await expectVerdict(pods.summary!, svc.database!, 2379, "allowed");
});

test("seed 002, steps 1-2: default-app-policy denies everything in app namespaces, then allows DNS to kube-dns", async () => {
  await apply("calicoctl", DEFAULT_APP_POLICY);
  await expectVerdict(pods.customer!, svc.summary!, 80, "denied");
  await expectVerdict(pods.customer!, "198.19.32.10", 53, "denied", "udp");
  await apply("calicoctl", DEFAULT_APP_POLICY_WITH_DNS);
  const dns = await expectVerdict(pods.customer!, "198.19.32.10", 53, "allowed", "udp");
  assert.equal(dns.paths[0]!.checks[0]!.decidedBy?.policy, "default-app-policy");
  await expectVerdict(pods.customer!, "198.19.32.10", 53, "denied", "tcp");
});

test("seed 002, step 3: customer-policy and summary-policy open the application's own paths", async () => {
  await apply("kubectl", CUSTOMER_SUMMARY_POLICIES);
  await expectVerdict(pods.customer!, svc.summary!, 80, "allowed");
  await expectVerdict(pods.summary!, svc.database!, 2379, "allowed");
  await expectVerdict(pods.customer!, svc.database!, 2379, "denied");
  await expectVerdict("host1", "198.19.0.1", 30180, "allowed");
  await expectVerdict(pods.customer!, "8.8.8.8", 443, "allowed");
});

test("seed 002, steps 4-5: egress-lockdown (order 600) beats the Kubernetes policies until the service account is labelled", async () => {
  await apply("calicoctl", EGRESS_LOCKDOWN);
  const denied = await expectVerdict(pods.customer!, "8.8.8.8", 443, "denied");
  assert.deepEqual(denied.paths[0]!.checks[0]!.decidedBy, {
    tier: "default",
    policy: "egress-lockdown",
    rule: 0,
    action: "Deny",
  });
  // Inside the private ranges the lockdown does not match, and customer-policy (order 1000) still allows.
  await expectVerdict(pods.customer!, svc.summary!, 80, "allowed");
  const label = await h.run("kubectl label serviceaccount -n yaobank customer internet-egress=allowed");
  assert.equal(label.code, 0, label.err);
  await expectVerdict(pods.customer!, "8.8.8.8", 443, "allowed");
  await expectVerdict(pods.summary!, "8.8.8.8", 443, "denied");
});

test("seed 002, protecting hosts: default-node-policy on auto host endpoints; failsafe ports stay open", async () => {
  await apply("calicoctl", DEFAULT_NODE_POLICY);
  // Without host endpoints the policy selects nothing.
  await expectVerdict("host1", "node1", 10250, "allowed");
  const patch = await h.run([
    "calicoctl",
    "patch",
    "kubecontrollersconfiguration",
    "default",
    '--patch={"spec": {"controllers": {"node": {"hostEndpoint": {"autoCreate": "Enabled"}}}}}',
  ]);
  assert.equal(patch.code, 0, patch.err);
  const heps = await h.run("calicoctl get heps");
  assert.match(heps.out, /node1-auto-hep\s+node1/);
  const kubelet = await expectVerdict("host1", "node1", 10250, "denied");
  assert.match(kubelet.paths[0]!.checks.at(-1)!.reason, /end of tier default/);
  const ssh = await expectVerdict("host1", "node1", 22, "allowed");
  assert.match(ssh.paths[0]!.checks.at(-1)!.reason, /failsafe inbound port tcp:22/);
  await expectVerdict("host1", "node1", 6443, "allowed");
  await expectVerdict("node1", "node2", 179, "allowed");
  // Node ports are forwarded traffic: normal host endpoint policy does not apply to them.
  await expectVerdict("host1", "198.19.0.1", 30180, "allowed");
});

test("seed 002, lockdown node ports: nodeport-policy (preDNAT, applyOnForward) lets only host1 reach 30180", async () => {
  await apply("calicoctl", NODEPORT_DENY);
  const denied = await expectVerdict("host1", "198.19.0.1", 30180, "denied");
  const first = denied.paths[0]!.checks[0]!;
  assert.equal(first.stage, "pre-dnat");
  assert.deepEqual(first.decidedBy?.policy, "nodeport-policy");
  await apply("calicoctl", NODEPORT_ALLOW_HOST1);
  await expectVerdict("host1", "198.19.0.1", 30180, "allowed");
  await expectVerdict("198.19.15.1", "198.19.0.1", 30180, "denied");
  await expectVerdict("198.19.15.1", "198.19.0.2", 30180, "denied");
  // Failsafe ports are still open, pre-DNAT or not.
  await expectVerdict("198.19.15.1", "node1", 22, "allowed");
});
