import assert from "node:assert/strict";
import { after, test } from "node:test";
import { clusterDnsZone, podResolvConf, resolveInZone } from "../../src/calc/index.ts";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness, fixture } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

test("cluster DNS zone of the lab with YAO Bank: services, SRV, pods, PTR and pod search paths", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const store = h.store();
  const services = await store.list(controlKinds.Service);
  const pods = await store.list(controlKinds.Pod);
  const zone = clusterDnsZone({
    domain: "cluster.local",
    services,
    endpointSlices: await store.list(controlKinds.EndpointSlice),
    pods,
  });
  const ipOf = (name: string) => services.find((s) => s.metadata.name === name)!.spec.clusterIP;
  const search = ["yaobank.svc.cluster.local", "svc.cluster.local", "cluster.local"];

  // From a yaobank pod, `database` resolves through the search path (what customer's curl relies on).
  const db = resolveInZone(zone, "database", "A", search);
  assert.deepEqual(db, {
    name: "database.yaobank.svc.cluster.local.",
    records: [{ name: "database.yaobank.svc.cluster.local.", type: "A", ttl: 5, data: ipOf("database") }],
  });
  assert.equal(resolveInZone(zone, "kube-dns.kube-system", "A", search)?.records[0]?.data, "198.19.32.10");
  assert.equal(
    resolveInZone(zone, "kubernetes.default.svc.cluster.local.", "A")?.records[0]?.data,
    "198.19.32.1",
  );
  assert.equal(resolveInZone(zone, "nosuch", "A", search), undefined);
  assert.equal(
    resolveInZone(zone, "_http._tcp.summary.yaobank.svc.cluster.local", "SRV")?.records[0]?.data,
    "0 100 80 summary.yaobank.svc.cluster.local.",
  );
  const podIP = pods.find((p) => p.metadata.name!.startsWith("customer"))!.status.podIP as string;
  assert.equal(
    resolveInZone(zone, `${podIP.replaceAll(".", "-")}.yaobank.pod.cluster.local`, "A")?.records[0]?.data,
    podIP,
  );
  const ptr = `${ipOf("summary").split(".").reverse().join(".")}.in-addr.arpa.`;
  assert.equal(resolveInZone(zone, ptr, "PTR")?.records[0]?.data, "summary.yaobank.svc.cluster.local.");
  assert.equal(
    podResolvConf("yaobank", "198.19.32.10", "cluster.local"),
    "search yaobank.svc.cluster.local svc.cluster.local cluster.local\nnameserver 198.19.32.10\noptions ndots:5\n",
  );
});

test("headless and ExternalName services", () => {
  const svc = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "ns" },
    spec,
  });
  const zone = clusterDnsZone({
    domain: "cluster.local",
    services: [
      svc("db", { clusterIP: "None", ports: [{ port: 5432 }] }),
      svc("ext", { type: "ExternalName", externalName: "example.org" }),
    ],
    endpointSlices: [
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "db-x", namespace: "ns", labels: { "kubernetes.io/service-name": "db" } },
        endpoints: [
          { addresses: ["10.0.0.5"], hostname: "db-0", conditions: { ready: true } },
          { addresses: ["10.0.0.6"], conditions: { ready: false } },
        ],
      },
    ],
    pods: [],
  });
  assert.deepEqual(
    resolveInZone(zone, "db.ns.svc.cluster.local.", "A")?.records.map((r) => r.data),
    ["10.0.0.5"],
    "not-ready endpoints are not published",
  );
  assert.equal(resolveInZone(zone, "db-0.db.ns.svc.cluster.local.", "A")?.records[0]?.data, "10.0.0.5");
  assert.equal(resolveInZone(zone, "ext.ns.svc.cluster.local.", "A")?.records[0]?.data, "example.org.");
});
