import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { promisify } from "node:util";
import { kubeconfigText } from "../../src/server/index.ts";
import { startTestServer } from "./api-server-harness.ts";

const KUBECTL = "/usr/bin/kubectl";
const exec = promisify(execFile);

/** The real kubectl against a test server; resolves to its exit code and output, never throws on failure. */
async function kubectlFor(t: TestContext) {
  const s = await startTestServer(t);
  const kubeconfig = join(s.dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    kubeconfigText({ url: s.server.url, caCertPem: s.caCertPem, token: s.token, clusterName: "test" }),
    { mode: 0o600 },
  );
  const env = { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(s.dir, "kube-cache") };
  const run = async (args: string[], input?: string) => {
    const file =
      input === undefined ? undefined : join(s.dir, `manifest-${Math.random().toString(36).slice(2)}.yaml`);
    if (file) writeFileSync(file, input!);
    try {
      const r = await exec(KUBECTL, file ? [...args, "-f", file] : args, { env });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };
  const ok = async (args: string[], input?: string) => {
    const r = await run(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.err}`);
    return r.out;
  };
  return { s, run, ok };
}

const skip = !existsSync(KUBECTL) && "no /usr/bin/kubectl";

const DEPLOYMENT = (replicas: number, extraLabel: boolean) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels:
    app: web
${extraLabel ? "    tier: front\n" : ""}spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
`;

test("real kubectl patch --type merge, json and strategic through the server", { skip }, async (t) => {
  const { ok, run } = await kubectlFor(t);
  await ok(["apply", "--server-side"], DEPLOYMENT(1, false));
  assert.equal(
    await ok(["patch", "deployment", "web", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}']),
    "deployment.apps/web patched\n",
  );
  await ok([
    "patch",
    "deployment",
    "web",
    "--type",
    "json",
    "-p",
    '[{"op":"replace","path":"/spec/replicas","value":3}]',
  ]);
  await ok([
    "patch",
    "deployment",
    "web",
    "-p",
    '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}',
  ]);
  const d = JSON.parse(await ok(["get", "deployment", "web", "-o", "json"]));
  assert.equal(d.metadata.labels.m, "1");
  assert.equal(d.spec.replicas, 3);
  assert.deepEqual(
    d.spec.template.spec.containers.map((c: { name: string }) => c.name),
    ["web", "sidecar"],
    "strategic merge keeps the other container",
  );
  const failed = await run([
    "patch",
    "deployment",
    "web",
    "--type",
    "json",
    "-p",
    '[{"op":"test","path":"/spec/replicas","value":9}]',
  ]);
  assert.notEqual(failed.code, 0);
  assert.match(failed.err, /the server rejected our request due to an error in our request/);
});

test("real kubectl apply --server-side twice removes the dropped field, and conflicts name the owner", {
  skip,
}, async (t) => {
  const { ok, run } = await kubectlFor(t);
  assert.match(
    await ok(["apply", "--server-side"], DEPLOYMENT(2, true)),
    /deployment.apps\/web serverside-applied/,
  );
  await ok(["apply", "--server-side"], DEPLOYMENT(2, false));
  const d = JSON.parse(await ok(["get", "deployment", "web", "-o", "json", "--show-managed-fields"]));
  assert.deepEqual(d.metadata.labels, { app: "web" });
  assert.ok(d.metadata.managedFields.some((e: { manager: string }) => e.manager === "kubectl"));
  const conflict = await run(["apply", "--server-side", "--field-manager", "other"], DEPLOYMENT(5, false));
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.err, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.replicas/);
  await ok(["apply", "--server-side", "--field-manager", "other", "--force-conflicts"], DEPLOYMENT(5, false));
  assert.equal(await ok(["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "5");
});

const POOL = (cidr: string, nat: boolean) => `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: extra
spec:
  cidr: ${cidr}
  natOutgoing: ${nat}
  blockSize: 26
`;

test("real kubectl apply (client-side, default validation) of a Calico IPPool, then a changed one", {
  skip,
}, async (t) => {
  const { ok, run } = await kubectlFor(t);
  assert.match(await ok(["apply"], POOL("10.99.0.0/16", true)), /ippool.projectcalico.org\/extra created/);
  assert.match(
    await ok(["apply"], POOL("10.99.0.0/16", false)),
    /ippool.projectcalico.org\/extra configured/,
  );
  const p = JSON.parse(await ok(["get", "ippools.projectcalico.org", "extra", "-o", "json"]));
  assert.equal(p.spec.natOutgoing, false);
  const strategic = await run([
    "patch",
    "ippools.projectcalico.org",
    "extra",
    "-p",
    '{"spec":{"disabled":true}}',
  ]);
  assert.notEqual(strategic.code, 0);
  assert.equal(
    strategic.err.trim(),
    "error: application/strategic-merge-patch+json is not supported by projectcalico.org/v3, Kind=IPPool: the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
  );
});

test("real kubectl explain reads the OpenAPI v3 schemas", { skip }, async (t) => {
  const { ok } = await kubectlFor(t);
  const out = await ok(["explain", "pods.spec.containers"]);
  assert.match(out, /KIND:\s+Pod/);
  assert.match(out, /image\s+<string>/);
});
