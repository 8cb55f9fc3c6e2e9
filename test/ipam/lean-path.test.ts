/**
 * IPAM's lean path (IpamOptions.lean) against the full path: the same random sequence of operations runs in two
 * worlds, one whose Ipam instances keep their reads between operations and take the lean path, one whose
 * instances read everything every time. After every step the two stores must be identical (every key, value and
 * revision, except the random uids), every result and error the same, and so `ipam check`'s report.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { type ApiObject, findKind } from "../../src/api/index.ts";
import { checkIpam, Ipam } from "../../src/ipam/index.ts";
import { FileBackend, MemoryBackend, ResourceClient } from "../../src/store/index.ts";

const HOSTS = ["a1", "a2", "b1"] as const;
const ZONES = ["a", "b"] as const;
const POOLS = [
  { name: "zone-a", cidr: "10.0.0.0/27", blockSize: 29, nodeSelector: "zone == 'a'" },
  { name: "zone-b", cidr: "10.1.0.0/28", blockSize: 30, nodeSelector: "zone == 'b'" },
  { name: "any", cidr: "10.2.0.0/28", blockSize: 29, nodeSelector: "all()" },
  { name: "v6", cidr: "fd00::/120", blockSize: 122, nodeSelector: "all()" },
] as const;
const kind = (k: string) => findKind("projectcalico.org/v3", k)!;

type Op =
  | { op: "alloc"; inst: number; host: number; n4: number; n6: number; handle: number; labels: boolean }
  | { op: "assignIp"; inst: number; host: number; pool: number; ord: number; handle: number }
  | { op: "release"; inst: number; pick: number; withHandle: boolean }
  | { op: "releaseHandle"; inst: number; handle: number }
  | { op: "pool"; pool: number; change: "disable" | "enable" | "selector" | "delete" | "create" }
  | { op: "reserve"; pool: number; ord: number; size: number }
  | { op: "unreserve" }
  | { op: "config"; strict: boolean; maxBlocks: number }
  | { op: "node"; host: number; zone: number }
  | { op: "releaseHost"; inst: number; host: number; mustBeEmpty: boolean }
  | { op: "compact" }
  | { op: "tick" };

const inst = fc.nat({ max: 1 });
/** Mostly the first host, so its blocks fill up and empty out again. */
const host = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat({ max: HOSTS.length - 1 }));
const handle = fc.nat({ max: 7 });
const pool = fc.nat({ max: POOLS.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 14,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      inst,
      host,
      n4: fc.oneof({ weight: 2, arbitrary: fc.constant(1) }, fc.nat({ max: 4 })),
      n6: fc.nat({ max: 1 }),
      handle,
      labels: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("assignIp" as const),
      inst,
      host,
      pool: fc.nat({ max: 2 }),
      ord: fc.nat({ max: 31 }),
      handle,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("release" as const),
      inst,
      pick: fc.nat(),
      withHandle: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("releaseHandle" as const), inst, handle }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("pool" as const),
      pool,
      change: fc.constantFrom("disable", "enable", "selector", "delete", "create") as fc.Arbitrary<
        "disable" | "enable" | "selector" | "delete" | "create"
      >,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("reserve" as const),
      pool: fc.nat({ max: 2 }),
      ord: fc.nat({ max: 31 }),
      size: fc.constantFrom(32, 31, 30, 29),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "unreserve" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("config" as const),
      strict: fc.boolean(),
      maxBlocks: fc.nat({ max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("node" as const), host, zone: fc.nat({ max: 1 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("releaseHost" as const), inst, host, mustBeEmpty: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "compact" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "tick" as const }) },
);

/** The address `ord` places into an IPv4 CIDR. */
function addressIn(cidr: string, ord: number): string {
  const [a, b, c, d] = cidr.split("/")[0]!.split(".").map(Number) as [number, number, number, number];
  return `${a}.${b}.${c}.${d + ord}`;
}

/** One world: a store, a controller-ish client for foreign writes, and two Ipam instances (two processes). */
async function world(lean: boolean) {
  const backend = new MemoryBackend();
  let t = Date.parse("2026-01-02T03:04:05Z");
  const now = () => new Date(t);
  const client = new ResourceClient(backend, { now });
  await client.ensureBuiltIns();
  for (const p of POOLS.slice(0, 3))
    await client.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: p.name },
      spec: { cidr: p.cidr, blockSize: p.blockSize, nodeSelector: p.nodeSelector },
    });
  await client.create({
    apiVersion: "projectcalico.org/v3",
    kind: "IPPool",
    metadata: { name: "v6" },
    spec: { cidr: POOLS[3].cidr, blockSize: POOLS[3].blockSize },
  });
  for (const [i, h] of HOSTS.entries())
    await client.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: h, labels: { zone: ZONES[i === 2 ? 1 : 0] } },
    });
  const ipams = [new Ipam(backend, { now, lean }), new Ipam(backend, { now, lean })];
  const held: { ip: string; handle: string }[] = [];
  let reservations = 0;

  async function run(op: Op): Promise<unknown> {
    switch (op.op) {
      case "alloc": {
        const node = await client.get(findKind("v1", "Node")!, HOSTS[op.host]!);
        const r = await ipams[op.inst]!.autoAssign({
          num4: op.n4,
          num6: op.n6,
          hostname: HOSTS[op.host]!,
          handleId: `h-${op.handle}`,
          attrs: { pod: `p-${op.handle}`, namespace: "default" },
          intendedUse: "Workload",
          nodeLabels: op.labels && node ? (node.metadata.labels ?? {}) : undefined,
        });
        for (const a of [r.v4, r.v6])
          for (const ip of a?.ips ?? []) held.push({ ip, handle: `h-${op.handle}` });
        return r;
      }
      case "assignIp": {
        const ip = addressIn(POOLS[op.pool]!.cidr, op.ord);
        await ipams[op.inst]!.assignIp({ ip, hostname: HOSTS[op.host]!, handleId: `h-${op.handle}` });
        held.push({ ip, handle: `h-${op.handle}` });
        return ip;
      }
      case "release": {
        if (held.length === 0) return "nothing held";
        const [h] = held.splice(op.pick % held.length, 1);
        return ipams[op.inst]!.releaseIps([
          { address: h!.ip, handle: op.withHandle ? h!.handle : undefined },
        ]);
      }
      case "releaseHandle":
        return ipams[op.inst]!.releaseByHandle(`h-${op.handle}`);
      case "pool": {
        const p = POOLS[op.pool]!;
        const cur = await client.get(kind("IPPool"), p.name);
        if (op.change === "create") {
          if (cur) return "exists";
          return client.create({
            apiVersion: "projectcalico.org/v3",
            kind: "IPPool",
            metadata: { name: p.name },
            spec: { cidr: p.cidr, blockSize: p.blockSize, nodeSelector: p.nodeSelector },
          });
        }
        if (!cur) return "absent";
        if (op.change === "delete") return client.delete(kind("IPPool"), p.name);
        if (op.change === "selector")
          cur.spec.nodeSelector = cur.spec.nodeSelector === "all()" ? p.nodeSelector : "all()";
        else cur.spec.disabled = op.change === "disable";
        return client.update(cur);
      }
      case "reserve": {
        const cidr = `${addressIn(POOLS[op.pool]!.cidr, op.ord - (op.ord % 2 ** (32 - op.size)))}/${op.size}`;
        return client.create({
          apiVersion: "projectcalico.org/v3",
          kind: "IPReservation",
          metadata: { name: `r-${reservations++}` },
          spec: { reservedCIDRs: [cidr] },
        });
      }
      case "unreserve": {
        const all = await client.list(kind("IPReservation"));
        if (all.length === 0) return "none";
        return client.delete(kind("IPReservation"), all[0]!.metadata.name!);
      }
      case "config": {
        const cur = await client.get(kind("IPAMConfiguration"), "default");
        const spec = { strictAffinity: op.strict, maxBlocksPerHost: op.maxBlocks };
        if (!cur)
          return client.create({
            apiVersion: "projectcalico.org/v3",
            kind: "IPAMConfiguration",
            metadata: { name: "default" },
            spec,
          });
        cur.spec = spec;
        return client.update(cur);
      }
      case "node": {
        const node = (await client.get(findKind("v1", "Node")!, HOSTS[op.host]!))!;
        node.metadata.labels = { zone: ZONES[op.zone]! };
        return client.update(node);
      }
      case "releaseHost":
        return ipams[op.inst]!.releaseHostAffinities(HOSTS[op.host]!, op.mustBeEmpty);
      case "compact":
        return backend.compact(await backend.revision());
      case "tick":
        t += 61_000;
        return t;
    }
  }

  return { backend, client, run, held };
}

/** The result of an operation, or its error, without what is random (uids) or object identity. */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { ok: scrub(await p) };
  } catch (e) {
    return { error: `${(e as { code?: string }).code ?? ""}: ${(e as Error).message}` };
  }
}

function scrub(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null), (k, x) => (k === "uid" ? undefined : x));
}

async function dump(backend: MemoryBackend): Promise<unknown> {
  const { items, revision } = await backend.list("/");
  return {
    revision,
    items: items.map((i) => ({ k: i.key, c: i.createRevision, m: i.modRevision, v: scrub(i.value) })),
  };
}

async function check(client: ResourceClient) {
  const blocks = (await client.list(kind("IPAMBlock"))).map((b) => b.spec);
  const handles = (await client.list(kind("IPAMHandle"))).map((h: ApiObject) => ({
    id: h.spec.handleID,
    revision: h.metadata.resourceVersion!,
  }));
  return checkIpam({
    blocks,
    pools: await client.list(kind("IPPool")),
    nodes: await client.list(findKind("v1", "Node")!),
    workloadEndpoints: [],
    pods: [],
    services: [],
    handles,
    showAllIps: true,
    showProblemIps: true,
    version: "test",
  });
}

test("lean path: the same operations give the same stores, results and ipam check as the full path", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 80, size: "max" }), async (ops) => {
      const lean = await world(true);
      const full = await world(false);
      for (const [i, op] of ops.entries()) {
        const [a, b] = [await outcome(lean.run(op)), await outcome(full.run(op))];
        assert.deepEqual(a, b, `step ${i} ${JSON.stringify(op)}: results differ`);
        assert.deepEqual(
          await dump(lean.backend),
          await dump(full.backend),
          `step ${i} ${JSON.stringify(op)}: stores differ`,
        );
      }
      assert.deepEqual(await check(lean.client), await check(full.client));
    }),
    { numRuns: Number(process.env.IPAM_LEAN_RUNS ?? 60) },
  );
});

test("lean path: a steady stream of allocations on one host writes exactly one handle and one block each", async () => {
  const { backend, run } = await world(true);
  await run({ op: "alloc", inst: 0, host: 0, n4: 1, n6: 0, handle: 0, labels: true });
  const writes: string[] = [];
  const reads: string[] = [];
  const counting = new Proxy(backend, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (["create", "update", "delete"].includes(String(prop))) writes.push(`${String(prop)} ${args[0]}`);
        else reads.push(String(prop));
        return v.apply(target, args);
      };
    },
  });
  const ipam = new Ipam(counting, { now: () => new Date("2026-01-02T03:04:05Z") });
  await ipam.autoAssign({ num4: 1, hostname: "a1", handleId: "warm", intendedUse: "Workload" });
  writes.length = 0;
  reads.length = 0;
  const r = await ipam.autoAssign({ num4: 2, hostname: "a1", handleId: "two", intendedUse: "Workload" });
  assert.equal(r.v4?.ips.length, 2);
  assert.equal(writes.length, 2, writes.join(", "));
  assert.equal(writes[0], "create /registry/projectcalico.org/ipamhandles/two");
  assert.match(writes[1]!, /^update \/registry\/projectcalico\.org\/ipamblocks\/10-[0-9-]+-29$/);
  assert.deepEqual(reads, ["revision"], "nothing is read again but the store's revision");
});

test("concurrent allocations on one host over the file store (group commit) all succeed, lean or not", async () => {
  for (const lean of [true, false]) {
    const dir = mkdtempSync(join(tmpdir(), "tortie-ipam-concurrent-"));
    try {
      const backend = new FileBackend(dir);
      const client = new ResourceClient(backend);
      await client.ensureBuiltIns();
      await client.create({
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "p" },
        spec: { cidr: "10.0.0.0/24", blockSize: 28 },
      });
      await client.create({ apiVersion: "v1", kind: "Node", metadata: { name: "n1", labels: {} } });
      const ipams = [new Ipam(backend, { lean }), new Ipam(backend, { lean })];
      await ipams[0]!.autoAssign({ num4: 1, hostname: "n1", handleId: "warm", intendedUse: "Workload" });
      // 60 at once on one host: several new blocks are claimed while every caller contends for them.
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          ipams[i % 2]!.autoAssign({ num4: 1, hostname: "n1", handleId: `h${i}`, intendedUse: "Workload" }),
        ),
      );
      const ips = results.flatMap((r) => r.v4?.ips ?? []);
      assert.equal(ips.length, 60, `lean ${lean}`);
      assert.equal(new Set(ips).size, 60, `lean ${lean}: an address handed out twice`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
