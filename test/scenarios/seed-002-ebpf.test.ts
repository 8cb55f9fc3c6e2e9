/**
 * Seed 002's "Calico Native Service Handling", "Enable Calico eBPF", "Source IP preservation" and "Direct Server
 * Return (DSR)" (lines 1470–1660), typed line by line on the seed's lab (`tortie up --app yaobank`). The seed's
 * `kubectl delete pod -n tigera-operator -l k8s-app=tigera-operator` is left out: the operator's pod is not modelled
 * yet (the lead adds the line once it is). tcpdump runs as its own process, as in seed-002-kube-proxy.test.ts.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { startTcpdump } from "./tcpdump-process.ts";

const h = new CliHarness();
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  h.cleanup();
});

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

async function customerLog(): Promise<string[]> {
  const customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;
  return (await ok(`kubectl logs -n yaobank ${customer}`)).trimEnd().split("\n");
}

const nodePortCounter = async () => {
  const l = await ok("exec control -- sudo iptables -v --numeric --table nat --list KUBE-NODEPORTS");
  return Number(/^ +(\d+) +\d+ KUBE-EXT-PX5FENG4GZJTCELT /m.exec(l)![1]);
};

const PAGE =
  /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389\.45<\/h2>/;

/** Runs the seed's snoop on control while host1 curls the node port; the capture's lines, two per packet. */
async function snoop(): Promise<{ lines: string[]; captured: number }> {
  const dump = await startTcpdump(
    h.stateDir,
    "control",
    ["sudo", "tcpdump", "-nvi", "any", "tcp port 30180"],
    children,
  );
  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), PAGE);
  // The curl has returned: every packet of its exchange has been through control. Give the capture its output.
  await dump.until(
    "the exchange",
    () => /\n\s+\S+ > \S+: Flags \[\.\], .*\n$/.test(dump.out()) && dump.out().split("\n").length >= 10,
  );
  assert.equal(await dump.stop(), 0);
  const captured = Number(/^(\d+) packets captured$/m.exec(dump.err())?.[1]);
  return { lines: dump.out().trimEnd().split("\n"), captured };
}

test("NodePort without source IP preservation: host1's curl through control; customer logs control's address", async () => {
  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), PAGE);
  assert.match((await customerLog()).at(-1)!, /^198\.19\.0\.1 - - \[.*\] "GET \/ HTTP\/1\.1" 200 -$/);
});

test("Configure Calico to connect directly to the API server: the kubernetes-services-endpoint ConfigMap", async () => {
  const manifest = `---
kind: ConfigMap
apiVersion: v1
metadata:
  name: kubernetes-services-endpoint
  namespace: tigera-operator
data:
  KUBERNETES_SERVICE_HOST: "198.19.0.1"
  KUBERNETES_SERVICE_PORT: "6443"
`;
  assert.equal(await ok("kubectl apply -f -", manifest), "configmap/kubernetes-services-endpoint created\n");
});

test("Disable kube-proxy's cleanup, switch on eBPF mode: the operator sets bpfEnabled; the client's address reaches the pod", async () => {
  assert.equal(
    await ok(
      `calicoctl patch felixconfiguration default --patch='{"spec": {"bpfKubeProxyIptablesCleanupEnabled": false}}'`,
    ),
    "Successfully patched 1 'FelixConfiguration' resource\n",
  );
  assert.equal(
    await ok(
      `kubectl patch installation.operator.tigera.io default --type merge -p '{"spec":{"calicoNetwork":{"linuxDataplane":"BPF", "hostPorts":null}}}'`,
    ),
    "installation.operator.tigera.io/default patched\n",
  );
  const installation = await ok("kubectl get installation.operator.tigera.io default -o yaml");
  assert.match(installation, /^ {4}linuxDataplane: BPF$/m);
  assert.doesNotMatch(installation, /hostPorts/);
  // The operator's write, with the annotation it compares before every later write (bpf.go).
  const felix = await ok("calicoctl get felixconfiguration default -o yaml");
  assert.match(felix, /^ {4}operator\.tigera\.io\/bpfEnabled: "true"$/m);
  assert.match(felix, /^ {2}bpfEnabled: true$/m);

  assert.match(await ok("kubectl delete pod -n yaobank -l app=customer"), /^pod "customer-\S+" deleted\n$/);
  assert.match(
    await ok("kubectl delete pod -n yaobank -l app=summary"),
    /^(pod "summary-\S+" deleted\n){2}$/,
  );

  // kube-proxy's chains stay (cleanup off), but the eBPF programs handle the node port before netfilter.
  const before = await nodePortCounter();
  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), PAGE);
  assert.equal(await nodePortCounter(), before);
  const log = await customerLog();
  assert.equal(log.length, 1, log.join("\n"));
  assert.match(
    log[0]!,
    /^198\.19\.15\.254 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4} \d\d:\d\d:\d\d\] "GET \/ HTTP\/1\.1" 200 -$/,
  );
});

test("policy explain follows the eBPF path: no masquerade, the backend's ingress policy sees host1", async () => {
  const out = await ok("policy explain 198.19.15.254 198.19.0.1 --port 30180");
  assert.doesNotMatch(out, /SNAT/);
  assert.match(out, /^ {2}nat: eBPF NodePort tunnel from control to \S+ \(client address kept\)$/m);
  assert.match(
    out,
    /ingress to yaobank\/customer-\S+ \(workload\) 198\.19\.15\.254:\d+ -> 198\.19\.\d+\.\d+:80$/m,
  );
});

test("tortie trace from host1 to the node port shows the eBPF path: NAT, the NodePort tunnel, the backend's DNAT", async () => {
  const out = await ok("trace host1 198.19.0.1:30180");
  const customerNode = (await h.store().list(controlKinds.Pod, "yaobank")).find((p) =>
    p.metadata.name!.startsWith("customer"),
  )!.spec.nodeName as string;
  assert.match(
    out,
    /^ {2}bpf NAT frontend 198\.19\.0\.1:30180 \(yaobank\/customer:http\) → backend 198\.19\.\d+\.\d+:80 on \S+$/m,
  );
  if (customerNode !== "control") {
    assert.match(out, /^ {2}bpf NodePort tunnel to \S+ \(198\.19\.0\.\d+\): client address kept$/m);
    assert.match(out, /^ {2}bpf NodePort tunnel from 198\.19\.0\.1 \(VNI 0xca11c0\): decapsulated$/m);
    assert.match(
      out,
      /^ {2}bpf reply to yaobank\/customer:http back through the NodePort tunnel to 198\.19\.0\.1$/m,
    );
  }
  assert.match(out, /receive in eth0: 198\.19\.15\.254:\d+ → 198\.19\.\d+\.\d+:80/);
  assert.match(out, /^verdict: delivered/m);
});

test("Snoop without DSR, then with DSR: replies stop passing through control", async () => {
  const tunnel = await snoop();
  const toHost1 = (l: string) => /^ {4}198\.19\.0\.1\.30180 > 198\.19\.15\.254\.\d+: Flags \[/.test(l);
  const fromHost1 = (l: string) => /^ {4}198\.19\.15\.254\.\d+ > 198\.19\.0\.1\.30180: Flags \[/.test(l);
  assert.equal(tunnel.lines.length, tunnel.captured * 2);
  assert.ok(tunnel.lines.some(toHost1), tunnel.lines.join("\n"));
  assert.ok(tunnel.lines.some(fromHost1), tunnel.lines.join("\n"));
  assert.match(tunnel.lines[3]!, /^ {4}198\.19\.0\.1\.30180 > 198\.19\.15\.254\.\d+: Flags \[S\.\], /);
  // Forwarded by the backend's node and again by control, as the seed's ttl 62.
  assert.match(tunnel.lines[2]!, /, ttl 62, /);

  assert.equal(
    await ok(
      `calicoctl patch felixconfiguration default --patch='{"spec": {"bpfExternalServiceMode": "DSR"}}'`,
    ),
    "Successfully patched 1 'FelixConfiguration' resource\n",
  );
  const dsr = await snoop();
  assert.equal(dsr.lines.length, dsr.captured * 2);
  assert.ok(dsr.captured >= 5, dsr.lines.join("\n"));
  for (let i = 1; i < dsr.lines.length; i += 2) assert.ok(fromHost1(dsr.lines[i]!), dsr.lines[i]);
  assert.match(dsr.lines[1]!, /Flags \[S\], /);
  assert.match((await customerLog()).at(-1)!, /^198\.19\.15\.254 - - /);
});

test("With the default cleanup (bpfKubeProxyIptablesCleanupEnabled true) Felix removes kube-proxy's chains; services still work", async () => {
  assert.match(await ok("exec control -- sudo iptables-save"), /^:KUBE-NODEPORTS - \[0:0\]$/m);
  await ok(
    `calicoctl patch felixconfiguration default --patch='{"spec": {"bpfKubeProxyIptablesCleanupEnabled": true}}'`,
  );
  const saved = await ok("exec control -- sudo iptables-save");
  assert.doesNotMatch(saved, /KUBE-/);
  assert.match(saved, /cali-/);
  // ClusterIP services from pods (customer → summary → database) go through the eBPF NAT alone now.
  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), PAGE);
  assert.match((await customerLog()).at(-1)!, /^198\.19\.15\.254 - - /);
});

test("the hosts' own connections to a cluster IP go through the eBPF NAT (connect-time load balancing)", async () => {
  const svc = await ok("kubectl get service -n yaobank customer -o jsonpath={.spec.clusterIP}");
  assert.match(svc, /^\d+\.\d+\.\d+\.\d+$/);
  assert.match(await ok(`exec node2 -- curl ${svc}`), PAGE);
});

test("back to Iptables: the operator turns bpfEnabled off, kube-proxy's chains return and masquerade again", async () => {
  assert.equal(
    await ok(
      `kubectl patch installation.operator.tigera.io default --type merge -p '{"spec":{"calicoNetwork":{"linuxDataplane":"Iptables"}}}'`,
    ),
    "installation.operator.tigera.io/default patched\n",
  );
  const felix = await ok("calicoctl get felixconfiguration default -o yaml");
  assert.match(felix, /^ {4}operator\.tigera\.io\/bpfEnabled: "false"$/m);
  assert.match(felix, /^ {2}bpfEnabled: false$/m);
  assert.match(await ok("exec control -- sudo iptables-save"), /^:KUBE-NODEPORTS - \[0:0\]$/m);
  assert.match(await ok("exec host1 -- curl 198.19.0.1:30180"), PAGE);
  assert.match((await customerLog()).at(-1)!, /^198\.19\.0\.1 - - /);
});
