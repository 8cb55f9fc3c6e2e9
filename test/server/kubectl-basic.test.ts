import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { promisify } from "node:util";
import { kubeconfigText } from "../../src/server/index.ts";
import { eventually, startTestServer, type TestServer } from "./api-server-harness.ts";

const KUBECTL = "/usr/bin/kubectl";
const skip = existsSync(KUBECTL) ? false : `the real kubectl is not installed (${KUBECTL})`;
const run = promisify(execFile);

/** A kubeconfig for the test server and an environment whose HOME (kubectl's discovery cache) is a temp dir. */
function kubectlEnv(t: TestContext, s: TestServer): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), "tortie-kubectl-home-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const kubeconfig = join(home, "kubeconfig");
  writeFileSync(
    kubeconfig,
    kubeconfigText({ url: s.server.url, caCertPem: s.caCertPem, token: s.token, clusterName: "test" }),
    { mode: 0o600 },
  );
  return { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig };
}

async function kubectl(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ stdout: string; stderr: string }> {
  return run(KUBECTL, args, { env, timeout: 60_000 });
}

test("the real kubectl: get ns, create ns, get pods -A", { skip }, async (t) => {
  const s = await startTestServer(t);
  const env = kubectlEnv(t, s);
  const namespaces = await kubectl(env, "get", "ns");
  assert.match(namespaces.stdout, /^NAME\s+STATUS\s+AGE\n/);
  for (const n of ["default", "kube-system", "kube-public", "kube-node-lease"])
    assert.match(namespaces.stdout, new RegExp(`^${n}\\s`, "m"));

  const created = await kubectl(env, "create", "ns", "x");
  assert.equal(created.stdout, "namespace/x created\n");
  assert.ok(
    await s.host.store.get(s.host.store.kindOf({ apiVersion: "v1", kind: "Namespace", metadata: {} }), "x"),
  );
  const again = await kubectl(env, "create", "ns", "x").catch((e: { stderr: string }) => e);
  assert.equal(again.stderr, 'Error from server (AlreadyExists): namespaces "x" already exists\n');

  await s.call("POST", "/api/v1/namespaces/x/pods", {
    body: {
      metadata: { name: "p1", namespace: "x" },
      spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
    },
  });
  const pods = await kubectl(env, "get", "pods", "-A");
  assert.match(pods.stdout, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
  assert.match(pods.stdout, /^x\s+p1\s/m);
  const missing = await kubectl(env, "get", "pod", "nope").catch((e: { stderr: string }) => e);
  assert.equal(missing.stderr, 'Error from server (NotFound): pods "nope" not found\n');
  const yaml = await kubectl(env, "get", "ns", "x", "-o", "yaml");
  assert.match(yaml.stdout, /^kind: Namespace$/m);
});

test("the real kubectl: create generators send protobuf bodies, which the server decodes", {
  skip,
}, async (t) => {
  const s = await startTestServer(t);
  const env = kubectlEnv(t, s);
  const lines = [
    ["create", "deployment", "web", "--image=nginx", "--replicas=2", "--port=80"],
    ["create", "configmap", "c1", "--from-literal=a=b"],
    ["create", "secret", "generic", "s1", "--from-literal=x=y"],
    ["create", "serviceaccount", "bot"],
    ["create", "service", "clusterip", "web", "--tcp=80:8080"],
  ];
  for (const args of lines) await kubectl(env, ...args);
  const deployment = (await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web")).json();
  assert.equal(deployment.spec.replicas, 2);
  assert.deepEqual(deployment.spec.selector, { matchLabels: { app: "web" } });
  assert.equal(deployment.spec.template.spec.containers[0].image, "nginx");
  assert.equal(deployment.spec.template.spec.containers[0].ports[0].containerPort, 80);
  assert.deepEqual((await s.call("GET", "/api/v1/namespaces/default/configmaps/c1")).json().data, { a: "b" });
  assert.deepEqual((await s.call("GET", "/api/v1/namespaces/default/secrets/s1")).json().data, {
    x: Buffer.from("y").toString("base64"),
  });
  const service = (await s.call("GET", "/api/v1/namespaces/default/services/web")).json();
  assert.deepEqual(
    [service.spec.type, service.spec.ports[0].port, service.spec.ports[0].targetPort],
    ["ClusterIP", 80, 8080],
  );
  const scaled = await kubectl(env, "scale", "deployment", "web", "--replicas=3");
  assert.equal(scaled.stdout, "deployment.apps/web scaled\n");
  assert.equal(
    (await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web")).json().spec.replicas,
    3,
  );
});

test("the real kubectl: get pods -w receives a pod created after it started", { skip }, async (t) => {
  const s = await startTestServer(t);
  const env = kubectlEnv(t, s);
  const child = spawn(KUBECTL, ["get", "pods", "-w"], { env, stdio: ["ignore", "pipe", "pipe"] });
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
  const createPod = (name: string) =>
    s.call("POST", "/api/v1/namespaces/default/pods", {
      body: {
        metadata: { name, namespace: "default" },
        spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
      },
    });
  // kubectl lists first, then watches from the list's resourceVersion: a pod it printed means it is watching.
  await createPod("early");
  await eventually(() => /^early\s/m.test(out), `kubectl's first listing (got ${JSON.stringify(out + err)})`);
  await createPod("late");
  await eventually(
    () => /^late\s/m.test(out),
    `the watched pod in kubectl's output (got ${JSON.stringify(out)})`,
  );
  assert.match(out, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
});
