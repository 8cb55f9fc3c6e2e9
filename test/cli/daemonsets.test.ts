/**
 * DaemonSets (apps/v1): one pod per eligible node, named `<ds>-<5 chars>` anew each time one is made, owned by
 * the DaemonSet, with the tolerations the controller adds; `kubectl get ds` with the API server's columns; a
 * deleted pod replaced, a deleted DaemonSet's pods collected; and the strict schema's errors.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  ensureCredentials,
  kubeconfigText,
  type ServerHost,
  startApiServer,
} from "../../src/server/index.ts";
import { CliHarness } from "./harness.ts";

const KUBECTL = "/usr/bin/kubectl";
const run = promisify(execFile);

async function ok(h: CliHarness, line: string | string[], stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}: ${r.err}`);
  assert.equal(r.err, "", String(line));
  return r.out;
}

function daemonSet(name: string, extra = ""): string {
  return `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ${name}
  namespace: default
spec:
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
${extra}      containers:
      - name: agent
        image: nginx:1.25
`;
}

/** `NAME NODE` of the DaemonSet's pods, sorted by node. */
async function podsByNode(h: CliHarness, app: string): Promise<string[][]> {
  const out = await ok(h, [
    "kubectl",
    "get",
    "pods",
    "-l",
    `app=${app}`,
    "-o",
    "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName",
    "--no-headers",
  ]);
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(/\s+/))
    .sort((a, b) => (a[1]! < b[1]! ? -1 : 1));
}

test("a DaemonSet runs one pod per node the taints allow; a deleted pod comes back under a new name", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --topology seed000 --no-serve");
  assert.equal(await ok(h, "kubectl apply -f -", daemonSet("agent")), "daemonset.apps/agent created\n");

  // master1's NoSchedule taint keeps the DaemonSet off it: the controller adds no toleration for it.
  const pods = await podsByNode(h, "agent");
  assert.deepEqual(
    pods.map((p) => p[1]),
    ["worker1", "worker2"],
  );
  for (const [name] of pods) assert.match(name!, /^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.equal(
    await ok(h, "kubectl get ds"),
    "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE\n" +
      "agent   2         2         2       2            2           <none>          0s\n",
  );
  assert.equal(
    await ok(h, "kubectl get daemonsets.apps -o wide"),
    "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE   CONTAINERS   IMAGES       SELECTOR\n" +
      "agent   2         2         2       2            2           <none>          0s    agent        nginx:1.25   app=agent\n",
  );
  const [first] = pods[0]!;
  assert.equal(
    await ok(h, [
      "kubectl",
      "get",
      "pod",
      first!,
      "-o",
      "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.spec.tolerations[*].key}",
    ]),
    "DaemonSet/agent node.kubernetes.io/not-ready node.kubernetes.io/unreachable node.kubernetes.io/disk-pressure node.kubernetes.io/memory-pressure node.kubernetes.io/pid-pressure node.kubernetes.io/unschedulable",
    "not host-networked: no network-unavailable toleration",
  );

  assert.equal(await ok(h, `kubectl delete pod ${first}`), `pod "${first}" deleted\n`);
  const after = await podsByNode(h, "agent");
  assert.deepEqual(
    after.map((p) => p[1]),
    ["worker1", "worker2"],
  );
  assert.notEqual(after[0]![0], first, "a re-created daemon pod gets a new name");
  assert.equal(after[1]![0], pods[1]![0], "the other node's pod is untouched");

  assert.equal(await ok(h, "kubectl delete ds agent"), 'daemonset.apps "agent" deleted\n');
  assert.deepEqual(await podsByNode(h, "agent"), [], "the garbage collector deletes the DaemonSet's pods");
});

test("a DaemonSet's nodeSelector and tolerations choose its nodes; host-networked pods tolerate network-unavailable", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --topology seed000 --no-serve");
  const tolerant =
    "      hostNetwork: true\n      tolerations:\n      - operator: Exists\n        effect: NoSchedule\n";
  await ok(h, "kubectl apply -f -", daemonSet("everywhere", tolerant));
  assert.deepEqual(
    (await podsByNode(h, "everywhere")).map((p) => p[1]),
    ["master1", "worker1", "worker2"],
  );
  const name = (await podsByNode(h, "everywhere"))[0]![0]!;
  assert.match(
    await ok(h, ["kubectl", "get", "pod", name, "-o", "jsonpath={.spec.tolerations[*].key}"]),
    / node\.kubernetes\.io\/network-unavailable$/,
  );

  await ok(h, "kubectl apply -f -", daemonSet("picky", "      nodeSelector:\n        role: edge\n"));
  assert.deepEqual(await podsByNode(h, "picky"), []);
  assert.match(await ok(h, "kubectl get ds picky"), /^picky +0 +0 +0 +0 +0 +role=edge +0s$/m);
  await ok(h, "kubectl label node worker2 role=edge");
  assert.deepEqual(
    (await podsByNode(h, "picky")).map((p) => p[1]),
    ["worker2"],
  );
  await ok(h, "kubectl label node worker2 role-");
  assert.deepEqual(await podsByNode(h, "picky"), [], "a node that no longer matches loses its pod");
});

test("a DaemonSet is checked like a Deployment: selector against template labels, restartPolicy Always", async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --topology seed000 --no-serve");
  const mismatched = daemonSet("bad").replace(
    "      labels:\n        app: bad",
    "      labels:\n        app: other",
  );
  const r = await h.run("kubectl apply -f -", mismatched);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /spec\.template\.metadata\.labels: Invalid value: `selector` does not match template `labels`/,
  );
  const never = await h.run("kubectl apply -f -", daemonSet("never", "      restartPolicy: Never\n"));
  assert.equal(never.code, 1);
  assert.match(
    never.err,
    /spec\.template\.spec\.restartPolicy: Unsupported value: "Never": supported values: "Always"/,
  );
  const unknown = await h.run(
    "kubectl apply -f -",
    daemonSet("typo").replace("  selector:", "  replicas: 2\n  selector:"),
  );
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /replicas/);
});

test("the real kubectl through the API server lists DaemonSets as tortie's kubectl does", {
  skip: !existsSync(KUBECTL) && "no /usr/bin/kubectl",
}, async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  await ok(h, "up --topology seed000 --no-serve");
  await ok(
    h,
    "kubectl apply -f -",
    daemonSet("agent", "      nodeSelector:\n        kubernetes.io/os: linux\n"),
  );
  const host: ServerHost = {
    store: h.store(),
    now: () => h.now,
    afterWrite: async () => {},
    podLogs: async () => "",
    execInPod: async () => 0,
    commandRefusal: () => undefined,
    runCommand: async () => 0,
  };
  const dir = join(h.stateDir, "server");
  const server = await startApiServer({ host, dir });
  t.after(() => server.close());
  const { token, caCertPem } = await ensureCredentials(dir);
  const kubeconfig = join(h.stateDir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigText({ url: server.url, caCertPem, token, clusterName: "test" }), {
    mode: 0o600,
  });
  const env = { PATH: process.env.PATH ?? "", HOME: h.stateDir, KUBECONFIG: kubeconfig };
  const cacheDir = join(h.stateDir, "kube-cache");
  for (const line of ["get ds", "get daemonsets -A", "get ds -o wide", "get daemonset.apps agent"]) {
    const args = line.split(" ");
    const real = await run(KUBECTL, [...args, "--cache-dir", cacheDir], { env });
    assert.equal(real.stdout, await ok(h, ["kubectl", ...args]), `kubectl ${line}`);
  }
  // kubectl apply validates against the server's OpenAPI documents, which now describe the kind.
  const manifest = join(h.stateDir, "other.yaml");
  writeFileSync(manifest, daemonSet("other"));
  const applied = await run(KUBECTL, ["apply", "-f", manifest, "--cache-dir", cacheDir], { env });
  assert.equal(applied.stdout, "daemonset.apps/other created\n");
  const all = await run(KUBECTL, ["get", "all", "--cache-dir", cacheDir], { env });
  assert.match(all.stdout, /^daemonset\.apps\/agent +2 +2 +2 +2 +2 +kubernetes\.io\/os=linux +0s$/m);
  const deleted = await run(KUBECTL, ["delete", "pod", "-l", "app=agent", "--cache-dir", cacheDir], { env });
  assert.match(deleted.stdout, /^pod "agent-\S+" deleted\npod "agent-\S+" deleted\n$/);
});
