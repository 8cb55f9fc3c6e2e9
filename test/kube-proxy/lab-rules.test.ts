import assert from "node:assert/strict";
import { after, test } from "node:test";
import { controlKinds, readTopology } from "../../src/control/index.ts";
import { formatCidr } from "../../src/net/index.ts";
import {
  buildServicePorts,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
} from "../../src/render/index.ts";
import { CliHarness, fixture } from "../cli/harness.ts";
import { tracePacket } from "./packet-tracer.ts";
import { parseRestore } from "./restore-text.ts";

const h = new CliHarness();
after(() => h.cleanup());

test("the lab with YAO Bank: node1's kube-proxy rules use the seed's chain names and reach the pods", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const store = h.store();
  const t = (await readTopology(store))!;
  const node1 = t.hosts.find((x) => x.name === "node1")!;
  const services = await store.list(controlKinds.Service);
  const slices = await store.list(controlKinds.EndpointSlice);
  const config = kubeProxyIptablesConfig({
    nodeName: "node1",
    nodeIP: node1.ip,
    clusterCIDR: formatCidr(t.clusterCIDR),
  });
  const { restore } = new KubeProxyIptablesSyncer(config).sync(
    buildServicePorts(services, slices, "node1", 4),
  );
  const nat = parseRestore(restore).find((x) => x.name === "nat")!;
  for (const chain of [
    "KUBE-SVC-OIQIZJVJK6E34BR4", // yaobank/summary:http
    "KUBE-SVC-PX5FENG4GZJTCELT", // yaobank/customer:http
    "KUBE-SVC-NPX46M4PTMTKRN6Y", // default/kubernetes:https
    "KUBE-SVC-TCOU7JCQXEZGVUNU", // kube-system/kube-dns:dns
    "KUBE-SVC-ERIFXISQEP7F7OF4", // kube-system/kube-dns:dns-tcp
  ])
    assert.ok(nat.chains.includes(chain), chain);
  const summary = nat.rules.filter((r) => r.startsWith("-A KUBE-SVC-OIQIZJVJK6E34BR4 "));
  assert.equal(summary.filter((r) => r.includes("--probability 0.5000000000")).length, 1);
  assert.ok(restore.includes("--random-fully"));
  assert.ok(restore.includes("-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN"));

  // host1 → node1:30180 reaches the customer pod, masqueraded (eTP Cluster); a pod → summary's cluster IP is not.
  const pods = await store.list(controlKinds.Pod, "yaobank");
  const ipOf = (prefix: string) =>
    pods.filter((p) => p.metadata.name!.startsWith(prefix)).map((p) => p.status.podIP);
  const customer = ipOf("customer")[0];
  const local = ["127.0.0.1", node1.ip];
  assert.deepEqual(
    tracePacket(restore, local, {
      sourceIP: "198.19.15.254",
      protocol: "TCP",
      destIP: node1.ip,
      destPort: 30180,
    }),
    {
      output: `${customer}:80`,
      masq: true,
    },
  );
  const summaryIP = services.find((s) => s.metadata.name === "summary")!.spec.clusterIP;
  const traced = tracePacket(restore, local, {
    sourceIP: customer,
    protocol: "TCP",
    destIP: summaryIP,
    destPort: 80,
  });
  assert.deepEqual(
    traced.output.split(", ").sort(),
    ipOf("summary")
      .map((ip) => `${ip}:80`)
      .sort(),
  );
  assert.equal(traced.masq, false);
});
