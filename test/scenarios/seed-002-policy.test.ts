/**
 * Seed 002's "Scenarios" (YAO Bank under Kubernetes and Calico policy) typed line by line on the seed's own lab
 * (`tortie up --app yaobank`: control, node1, node2, host1): `kubectl`/`calicoctl` lines as `tortie kubectl|calicoctl
 * …`, `cat <<EOF | kubectl apply -f -` as `kubectl apply -f -` with the heredoc on stdin, and the attack from inside
 * the customer pod through the shell on host1 (`kubectl exec -it $CUSTOMER_POD … -- /bin/bash`, then the lines typed
 * in it). Where the seed shows no output, the check is what the user would see: the page from host1 still loads (or
 * not), curl's error as curl 7.88 words it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import {
  CUSTOMER_SUMMARY_POLICIES,
  DATABASE_POLICY,
  DEFAULT_APP_POLICY,
  DEFAULT_APP_POLICY_WITH_DNS,
  EGRESS_LOCKDOWN,
} from "../policy/seed-manifests.ts";

const h = new CliHarness();
after(() => h.cleanup());
let customer = "";

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

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

const ATTACK = "curl http://database:2379/v2/keys?recursive=true | python -m json.tool";
const ATTACK_TIMEOUT = "curl --connect-timeout 3 http://database:2379/v2/keys?recursive=true";

/** YAO Bank's front page from host1, through control's node port (the seed's way in). */
async function page(): Promise<{ code: number; out: string; err: string }> {
  return h.run("exec host1 -- curl --connect-timeout 3 198.19.0.1:30180");
}
async function pageLoads(): Promise<void> {
  const r = await page();
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389\.45<\/h2>/,
  );
}
async function pageTimesOut(): Promise<void> {
  const r = await page();
  assert.deepEqual(
    [r.code, r.out, r.err],
    [28, "", "curl: (28) Failed to connect to 198.19.0.1 port 30180 after 3000 ms: Timeout was reached\n"],
  );
}

/** The policies `tortie trace` saw on the customer pod's egress to an internet address. */
async function egressToInternet(): Promise<{ verdict: string; policies: string[] }> {
  const t = JSON.parse(await ok(`trace yaobank/${customer} 8.8.8.8:80 -o json`));
  return {
    verdict: t.verdict,
    policies: t.policy
      .filter((p: { direction: string }) => p.direction === "egress")
      .map((p: { policy: string; action: string }) => `${p.policy} ${p.action}`),
  };
}

test("1. the attack from inside the customer pod succeeds: every account's balance, as python -m json.tool prints it", async () => {
  const r = await inCustomer(ATTACK);
  assert.equal(r.err, "");
  assert.equal(r.code, 0);
  assert.match(r.out, /^\{\n {4}"action": "get",\n {4}"node": \{\n {8}"dir": true,\n/);
  for (const [n, name, balance] of [
    [1, "Spike Curtis", "2389.45"],
    [2, "Alex Pollitt", "1203.88"],
    [3, "Casey Davenport", "8291.04"],
  ])
    assert.match(
      r.out,
      new RegExp(
        ` {24}"key": "/accounts/${n}",\\n {24}"value": "\\{\\\\"name\\\\":\\\\"${name}\\\\",\\\\"balance\\\\":${balance}\\}",\\n`,
      ),
    );
  assert.match(r.out, /\n\}\nexit=0\n$/);
  await pageLoads();
});

test("database-policy: the attack times out, summary (and so the page) still reaches the database", async () => {
  assert.equal(
    await ok("kubectl apply -f -", DATABASE_POLICY),
    "networkpolicy.networking.k8s.io/database-policy created\n",
  );
  const r = await inCustomer(ATTACK_TIMEOUT);
  assert.equal(
    r.err,
    "curl: (28) Failed to connect to database port 2379 after 3001 ms: Timeout was reached\n",
  );
  assert.equal(r.out, "exit=28\n");
  await pageLoads();
});

test("default-app-policy (first version): yaobank is default-deny both ways, DNS included", async () => {
  assert.equal(
    await ok("calicoctl apply -f -", DEFAULT_APP_POLICY),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  await pageTimesOut();
  // The lookup of "summary" itself goes unanswered; --connect-timeout covers it.
  const r = await inCustomer("curl --connect-timeout 3 http://summary", "nslookup summary");
  assert.equal(r.err, "curl: (28) Resolving timed out after 3000 milliseconds\n");
  assert.equal(r.out, ";; connection timed out; no servers could be reached\n\nexit=1\n");
  // kube-system is outside the selector: CoreDNS still answers a host.
  assert.match(
    await ok("exec node1 -- nslookup summary.yaobank.svc.cluster.local 198.19.32.10"),
    /Address: 198\.19\.\d+\.\d+\n/,
  );
});

test("default-app-policy (second version): DNS to kube-dns is let out, nothing else yet", async () => {
  assert.equal(
    await ok("calicoctl apply -f -", DEFAULT_APP_POLICY_WITH_DNS),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  const r = await inCustomer("nslookup summary", "curl --connect-timeout 3 http://summary");
  assert.match(
    r.out,
    /^Server:\t\t198\.19\.32\.10\nAddress:\t198\.19\.32\.10#53\n\nName:\tsummary\.yaobank\.svc\.cluster\.local\nAddress: 198\.19\.\d+\.\d+\n/m,
  );
  assert.match(
    r.err,
    /^curl: \(28\) Failed to connect to summary port 80 after 300[01] ms: Timeout was reached\n$/m,
  );
  assert.match(r.out, /exit=28\n$/);
  await pageTimesOut();
});

test("customer-policy + summary-policy: the page loads again, the database stays shut to customer", async () => {
  assert.equal(
    await ok("kubectl apply -f -", CUSTOMER_SUMMARY_POLICIES),
    "networkpolicy.networking.k8s.io/customer-policy created\nnetworkpolicy.networking.k8s.io/summary-policy created\n",
  );
  await pageLoads();
  const r = await inCustomer(ATTACK_TIMEOUT);
  assert.equal(
    r.err,
    "curl: (28) Failed to connect to database port 2379 after 3001 ms: Timeout was reached\n",
  );
  assert.equal(r.out, "exit=28\n");
  assert.match(
    await ok("kubectl get networkpolicy -n yaobank"),
    /^NAME {14}POD-SELECTOR {3}AGE\ncustomer-policy {3}app=customer {3}\S+\ndatabase-policy {3}app=database {3}\S+\nsummary-policy {4}app=summary {4}\S+\n$/,
  );
});

test("egress-lockdown denies customer's internet egress until its ServiceAccount is labelled internet-egress=allowed", async () => {
  const before = await egressToInternet();
  assert.equal(before.verdict, "dropped");
  // customer-policy lets it out; nothing answers at 8.8.8.8 in the lab, so the packet goes nowhere after that.
  assert.deepEqual(before.policies, ["knp.default.customer-policy Allow"]);
  assert.equal(
    await ok("calicoctl apply -f -", EGRESS_LOCKDOWN),
    "Successfully applied 1 'GlobalNetworkPolicy' resource(s)\n",
  );
  const locked = await egressToInternet();
  assert.equal(locked.verdict, "dropped");
  // order 600 comes before the Kubernetes policies' 1000.
  assert.deepEqual(locked.policies, ["egress-lockdown Deny"]);
  await pageLoads();
  assert.equal(
    await ok("kubectl label serviceaccount -n yaobank customer internet-egress=allowed"),
    "serviceaccount/customer labeled\n",
  );
  const allowed = await egressToInternet();
  assert.deepEqual(allowed.policies, ["knp.default.customer-policy Allow"]);
  assert.match(
    await ok("kubectl get serviceaccount -n yaobank customer --show-labels"),
    /^NAME {7}SECRETS {3}AGE {3}LABELS\ncustomer {3}0 {9}\S+ +\S*\binternet-egress=allowed\b\S*\n$/,
  );
  await pageLoads();
});
