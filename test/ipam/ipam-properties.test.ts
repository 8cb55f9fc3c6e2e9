import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { findKind } from "../../src/api/index.ts";
import { checkIpam, Ipam, type IpamKv } from "../../src/ipam/index.ts";
import { cidrContainsIp, parseCidr, parseIp } from "../../src/net/index.ts";
import { MemoryBackend, ResourceClient } from "../../src/store/index.ts";

const HOSTS = { a1: "a", a2: "a", b1: "b" } as const;
type Host = keyof typeof HOSTS;
/** Clients run concurrently; two of them act for the same host, like two CNI calls on one node. */
const CLIENTS = { a1: "a1", a1bis: "a1", a2: "a2", b1: "b1" } as const;
type Client = keyof typeof CLIENTS;
const WORKLOAD_POOL_OF_ZONE = { a: "10.0.0.0/28", b: "10.1.0.0/29" };

/** Every store call waits for the scheduler, so fast-check chooses how the hosts' operations interleave. */
function scheduled(backend: MemoryBackend, s: fc.Scheduler): IpamKv {
  const wrap =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      await s.schedule(Promise.resolve(), name);
      return fn(...a);
    };
  return {
    revision: wrap("revision", () => backend.revision()),
    get: wrap("get", (k: string) => backend.get(k)),
    list: wrap("list", (p: string) => backend.list(p)),
    create: wrap("create", (k: string, v: unknown) => backend.create(k, v)),
    update: wrap("update", (k: string, v: unknown, r?: number) => backend.update(k, v, r)),
    delete: wrap("delete", (k: string, r?: number) => backend.delete(k, r)),
    history: wrap("history", (p: string, r: number) => backend.history(p, r)),
  };
}

async function world(strictAffinity: boolean) {
  const backend = new MemoryBackend();
  let t = Date.parse("2026-01-02T03:04:05Z");
  // The clock moves 7 s per reading, so the one-minute reclaim rule is exercised too.
  const now = () => {
    t += 7000;
    return new Date(t);
  };
  const client = new ResourceClient(backend, { now });
  await client.ensureBuiltIns();
  const pool = (name: string, cidr: string, spec: Record<string, unknown>) =>
    client.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name },
      spec: { cidr, ...spec },
    });
  await pool("zone-a", WORKLOAD_POOL_OF_ZONE.a, { blockSize: 30, nodeSelector: "zone == 'a'" });
  await pool("zone-b", WORKLOAD_POOL_OF_ZONE.b, { blockSize: 30, nodeSelector: "zone == 'b'" });
  await pool("tunnels", "10.2.0.0/29", { blockSize: 30, allowedUses: ["Tunnel"] });
  await pool("off", "10.3.0.0/28", { blockSize: 30, disabled: true });
  for (const [h, zone] of Object.entries(HOSTS))
    await client.create({ apiVersion: "v1", kind: "Node", metadata: { name: h, labels: { zone } } });
  if (strictAffinity)
    await client.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPAMConfiguration",
      metadata: { name: "default" },
      spec: { strictAffinity: true },
    });
  return { backend, client, now };
}

type Step =
  | { op: "alloc"; n: number }
  | { op: "release"; pick: number }
  | { op: "releaseHandle"; pick: number };
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("alloc" as const), n: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("releaseHandle" as const), pick: fc.nat() }) },
);
const scripts = fc.record({
  a1: fc.array(step, { maxLength: 6 }),
  a1bis: fc.array(step, { maxLength: 4 }),
  a2: fc.array(step, { maxLength: 6 }),
  b1: fc.array(step, { maxLength: 4 }),
});

interface Held {
  ip: string;
  handle: string;
}

test("property: under any interleaving of several hosts, no address is held twice; all come from usable pools; releasing all empties the pools", async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), scripts, fc.boolean(), async (s, script, strict) => {
      const { backend, client, now } = await world(strict);
      const held: Record<Client, Held[]> = { a1: [], a1bis: [], a2: [], b1: [] };
      let handles = 0;
      const runClient = async (client: Client) => {
        const host = CLIENTS[client];
        const ipam = new Ipam(scheduled(backend, s), { now });
        for (const st of script[client]) {
          if (st.op === "alloc") {
            const handle = `${client}-${handles++}`;
            const r = await ipam.autoAssign({
              num4: st.n,
              hostname: host,
              handleId: handle,
              intendedUse: "Workload",
            });
            for (const ip of r.v4?.ips ?? []) held[client].push({ ip, handle });
          } else if (held[client].length > 0) {
            const [victim] = held[client].splice(st.pick % held[client].length, 1);
            if (st.op === "release") {
              const { unallocated } = await ipam.releaseIps([
                { address: victim!.ip, handle: victim!.handle },
              ]);
              assert.deepEqual(unallocated, [], `${victim!.ip} was still allocated`);
            } else {
              // Releasing by handle gives back every address of that handle.
              await ipam.releaseByHandle(victim!.handle);
              held[client] = held[client].filter((h) => h.handle !== victim!.handle);
            }
          }
        }
      };
      await s.waitFor(Promise.all((Object.keys(CLIENTS) as Client[]).map(runClient)));

      // 1. No address is held twice.
      const all = Object.values(held).flat();
      assert.equal(
        new Set(all.map((h) => h.ip)).size,
        all.length,
        `duplicate address: ${JSON.stringify(held)}`,
      );
      // 2. Each address is in an enabled Workload pool that selects its node.
      for (const c of Object.keys(CLIENTS) as Client[]) {
        const host: Host = CLIENTS[c];
        for (const h of held[c])
          assert.ok(
            cidrContainsIp(parseCidr(WORKLOAD_POOL_OF_ZONE[HOSTS[host]])!, parseIp(h.ip)!),
            `${c} (${host}) got ${h.ip}`,
          );
      }
      // 3. The store agrees exactly with what the clients hold.
      const plain = new Ipam(backend, { now });
      for (const h of all) assert.equal((await plain.getAssignmentAttributes(h.ip))?.handleId, h.handle);
      const blocks = await client.list(findKind("projectcalico.org/v3", "IPAMBlock")!);
      const allocated = blocks.reduce(
        (n, b) => n + b.spec.allocations.filter((a: number | null) => a !== null).length,
        0,
      );
      assert.equal(allocated, all.length);
      const handleObjs = await client.list(findKind("projectcalico.org/v3", "IPAMHandle")!);
      assert.deepEqual(
        handleObjs.map((h) => h.spec.handleID).sort(),
        [...new Set(all.map((h) => h.handle))].sort(),
        "exactly the live handles exist",
      );
      // 4. Releasing everything returns the pools to empty.
      await plain.releaseIps(all.map((h) => ({ address: h.ip })));
      for (const b of await client.list(findKind("projectcalico.org/v3", "IPAMBlock")!))
        assert.ok(
          b.spec.allocations.every((a: number | null) => a === null),
          `block ${b.spec.cidr} not empty`,
        );
      assert.deepEqual(await client.list(findKind("projectcalico.org/v3", "IPAMHandle")!), []);
      const usage = await plain.getUtilization();
      assert.ok(usage.every((p) => p.blocks.every((b) => b.available === b.capacity)));
    }),
    { numRuns: Number(process.env.IPAM_PROPERTY_RUNS ?? 150) },
  );
});

test("property: ipam check finds every leak the test plants and nothing else", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }),
      fc.uniqueArray(fc.nat({ max: 11 }), { maxLength: 6 }),
      fc.uniqueArray(fc.nat({ max: 11 }), { maxLength: 4 }),
      async (pods, leakedIps, orphanHandles) => {
        const { backend, client, now } = await world(false);
        const ipam = new Ipam(backend, { now });
        const weps = [];
        for (let i = 0; i < pods; i++) {
          const r = await ipam.autoAssign({
            num4: 1,
            hostname: "a1",
            handleId: `pod-${i}`,
            intendedUse: "Workload",
          });
          weps.push({ i, ip: r.v4!.ips[0]! });
        }
        // Plant leaks: an allocation whose workload is gone, and a handle whose addresses are gone.
        const leaked = new Set(leakedIps.filter((i) => i < pods));
        const handleKind = findKind("projectcalico.org/v3", "IPAMHandle")!;
        const orphans = new Set(orphanHandles.filter((i) => i < pods && !leaked.has(i)));
        for (const i of orphans) {
          const ip = weps[i]!.ip;
          // Remove the address from its block but keep the handle, as a crash between the two writes would.
          const blockKind = findKind("projectcalico.org/v3", "IPAMBlock")!;
          for (const b of await client.list(blockKind)) {
            const c = parseCidr(b.spec.cidr)!;
            const addr = parseIp(ip)!;
            if (!cidrContainsIp(c, addr)) continue;
            const ord = Number(addr.value - c.value);
            b.spec.allocations[ord] = null;
            b.spec.unallocated.push(ord);
            await client.update(b, { asController: true });
          }
        }
        const workloadEndpoints = weps
          .filter((w) => !leaked.has(w.i) && !orphans.has(w.i))
          .map((w) => ({
            apiVersion: "projectcalico.org/v3",
            kind: "WorkloadEndpoint",
            metadata: { namespace: "default", name: `wep-${w.i}` },
            spec: { pod: `pod-${w.i}`, ipNetworks: [`${w.ip}/32`] },
          }));
        const blocks = (await client.list(findKind("projectcalico.org/v3", "IPAMBlock")!)).map((b) => b.spec);
        const handles = (await client.list(handleKind)).map((h) => ({
          id: h.spec.handleID,
          uid: h.metadata.uid,
          revision: h.metadata.resourceVersion!,
        }));
        const pools = await client.list(findKind("projectcalico.org/v3", "IPPool")!);
        const result = checkIpam({
          blocks,
          pools,
          nodes: [],
          workloadEndpoints,
          pods: [],
          services: [],
          handles,
          showAllIps: false,
          showProblemIps: true,
          version: "test",
        });
        const leakedLines = result.lines.filter((l) => / leaked; attrs /.test(l));
        assert.equal(leakedLines.length, leaked.size);
        for (const i of leaked)
          assert.ok(result.lines.includes(`  ${weps[i]!.ip} leaked; attrs Main:pod-${i} Extra:`));
        assert.deepEqual(
          (result.report.leakedHandles ?? []).map((h) => h.ID).sort(),
          [...orphans].map((i) => `pod-${i}`).sort(),
        );
        assert.equal(result.problems, leaked.size + orphans.size);
        assert.ok(result.lines.includes(`Check complete; found ${leaked.size + orphans.size} problems.`));
        for (const ip of Object.keys(result.report.allocations))
          assert.equal(
            result.report.allocations[ip]![0]!.inUse,
            !weps.some((w) => w.ip === ip && leaked.has(w.i)),
          );
      },
    ),
    { numRuns: 60 },
  );
});
