import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { type ApiObject, findKind } from "../../src/api/index.ts";
import { assignPodAddresses, checkIpam, Ipam } from "../../src/ipam/index.ts";
import { EtcdBackend, ResourceClient } from "../../src/store/index.ts";
import { type EtcdServer, etcdUnavailable, startEtcd } from "./etcd-harness.ts";

/**
 * Two tortie processes on one etcd (two independent backends and IPAM instances, their allocations interleaved
 * by the network and by generated pauses) never hand out one address twice, never claim one block twice, and
 * leave IPAM consistent (`calicoctl ipam check` finds no problem). Each run has its own key prefix on one etcd.
 */
const unavailable = etcdUnavailable();
let etcd: EtcdServer | undefined;
before(async () => {
  if (!unavailable) etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

const v3 = (kind: string) => findKind("projectcalico.org/v3", kind)!;
const NAMESPACE: ApiObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } };

interface Op {
  node: number;
  /** Gives back this process's oldest pod address first (freed ordinals get reused by the other process). */
  releaseFirst: boolean;
  /** Milliseconds to wait before the op: moves where the two processes' requests interleave. */
  pause: number;
}

const opArb = fc.record({
  node: fc.integer({ min: 0, max: 2 }),
  releaseFirst: fc.boolean(),
  pause: fc.integer({ min: 0, max: 3 }),
});

/** One process: its own backend and Ipam; returns the pods it holds at the end, with their addresses. */
async function runProcess(endpoint: string, keyPrefix: string, tag: string, ops: Op[]): Promise<ApiObject[]> {
  const backend = new EtcdBackend([endpoint], { keyPrefix });
  const ipam = new Ipam(backend);
  const held: ApiObject[] = [];
  try {
    for (const [i, op] of ops.entries()) {
      if (op.pause) await new Promise((r) => setTimeout(r, op.pause));
      if (op.releaseFirst && held.length > 0) {
        const pod = held.shift()!;
        await ipam.releaseByHandle(`k8s-pod-network.${pod.metadata.uid}`);
      }
      const pod: ApiObject = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { namespace: "default", name: `${tag}-${i}`, uid: `${tag}${i}` },
        spec: { nodeName: `node${op.node}` },
      };
      const { ips } = await assignPodAddresses(ipam, {
        pod,
        namespace: NAMESPACE,
        node: `node${op.node}`,
        containerId: `${tag}${i}`,
      });
      pod.status = { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) };
      held.push(pod);
    }
    return held;
  } finally {
    await backend.close();
  }
}

let runs = 0;
test("two processes on one etcd never double-allocate an address or a block; ipam check is clean", {
  skip: unavailable,
}, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 28, max: 30 }),
      fc.array(opArb, { minLength: 1, maxLength: 12 }),
      fc.array(opArb, { minLength: 1, maxLength: 12 }),
      async (blockSize, opsA, opsB) => {
        const keyPrefix = `/ipam-run-${++runs}`;
        const backend = new EtcdBackend([etcd!.endpoint], { keyPrefix });
        const client = new ResourceClient(backend);
        try {
          await client.ensureBuiltIns();
          await client.create({
            apiVersion: "projectcalico.org/v3",
            kind: "IPPool",
            metadata: { name: "pool" },
            spec: { cidr: "10.0.0.0/24", blockSize },
          });
          for (const name of ["node0", "node1", "node2"])
            await client.create({ apiVersion: "v1", kind: "Node", metadata: { name } });
          const [a, b] = await Promise.all([
            runProcess(etcd!.endpoint, keyPrefix, "a", opsA),
            runProcess(etcd!.endpoint, keyPrefix, "b", opsB),
          ]);
          const pods = [...a, ...b];
          const ips = pods.flatMap((p) => p.status.podIPs.map((x: { ip: string }) => x.ip));
          assert.equal(new Set(ips).size, ips.length, `an address was handed out twice: ${ips.join(" ")}`);
          const blocks = await client.list(v3("IPAMBlock"));
          const cidrs = blocks.map((blk) => blk.spec.cidr);
          assert.equal(new Set(cidrs).size, cidrs.length, `a block was claimed twice: ${cidrs.join(" ")}`);
          const affinities = await client.list(v3("BlockAffinity"));
          const claimed = affinities.filter((x) => x.spec.state === "confirmed").map((x) => x.spec.cidr);
          assert.equal(new Set(claimed).size, claimed.length, `a block has two hosts: ${claimed.join(" ")}`);
          const handles = await client.list(v3("IPAMHandle"));
          const check = checkIpam({
            blocks: blocks.map((blk) => blk.spec),
            pools: await client.list(v3("IPPool")),
            nodes: [],
            workloadEndpoints: [],
            pods,
            services: [],
            handles: handles.map((h) => ({
              id: h.spec.handleID,
              uid: h.metadata.uid,
              revision: h.metadata.resourceVersion!,
            })),
            showAllIps: false,
            showProblemIps: true,
            version: "test",
          });
          assert.equal(check.problems, 0, check.lines.join("\n"));
          assert.ok(
            check.lines.includes("Found 0 handles mentioned in blocks with no matching handle resource."),
            check.lines.join("\n"),
          );
        } finally {
          await backend.close();
        }
      },
    ),
    { numRuns: Number(process.env.ETCD_IPAM_RUNS ?? 8) },
  );
});

function runWorker(args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const worker = new URL("./etcd-alloc-worker.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, ["--import", "tsx", worker, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker: ${err}`))));
  });
}

test("two tortie processes (child processes) on one etcd never hand out the same address", {
  skip: unavailable,
}, async () => {
  const keyPrefix = "/ipam-processes";
  const backend = new EtcdBackend([etcd!.endpoint], { keyPrefix });
  const client = new ResourceClient(backend);
  await client.ensureBuiltIns();
  await client.create({
    apiVersion: "projectcalico.org/v3",
    kind: "IPPool",
    metadata: { name: "pool" },
    spec: { cidr: "10.1.0.0/25", blockSize: 29 },
  });
  for (const name of ["node0", "node1"])
    await client.create({ apiVersion: "v1", kind: "Node", metadata: { name } });
  // Two processes on one node (their block walks collide) and one on another.
  const [x, y, z] = await Promise.all([
    runWorker([etcd!.endpoint, keyPrefix, "node0", "16", "x"]),
    runWorker([etcd!.endpoint, keyPrefix, "node0", "16", "y"]),
    runWorker([etcd!.endpoint, keyPrefix, "node1", "16", "z"]),
  ]);
  const all = [...x, ...y, ...z];
  assert.equal(all.length, 3 * 12, "each worker keeps 12 of its 16 addresses");
  assert.equal(new Set(all).size, all.length, "no address was handed out twice");
  const blocks = await client.list(v3("IPAMBlock"));
  const allocated = blocks.flatMap((b) => b.spec.allocations.filter((a: number | null) => a !== null));
  assert.equal(allocated.length, all.length, "the blocks record exactly the addresses the processes hold");
  await backend.close();
});
