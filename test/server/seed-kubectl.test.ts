/**
 * The seeds' kubectl lines (the ones the scenario tests type as `tortie kubectl …`) through the real kubectl
 * against `tortie serve`, compared with `tortie kubectl` on the same state: on the state dir itself
 * (TORTIE_NO_SERVER=1) and forwarded through the server. Reads run three ways on cluster a; a write runs once per
 * cluster (the real kubectl on a, tortie on its copy b, tortie forwarded on its copy c), so each sees the same
 * state before it. Same stdout, same exit code, same stderr.
 *
 * Process-level: bin/tortie and /usr/bin/kubectl; skipped when the real kubectl is absent.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { CUSTOMER_SUMMARY_POLICIES, DATABASE_POLICY, DEFAULT_APP_POLICY } from "../policy/seed-manifests.ts";
import { KUBECTL, type Run, type SeedClusters, startSeedClusters } from "./seed-kubectl-harness.ts";

const skip = existsSync(KUBECTL) ? false : `the real kubectl is not installed (${KUBECTL})`;
const NGINX = new URL("../fixtures/lab/nginx.yaml", import.meta.url).pathname;

// The seeds' inline manifests, as the scenario tests apply them (test/scenarios/seed-002-bgp.test.ts).
const EXTERNAL_POOL = `---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 198.19.24.0/21
  blockSize: 29
  ipipMode: Never
  natOutgoing: true
  nodeSelector: "!all()"
`;
const GLOBAL_PEER = `---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 198.19.15.254
  asNumber: 64512
`;
const EXTERNAL_NS = `---
apiVersion: v1
kind: Namespace
metadata:
  annotations:
    cni.projectcalico.org/ipv4pools: '["external-pool"]'
  name: external-ns
`;
// The seed's serviceClusterIPs manifest; the serviceExternalIPs the seed then sets with calicoctl patch are in it
// too, so the externalIPs patch below is admitted.
const SERVICE_IPS = `---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  serviceClusterIPs:
  - cidr: "198.19.32.0/20"
  serviceExternalIPs:
  - cidr: "198.19.48.0/20"
`;

let clusters: SeedClusters;

before(async () => {
  if (skip) return;
  clusters = await startSeedClusters();
});
after(() => clusters?.cleanup());

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.out}--- stderr\n${r.err}`;

/**
 * A line that only reads: the real kubectl, tortie on the state dir and tortie through the server, all on a.
 * `forwardable` is false for the lines tortie never forwards (exec runs in the calling process).
 */
async function read(
  args: string[],
  o: { input?: string; forwardable?: boolean; stderr?: boolean } = {},
): Promise<Run> {
  const { a } = clusters;
  const real = await a.kubectl(args, o);
  const local = await a.tortie(["kubectl", ...args], { input: o.input });
  const line = `kubectl ${args.join(" ")}`;
  assert.equal(
    local.out,
    real.out,
    `${line}: tortie's stdout differs from the real kubectl's\n${show(real)}`,
  );
  assert.equal(local.code, real.code, `${line}: exit codes\nreal: ${show(real)}\ntortie: ${show(local)}`);
  if (o.stderr !== false) assert.equal(local.err, real.err, `${line}: stderr`);
  if (o.forwardable !== false) {
    const forwarded = await a.tortie(["kubectl", ...args], { input: o.input, server: true });
    assert.ok(forwarded.forwarded, `${line} went through the server`);
    assert.deepEqual(
      [forwarded.code, forwarded.out, forwarded.err],
      [local.code, local.out, local.err],
      `${line}: forwarded through the server`,
    );
  }
  return real;
}

/** A line that writes: the real kubectl on a, tortie on b, tortie forwarded on c; then a's server settles. */
async function write(args: string[], o: { input?: string } = {}): Promise<Run> {
  const { a, b, c } = clusters;
  const line = `kubectl ${args.join(" ")}`;
  const real = await a.kubectl(args, o);
  const local = await b.tortie(["kubectl", ...args], { input: o.input });
  const forwarded = await c.tortie(["kubectl", ...args], { input: o.input, server: true });
  assert.ok(forwarded.forwarded, `${line} went through c's server`);
  assert.deepEqual(
    [local.code, local.out, local.err],
    [real.code, real.out, real.err],
    `${line}: tortie on the state dir against the real kubectl`,
  );
  assert.deepEqual(
    [forwarded.code, forwarded.out, forwarded.err],
    [real.code, real.out, real.err],
    `${line}: tortie through the server against the real kubectl`,
  );
  await a.settled();
  return real;
}

async function customerPod(): Promise<string> {
  const r = await clusters.a.kubectl(["get", "pods", "-n", "yaobank", "-l", "app=customer", "-o", "name"]);
  assert.equal(r.code, 0, r.err);
  return r.out.trim().replace(/^pod\//, "");
}

async function podIp(app: string): Promise<string> {
  const r = await clusters.a.kubectl([
    "get",
    "pods",
    "-n",
    "yaobank",
    "-l",
    `app=${app}`,
    "-o",
    "jsonpath={.items[0].status.podIP}",
  ]);
  assert.match(r.out, /^\d+\.\d+\.\d+\.\d+$/);
  return r.out;
}

test("the seeds' get lines: tables, wide, selectors, go-template", { skip }, async () => {
  const wide = await read(["get", "pods", "-n", "yaobank", "-o", "wide"]);
  assert.match(
    wide.out,
    /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\n/,
  );
  assert.match(wide.out, /^customer-\S+ +1\/1 +Running +0 +0s +198\.19\.\d+\.\d+ +node\d/m);
  await read(["get", "svc", "-n", "yaobank"]);
  await read(["get", "svc", "-n", "yaobank", "customer"]);
  await read(["get", "endpoints", "-n", "yaobank"]);
  await read(["get", "endpoints", "-n", "yaobank", "customer"]);
  await read(["get", "endpoints", "-n", "yaobank", "summary"]);
  const all = await read(["get", "pods", "-A"]);
  // A helper once saw kubectl print READYY: the header is kubectl's own, once.
  assert.match(all.out, /^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE\n/);
  await read(["get", "nodes", "-A"]);
  const address = await read([
    "get",
    "node",
    "--selector=!node-role.kubernetes.io/master",
    "-o",
    'go-template={{(index (index .items 0).status.addresses 1).address}}{{"\\n"}}',
  ]);
  assert.match(address.out, /^\S+\n$/);
  const missing = await read(["get", "pod", "-n", "yaobank", "nope"]);
  assert.equal(missing.err, 'Error from server (NotFound): pods "nope" not found\n');
});

test("yaml, json, jsonpath and describe of a seed pod and service", { skip }, async () => {
  const customer = await customerPod();
  const yaml = await read(["get", "pod", "-n", "yaobank", customer, "-o", "yaml"]);
  assert.doesNotMatch(yaml.out, /managedFields/);
  await read(["get", "pod", "-n", "yaobank", customer, "-o", "json"]);
  await read(["get", "svc", "-n", "yaobank", "-o", "yaml"]);
  await read(["get", "svc", "-n", "yaobank", "customer", "-o", "jsonpath={.spec.clusterIP}"]);
  const described = await read(["describe", "pod", "-n", "yaobank", customer]);
  assert.match(described.out, /^Name: +customer-/);
  assert.match(described.out, /^Events: +<none>\n$/m);
  await read(["describe", "pods", "-n", "yaobank"]);
});

test("logs, and exec ping and curl from the customer pod to the database", { skip }, async () => {
  const customer = await customerPod();
  const database = await podIp("database");
  await read(["logs", "-n", "yaobank", customer]);
  const ping = await read(["exec", "-n", "yaobank", customer, "--", "ping", "-c", "1", database], {
    forwardable: false,
  });
  assert.equal(ping.code, 0, show(ping));
  assert.match(ping.out, /1 packets transmitted, 1 received, 0% packet loss/);
  const curl = await read(
    [
      "exec",
      "-n",
      "yaobank",
      customer,
      "--",
      "curl",
      "--connect-timeout",
      "3",
      `http://${database}:2379/v2/keys?recursive=true`,
    ],
    { forwardable: false },
  );
  assert.equal(curl.code, 0, show(curl));
  // A command the container does not have is an error, not an exit code: no "command terminated" line.
  const missing = await read(["exec", "-n", "yaobank", customer, "--", "kubectl", "get", "pods"], {
    forwardable: false,
  });
  assert.deepEqual(
    [missing.code, missing.err],
    [1, 'error: exec: "kubectl": executable file not found in $PATH\n'],
  );
});

test("apply -f - with the seeds' Calico manifests and a namespace, then the nginx fixture", {
  skip,
}, async () => {
  assert.equal(
    (await write(["apply", "-f", "-"], { input: EXTERNAL_POOL })).out,
    "ippool.projectcalico.org/external-pool created\n",
  );
  await write(["apply", "-f", "-"], { input: GLOBAL_PEER });
  assert.equal(
    (await write(["apply", "-f", "-"], { input: EXTERNAL_NS })).out,
    "namespace/external-ns created\n",
  );
  const nginx = await write(["apply", "-f", NGINX]);
  assert.match(nginx.out, /^deployment\.apps\/nginx created\n/);
  // The default BGPConfiguration exists (up made it) without kubectl's annotation: kubectl warns, then patches it.
  const config = await write(["apply", "-f", "-"], { input: SERVICE_IPS });
  assert.equal(config.out, "bgpconfiguration.projectcalico.org/default configured\n");
  assert.match(
    config.err,
    /^Warning: resource bgpconfigurations\/default is missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation/,
  );
  await read(["get", "pods", "-n", "external-ns", "-o", "wide"]);
  await read(["get", "ippools.projectcalico.org"]);
  await read(["get", "bgpconfigurations.projectcalico.org", "default", "-o", "yaml"]);
});

test("patch the customer service (externalTrafficPolicy, externalIPs), label its service account", {
  skip,
}, async () => {
  assert.equal(
    (
      await write([
        "patch",
        "svc",
        "-n",
        "yaobank",
        "customer",
        "-p",
        '{"spec":{"externalTrafficPolicy":"Local"}}',
      ])
    ).out,
    "service/customer patched\n",
  );
  assert.equal(
    (
      await write([
        "patch",
        "svc",
        "-n",
        "yaobank",
        "customer",
        "-p",
        '{"spec": {"externalIPs": ["198.19.48.10"]}}',
      ])
    ).out,
    "service/customer patched\n",
  );
  const svc = await read(["get", "svc", "-n", "yaobank"]);
  assert.match(svc.out, /^customer +NodePort +198\.19\.\S+ +198\.19\.48\.10 +80:30180\/TCP /m);
  await read(["get", "svc", "-n", "yaobank", "customer", "-o", "yaml"]);
  assert.equal(
    (await write(["label", "serviceaccount", "-n", "yaobank", "customer", "internet-egress=allowed"])).out,
    "serviceaccount/customer labeled\n",
  );
  const labels = await read(["get", "serviceaccount", "-n", "yaobank", "customer", "--show-labels"]);
  assert.match(labels.out, /internet-egress=allowed/);
});

test("the seeds' policies: apply -f -, get networkpolicy, and the ping they deny", { skip }, async () => {
  await write(["apply", "-f", "-"], { input: DATABASE_POLICY });
  await write(["apply", "-f", "-"], { input: CUSTOMER_SUMMARY_POLICIES });
  await write(["apply", "-f", "-"], { input: DEFAULT_APP_POLICY });
  await read(["get", "networkpolicy", "-n", "yaobank"]);
  await read(["get", "globalnetworkpolicies.projectcalico.org"]);
  const customer = await customerPod();
  const database = await podIp("database");
  // Denied: kubectl adds its own line after the command's output.
  const ping = await read(["exec", "-n", "yaobank", customer, "--", "ping", "-c", "1", database], {
    forwardable: false,
  });
  assert.equal(ping.code, 1);
  assert.equal(ping.err, "command terminated with exit code 1\n");
});

test("scale, delete pod -l, rollout status, wait --for=condition=Ready -l", { skip }, async () => {
  assert.equal(
    (await write(["scale", "deployment", "-n", "yaobank", "summary", "--replicas=3"])).out,
    "deployment.apps/summary scaled\n",
  );
  await read(["rollout", "status", "-n", "yaobank", "deployment/summary"]);
  const deleted = await write(["delete", "pod", "-n", "yaobank", "-l", "app=customer"]);
  assert.match(deleted.out, /^pod "customer-\S+" deleted\n$/);
  const rollout = await read(["rollout", "status", "-n", "yaobank", "deployment/customer"]);
  assert.equal(rollout.out, 'deployment "customer" successfully rolled out\n');
  const ready = await read(["wait", "--for=condition=Ready", "pod", "-l", "app=customer", "-n", "yaobank"]);
  assert.match(ready.out, /^pod\/customer-\S+ condition met\n$/);
  await read(["get", "pods", "-n", "yaobank", "-o", "wide"]);
  await read(["get", "deployment", "-n", "yaobank", "-o", "wide"]);
});

test("cluster-info dump completes: the same lists, logs and seed lines as tortie's", { skip }, async () => {
  const { a } = clusters;
  const real = await a.kubectl(["cluster-info", "dump"]);
  assert.equal(real.code, 0, real.err);
  const local = await a.tortie(["kubectl", "cluster-info", "dump"]);
  assert.equal(local.code, 0, local.err);
  // The seed's `kubectl cluster-info dump | grep -m 2 -E "service-cidr|cluster-cidr"`.
  const seedGrep = (text: string) =>
    text
      .split("\n")
      .filter((l) => /service-cidr|cluster-cidr/.test(l))
      .slice(0, 2);
  assert.ok(seedGrep(real.out).length > 0, "the dump names the service and cluster CIDRs");
  assert.deepEqual(seedGrep(local.out), seedGrep(real.out));
  // The same lists in the same order, the same objects in each, the same log sections.
  const outline = (text: string) =>
    text
      .split("\n")
      .filter((l) => /^ {4}"kind": "\w+List",$|^==== (START|END) logs/.test(l) || /^ {16}"name": /.test(l));
  assert.deepEqual(outline(local.out), outline(real.out));
  assert.match(
    real.out,
    /"kind": "EventList",\n {4}"apiVersion": "v1",\n {4}"metadata": \{\n {8}"resourceVersion": "\d+"\n {4}\},\n {4}"items": \[\]/,
  );
});

test("a wrong token: the real kubectl's Unauthorized", { skip }, async () => {
  const { a } = clusters;
  const r = await a.kubectl(["get", "pods"], { kubeconfig: a.kubeconfigWithWrongToken() });
  assert.equal(r.code, 1);
  assert.equal(r.err, "error: You must be logged in to the server (Unauthorized)\n");
});

test("kubectl get pods -w streams a pod that tortie kubectl run and apply create", { skip }, async (t) => {
  const { a } = clusters;
  const child = spawn(KUBECTL, ["--kubeconfig", a.kubeconfig(), "get", "pods", "-w", "-n", "yaobank"], {
    env: a.kubectlEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => {
    child.kill("SIGKILL");
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(check(), `${what} (kubectl printed ${JSON.stringify(out + err)})`);
  };
  await until("kubectl's first listing", () => /^database-\S+ +1\/1 +Running/m.test(out));
  const run = await a.tortie(["kubectl", "run", "watched", "--image=busybox", "-n", "yaobank"], {
    server: true,
  });
  assert.equal(run.code, 0, run.err);
  assert.equal(run.out, "pod/watched created\n");
  await until("the pod tortie kubectl run created", () => /^watched +\d\/1 +\S+ +0 +\S+\n/m.test(out));
  const applied = await a.tortie(["kubectl", "apply", "-f", "-"], {
    server: true,
    input:
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  namespace: yaobank\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
  });
  assert.equal(applied.code, 0, applied.err);
  await until("the pod tortie kubectl apply created", () => /^applied +\d\/1 +\S+ +0 +\S+\n/m.test(out));
  // kubectl's watch table: its header once, then one row per event in the same columns.
  assert.match(out, /^NAME +READY +STATUS +RESTARTS +AGE\n/);
  assert.equal(out.match(/^NAME /gm)?.length, 1);
});
