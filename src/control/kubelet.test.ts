// The kubelet controller starts many pods in one settle: every pod ends Running with its node's address, and the
// status writes go to the store several at a time (the file store commits such writes in groups), never more
// than the cap at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ipam } from "../ipam/index.ts";
import { MemoryBackend, ResourceClient, type StoredValue, type WriteHints } from "../store/index.ts";
import { bootstrapCluster } from "./bootstrap.ts";
import { reconcileCluster } from "./reconcile.ts";
import { serviceAllocation } from "./service-allocation.ts";
import { BUILT_IN_TOPOLOGIES } from "./topologies.ts";
import { kinds, readTopology } from "./topology.ts";

const NOW = new Date("2026-01-02T03:04:05Z");
const now = () => NOW;

/** A memory store whose updates take a moment, counting how many are in flight at once. */
class SlowUpdates extends MemoryBackend {
  inFlight = 0;
  maxInFlight = 0;
  override async update(key: string, value: unknown, rev?: number, hints?: WriteHints): Promise<StoredValue> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      return await super.update(key, value, rev, hints);
    } finally {
      this.inFlight--;
    }
  }
}

test("the kubelet starts 200 host-network pods in one settle, writing their statuses concurrently", async () => {
  const backend = new SlowUpdates();
  const client = new ResourceClient(backend, { now }).use(serviceAllocation);
  await bootstrapCluster(client, structuredClone(BUILT_IN_TOPOLOGIES.lab!), NOW);
  const topology = (await readTopology(client))!;
  const nodes = topology.hosts.filter((h) => h.role !== "external");
  await reconcileCluster(client, new Ipam(client.backend, { now }), now);
  backend.maxInFlight = 0;
  for (let i = 0; i < 200; i++)
    await client.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `p${i}`, namespace: "default" },
      spec: {
        nodeName: nodes[i % nodes.length]!.name,
        hostNetwork: true,
        containers: [{ name: "pause", image: "registry.k8s.io/pause:3.9" }],
      },
    });
  await reconcileCluster(client, new Ipam(client.backend, { now }), now);

  const pods = (await client.list(kinds.Pod, "default")).filter((p) => p.metadata.name!.startsWith("p"));
  assert.equal(pods.length, 200);
  for (const p of pods) {
    const host = nodes.find((h) => h.name === p.spec.nodeName)!;
    assert.equal(p.status?.phase, "Running", p.metadata.name);
    assert.equal(p.status?.podIP, host.ip, p.metadata.name);
    assert.equal(p.status?.hostIP, host.ip, p.metadata.name);
  }
  assert.ok(backend.maxInFlight > 1, `status writes one at a time (max in flight ${backend.maxInFlight})`);
  assert.ok(backend.maxInFlight <= 64, `more than 64 status writes in flight (${backend.maxInFlight})`);
});
