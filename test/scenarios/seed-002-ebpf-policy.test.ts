/**
 * Seed 002's YAO Bank policies (the "Scenarios" lines of seed-002-policy.test.ts) in Calico's eBPF mode: after the
 * seed's installation patch (`linuxDataplane: BPF`), Felix leaves only its BPF-mode rules in iptables
 * (felix-bpf-iptables.ts, pinned by test/golden/ebpf-node1-iptables-save.txt) and the policy moves into the BPF
 * programs, which still allow and deny the same flows, and `tortie trace` shows their "bpf policy" step.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import {
  CUSTOMER_SUMMARY_POLICIES,
  DATABASE_POLICY,
  DEFAULT_APP_POLICY,
  DEFAULT_APP_POLICY_WITH_DNS,
} from "../policy/seed-manifests.ts";

const GOLDEN = new URL("../golden/ebpf-node1-iptables-save.txt", import.meta.url);
const h = new CliHarness();
after(() => h.cleanup());
let customer = "";
let database = "";

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  const pods = (await h.store().list(controlKinds.Pod, "yaobank")).map((p) => p.metadata.name!);
  customer = pods.find((n) => n.startsWith("customer"))!;
  database = pods.find((n) => n.startsWith("database"))!;
  await ok(
    `kubectl patch installation.operator.tigera.io default --type merge -p '{"spec":{"calicoNetwork":{"linuxDataplane":"BPF", "hostPorts":null}}}'`,
  );
});

/** The seed's `kubectl exec -it $CUSTOMER_POD -n yaobank -c customer -- /bin/bash` on host1, then `lines` inside. */
async function inCustomer(...lines: string[]) {
  return h.run(
    "shell host1",
    [
      `CUSTOMER_POD=${customer}`,
      "kubectl exec -it $CUSTOMER_POD -n yaobank -c customer -- /bin/bash",
      ...lines,
      "echo exit=$?",
    ].join("\n"),
  );
}

const ATTACK_TIMEOUT = "curl --connect-timeout 3 http://database:2379/v2/keys?recursive=true";

async function page(): Promise<{ code: number; out: string; err: string }> {
  return h.run("exec host1 -- curl --connect-timeout 3 198.19.0.1:30180");
}
async function pageLoads(): Promise<void> {
  const r = await page();
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /<h1>Welcome to YAO Bank<\/h1>/);
}
async function attackFails(): Promise<void> {
  const r = await inCustomer(ATTACK_TIMEOUT);
  assert.equal(
    r.err,
    "curl: (28) Failed to connect to database port 2379 after 3001 ms: Timeout was reached\n",
  );
  assert.equal(r.out, "exit=28\n");
}

test("iptables-save on node1 in eBPF mode is what Felix leaves: no kube-proxy chains, no workload or policy chains", async () => {
  const saved = await ok("exec node1 -- sudo iptables-save");
  // Which pods land on node1 varies: the dispatch chain must list exactly node1's cali devices, then the rest is
  // pinned with those lines folded into one.
  const dispatched = [...saved.matchAll(/^-A cali-to-wl-dispatch -o (cali\w+) -j ACCEPT$/gm)].map(
    (m) => m[1],
  );
  const links = [...(await ok("exec node1 -- ip link show")).matchAll(/^\d+: (cali\w+)@/gm)].map((m) => m[1]);
  assert.deepEqual(dispatched, links.sort());
  assert.ok(dispatched.length > 0);
  const rules = saved
    .replace(/^#.*\n/gm, "")
    .replace(
      /(^-A cali-to-wl-dispatch -o cali\w+ -j ACCEPT\n)+/m,
      "-A cali-to-wl-dispatch -o CALI_WORKLOADS -j ACCEPT\n",
    );
  if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, rules);
  assert.equal(rules, readFileSync(GOLDEN, "utf8"));
  assert.doesNotMatch(saved, /KUBE-/);
  assert.doesNotMatch(saved, /cali-(tw|fw|pi|po|pri|pro)-|cali-from-wl-dispatch|cali-wl-to-host/);
  assert.match(
    saved,
    /-m comment --comment "Pre-approved by BPF programs\." -m mark --mark 0x3000000\/0x3000000 -j ACCEPT/,
  );
});

test("the attack works before any policy, then database-policy stops it in the BPF programs; the page still loads", async () => {
  const open = await inCustomer("curl http://database:2379/v2/keys?recursive=true");
  assert.equal(open.code, 0, open.err);
  assert.match(open.out, /"key":"\/accounts\/1"/);
  await ok("kubectl apply -f -", DATABASE_POLICY);
  await attackFails();
  await pageLoads();
});

test("tortie trace: the database's ingress policy decides in a bpf policy step", async () => {
  const t = JSON.parse(await ok(`trace yaobank/${customer} yaobank/${database}:2379 -o json`));
  assert.equal(t.verdict, "dropped");
  const steps = t.hops
    .filter((s: { stage: string }) => s.stage === "bpf policy")
    .map((s: { detail: string }) => s.detail);
  assert.ok(
    steps.some((d: string) => /^FORWARD: DROP by cali-tw-cali\w+ rule \d+$/.test(d)),
    steps.join("\n"),
  );
  assert.ok(
    t.policy.some(
      (p: { policy: string; direction: string }) =>
        /database-policy/.test(p.policy) && p.direction === "ingress",
    ),
    JSON.stringify(t.policy),
  );
  // The node's own iptables saw none of the policy chains.
  assert.ok(!t.rules.some((r: { chain: string }) => r.chain.startsWith("KUBE-")));
});

test("default-deny (then with DNS), then customer/summary policies: the page stops, then loads again; the attack still fails", async () => {
  await ok("calicoctl apply -f -", DEFAULT_APP_POLICY);
  const r = await page();
  assert.equal(r.code, 28, r.out);
  await ok("calicoctl apply -f -", DEFAULT_APP_POLICY_WITH_DNS);
  await ok("kubectl apply -f -", CUSTOMER_SUMMARY_POLICIES);
  await pageLoads();
  await attackFails();
});
