/**
 * IPAM at Kubernetes' scale limits: 150k pod addresses across 5k nodes (one Node object each), allocated
 * the way the CNI plugin does (one handle and one address per pod, pods spread round-robin over nodes),
 * then all released. The store is the embedded memory store; history is compacted every 10k writes, as
 * etcd's auto-compaction would. Side by side in one run: the lean path (the default) and the full path (lean
 * off, and the store copying every value as before hand-over), and the store's floor (the two writes of an
 * allocation with no IPAM logic). Then the durable file store: allocations one at a time (two fsyncs each)
 * against 100 concurrent allocations sharing fsyncs by group commit.
 */
import { join } from "node:path";
import { Ipam } from "../src/ipam/index.ts";
import { FileBackend, MemoryBackend, ResourceClient, type StoreBackend } from "../src/store/index.ts";
import type { RecordRow } from "./record.ts";

// RecordRow lives in record.ts (run.ts folds runs and anchors); re-exported for the row files importing it here.
export type { RecordRow };

/** The memory store as it was before hand-over: every value written is deep-copied. */
class CopyingMemoryBackend extends MemoryBackend {
  override create(key: string, value: unknown) {
    return super.create(key, value);
  }
  override update(key: string, value: unknown, expectedModRevision?: number) {
    return super.update(key, value, expectedModRevision);
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

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

function podArgs(i: number, nodes: number) {
  const node = `node-${i % nodes}`;
  return {
    num4: 1,
    hostname: node,
    handleId: handleOf(i),
    attrs: { namespace: "default", node, pod: `pod-${i}`, timestamp: "2026-01-02 03:04:05 +0000 UTC" },
    intendedUse: "Workload" as const,
    nodeLabels: { "kubernetes.io/hostname": node },
  };
}

const handleOf = (i: number) => `k8s-pod-network.${i.toString(16).padStart(12, "0")}`;

async function allocateAll(
  ipam: Ipam,
  backend: StoreBackend,
  pods: number,
  nodes: number,
): Promise<string[]> {
  const ips: string[] = [];
  for (let i = 0; i < pods; i++) {
    const r = await ipam.autoAssign(podArgs(i, nodes));
    const ip = r.v4?.ips[0];
    if (!ip) throw new Error(`allocation ${i} failed: ${r.v4?.messages.join("; ")}`);
    ips.push(ip);
    if (i % 10_000 === 9_999) await backend.compact(await backend.revision());
  }
  return ips;
}

/** `workers` allocations in flight at once (one per node, as kubelets on many nodes would start pods). */
async function allocateConcurrently(ipam: Ipam, pods: number, nodes: number, workers: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < pods) {
      const i = next++;
      const r = await ipam.autoAssign(podArgs(i, nodes));
      if (!r.v4?.ips[0]) throw new Error(`allocation ${i} failed: ${r.v4?.messages.join("; ")}`);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

/** The floor: only the two writes an allocation makes (handle create, block CAS update), no IPAM logic. */
async function storeFloor(record: RecordRow, pods: number, nodes: number, handOver: boolean): Promise<void> {
  const b = new MemoryBackend();
  const hints = { handOver };
  const attrs = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      handle_id: `k8s-pod-network.${i}`,
      secondary: { namespace: "default", node: "node-1", pod: `pod-${i}`, timestamp: "x" },
    }));
  for (let k = 0; k < nodes; k++) await b.create(`/b/${k}`, { spec: { allocations: [], attributes: [] } });
  global.gc?.();
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < pods; i++) {
    const k = i % nodes;
    await b.create(
      `/h/${i}`,
      {
        metadata: { name: `h${i}`, uid: "u", creationTimestamp: "t", generation: 1 },
        spec: { handleID: `k8s-pod-network.${i}`, block: { "10.0.0.0/26": 1 }, deleted: false },
      },
      hints,
    );
    const cur = await b.get(`/b/${k}`);
    const fill = Math.min(64, Math.floor(i / nodes) + 1);
    await b.update(
      `/b/${k}`,
      { spec: { allocations: new Array(64).fill(0), unallocated: [], attributes: attrs(fill) } },
      cur!.modRevision,
      hints,
    );
    if (i % 10_000 === 9_999) await b.compact(await b.revision());
  }
  record(
    handOver
      ? "store floor with hand-over: the two writes, values not copied (memory store)"
      : "store floor: the two writes of an allocation, no IPAM logic",
    pods,
    performance.now() - t,
    `cpu ${cpuMs(c).toFixed(0)} ms`,
  );
}

/** Allocates every pod on a fresh memory store; returns wall and CPU time. */
async function memoryRun(
  pods: number,
  nodes: number,
  lean: boolean,
): Promise<{ ms: number; cpu: number; heapPerAlloc: number; ipam: Ipam; backend: MemoryBackend }> {
  const backend = lean ? new MemoryBackend() : new CopyingMemoryBackend();
  await setup(backend, nodes);
  await backend.compact(await backend.revision());
  const ipam = new Ipam(backend, { lean });
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const c = process.cpuUsage();
  const t = performance.now();
  const ips = await allocateAll(ipam, backend, pods, nodes);
  const ms = performance.now() - t;
  const cpu = cpuMs(c);
  await backend.compact(await backend.revision());
  global.gc?.();
  const heapPerAlloc = (process.memoryUsage().heapUsed - heapBefore) / pods;
  if (new Set(ips).size !== ips.length) throw new Error("duplicate address handed out");
  return { ms, cpu, heapPerAlloc, ipam, backend };
}

export async function benchIpam(record: RecordRow, scale: number, tmp: () => string): Promise<void> {
  const pods = Math.round(150_000 * scale);
  const nodes = Math.max(1, Math.round(5_000 * scale));
  const n = nodes.toLocaleString("en-US");

  // Before and after in one run: the full path first (store copying every value), then the lean path.
  const full = await memoryRun(pods, nodes, false);
  record(
    `IPAM allocate, ${n} nodes, full path: lean off, store copies (memory store)`,
    pods,
    full.ms,
    `cpu ${full.cpu.toFixed(0)} ms`,
  );
  const lean = await memoryRun(pods, nodes, true);
  record(
    `IPAM allocate, ${n} nodes, lean path (memory store)`,
    pods,
    lean.ms,
    `cpu ${lean.cpu.toFixed(0)} ms (${(full.cpu / lean.cpu).toFixed(2)}× less than the full path); ${Math.round(lean.heapPerAlloc)} B heap per allocation`,
  );
  const { ipam, backend } = lean;
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < pods; i++) {
    await ipam.releaseByHandle(handleOf(i));
    if (i % 10_000 === 9_999) await backend.compact(await backend.revision());
  }
  record(
    "IPAM release by handle (memory store)",
    pods,
    performance.now() - t,
    `cpu ${cpuMs(c).toFixed(0)} ms`,
  );
  const usage = await ipam.getUtilization();
  if (usage.some((p) => p.blocks.some((b) => b.available !== b.capacity)))
    throw new Error("release left addresses");

  await storeFloor(record, pods, nodes, false);
  await storeFloor(record, pods, nodes, true);

  // The durable store: every allocation is two writes, each fdatasync'ed before it resolves.
  const durablePods = Math.round(5_000 * Math.min(scale, 1));
  const one = new FileBackend(join(tmp(), "store"));
  await setup(one, 100);
  let syncs = one.logSyncs;
  let t0 = performance.now();
  await allocateAll(new Ipam(one), one, durablePods, 100);
  record(
    "IPAM allocate, 100 nodes, one at a time (file store, an fsync per write)",
    durablePods,
    performance.now() - t0,
    `${one.logSyncs - syncs} fsyncs`,
  );
  await one.close();
  const grouped = new FileBackend(join(tmp(), "store"));
  await setup(grouped, 100);
  syncs = grouped.logSyncs;
  t0 = performance.now();
  await allocateConcurrently(new Ipam(grouped), durablePods, 100, 100);
  record(
    "IPAM allocate, 100 nodes, 100 at a time (file store, group commit)",
    durablePods,
    performance.now() - t0,
    `${grouped.logSyncs - syncs} fsyncs for ${durablePods * 2} writes`,
  );
  await grouped.close();
}
