/**
 * IPAM at Kubernetes' scale limits: 150k pod addresses across 5k nodes (one Node object each), allocated
 * the way the CNI plugin does (one handle and one address per pod, pods spread round-robin over nodes),
 * then all released. The store is the embedded memory store; history is compacted every 10k writes, as
 * etcd's auto-compaction would. A smaller run on the durable file store shows the fsync-bound rate.
 */
import { join } from "node:path";
import { Ipam } from "../src/ipam/index.ts";
import { FileBackend, MemoryBackend, ResourceClient, type StoreBackend } from "../src/store/index.ts";

export type RecordRow = (what: string, count: number, ms: number, extra?: string) => void;

async function setup(backend: StoreBackend, nodes: number): Promise<void> {
  const client = new ResourceClient(backend);
  await client.ensureBuiltIns();
  await client.create({
    apiVersion: "projectcalico.org/v3",
    kind: "IPPool",
    metadata: { name: "default-ipv4-ippool" },
    spec: { cidr: "10.0.0.0/8", blockSize: 26, natOutgoing: true },
  });
  for (let n = 0; n < nodes; n++)
    await backend.create(`/registry/core/nodes/node-${n}`, {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `node-${n}`, labels: { "kubernetes.io/hostname": `node-${n}` } },
    });
}

async function allocateAll(
  ipam: Ipam,
  backend: StoreBackend,
  pods: number,
  nodes: number,
): Promise<string[]> {
  const ips: string[] = [];
  for (let i = 0; i < pods; i++) {
    const node = `node-${i % nodes}`;
    const r = await ipam.autoAssign({
      num4: 1,
      hostname: node,
      handleId: `k8s-pod-network.${i.toString(16).padStart(12, "0")}`,
      attrs: { namespace: "default", node, pod: `pod-${i}`, timestamp: "2026-01-02 03:04:05 +0000 UTC" },
      intendedUse: "Workload",
      nodeLabels: { "kubernetes.io/hostname": node },
    });
    const ip = r.v4?.ips[0];
    if (!ip) throw new Error(`allocation ${i} failed: ${r.v4?.messages.join("; ")}`);
    ips.push(ip);
    if (i % 10_000 === 9_999) await backend.compact(await backend.revision());
  }
  return ips;
}

/** The floor: only the two writes an allocation makes (handle create, block CAS update), no IPAM logic. */
async function storeFloor(record: RecordRow, pods: number, nodes: number): Promise<void> {
  const b = new MemoryBackend();
  const attrs = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      handle_id: `k8s-pod-network.${i}`,
      secondary: { namespace: "default", node: "node-1", pod: `pod-${i}`, timestamp: "x" },
    }));
  for (let k = 0; k < nodes; k++) await b.create(`/b/${k}`, { spec: { allocations: [], attributes: [] } });
  const t = performance.now();
  for (let i = 0; i < pods; i++) {
    const k = i % nodes;
    await b.create(`/h/${i}`, {
      metadata: { name: `h${i}`, uid: "u", creationTimestamp: "t", generation: 1 },
      spec: { handleID: `k8s-pod-network.${i}`, block: { "10.0.0.0/26": 1 }, deleted: false },
    });
    const cur = await b.get(`/b/${k}`);
    const fill = Math.min(64, Math.floor(i / nodes) + 1);
    await b.update(
      `/b/${k}`,
      { spec: { allocations: new Array(64).fill(0), unallocated: [], attributes: attrs(fill) } },
      cur!.modRevision,
    );
    if (i % 10_000 === 9_999) await b.compact(await b.revision());
  }
  record(
    "store floor: the two writes of an allocation, no IPAM logic (memory store)",
    pods,
    performance.now() - t,
  );
}

export async function benchIpam(record: RecordRow, scale: number, tmp: () => string): Promise<void> {
  const pods = Math.round(150_000 * scale);
  const nodes = Math.max(1, Math.round(5_000 * scale));
  const backend = new MemoryBackend();
  await setup(backend, nodes);
  await backend.compact(await backend.revision());
  const ipam = new Ipam(backend);
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let t = performance.now();
  const ips = await allocateAll(ipam, backend, pods, nodes);
  const allocMs = performance.now() - t;
  await backend.compact(await backend.revision());
  global.gc?.();
  const perAlloc = (process.memoryUsage().heapUsed - heapBefore) / pods;
  if (new Set(ips).size !== ips.length) throw new Error("duplicate address handed out");
  record(
    `IPAM allocate, ${nodes.toLocaleString("en-US")} nodes (memory store)`,
    pods,
    allocMs,
    `${Math.round(perAlloc)} B heap per allocation (blocks, affinities, handles, store)`,
  );
  t = performance.now();
  for (let i = 0; i < pods; i++) {
    await ipam.releaseByHandle(`k8s-pod-network.${i.toString(16).padStart(12, "0")}`);
    if (i % 10_000 === 9_999) await backend.compact(await backend.revision());
  }
  record("IPAM release by handle (memory store)", pods, performance.now() - t);
  const usage = await ipam.getUtilization();
  if (usage.some((p) => p.blocks.some((b) => b.available !== b.capacity)))
    throw new Error("release left addresses");

  await storeFloor(record, pods, nodes);

  const durablePods = Math.round(5_000 * Math.min(scale, 1));
  const file = new FileBackend(join(tmp(), "store"));
  await setup(file, 100);
  const fileIpam = new Ipam(file);
  t = performance.now();
  await allocateAll(fileIpam, file, durablePods, 100);
  record("IPAM allocate, 100 nodes (file store, fsync per write)", durablePods, performance.now() - t);
  await file.close();
}
