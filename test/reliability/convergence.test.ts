// Property: the controllers converge from ANY prefix of their own writes. A pass is killed after k of its store
// writes (every later write fails, as in a process killed by SIGKILL), then a fresh controller run (a new
// process: new Ipam, no caches) must settle within the round cap and leave: `ipam check` clean, every pod
// Running with exactly one address, no address shared, no orphan handle or WorkloadEndpoint, and each
// ReplicaSet at its replica count.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ApiObject } from "../../src/api/index.ts";
import {
  BUILT_IN_TOPOLOGIES,
  bootstrapCluster,
  controlKinds as kinds,
  reconcileCluster,
  serviceAllocation,
} from "../../src/control/index.ts";
import { Ipam } from "../../src/ipam/index.ts";
import { TortieError } from "../../src/lib/index.ts";
import { MemoryBackend, ResourceClient, type StoredValue, type WriteHints } from "../../src/store/index.ts";
import { assertConverged } from "./converged.ts";

const NOW = new Date("2026-01-02T03:04:05Z");
const now = () => NOW;
const SEED = Number(process.env.TORTIE_PROPERTY_SEED ?? 160216);
const RUNS = Number(process.env.TORTIE_PROPERTY_RUNS ?? 100);

class Killed extends Error {
  constructor() {
    super("killed");
  }
}

/** A memory store whose writes start failing for good after `budget` more of them: a process killed mid-run. */
class KillableBackend extends MemoryBackend {
  budget = Number.POSITIVE_INFINITY;
  writes = 0;
  private spend(): void {
    if (this.writes >= this.budget) throw new Killed();
    this.writes++;
  }
  override async create(key: string, value: unknown, hints?: WriteHints): Promise<StoredValue> {
    this.spend();
    return super.create(key, value, hints);
  }
  override async update(key: string, value: unknown, rev?: number, hints?: WriteHints): Promise<StoredValue> {
    this.spend();
    return super.update(key, value, rev, hints);
  }
  override async delete(key: string, rev?: number): Promise<StoredValue> {
    this.spend();
    return super.delete(key, rev);
  }
}

type Op =
  | { op: "scale"; deployment: number; replicas: number }
  | { op: "run"; name: number }
  | { op: "deletePod"; index: number }
  | { op: "deleteDeployment"; deployment: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("scale" as const),
    deployment: fc.integer({ min: 0, max: 1 }),
    replicas: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ op: fc.constant("run" as const), name: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ op: fc.constant("deletePod" as const), index: fc.nat({ max: 20 }) }),
  fc.record({ op: fc.constant("deleteDeployment" as const), deployment: fc.integer({ min: 0, max: 1 }) }),
);

function deployment(i: number, replicas: number): ApiObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: `web${i}`, namespace: "default" },
    spec: {
      replicas,
      selector: { matchLabels: { app: `web${i}` } },
      template: {
        metadata: { labels: { app: `web${i}` } },
        spec: { containers: [{ name: "nginx", image: "nginx" }] },
      },
    },
  };
}

async function world() {
  const backend = new KillableBackend();
  const client = new ResourceClient(backend, { now }).use(serviceAllocation);
  await bootstrapCluster(client, structuredClone(BUILT_IN_TOPOLOGIES.lab!), NOW);
  await client.create(deployment(0, 3));
  await settle(client);
  return { backend, client };
}

function settle(client: ResourceClient) {
  return reconcileCluster(client, new Ipam(client.backend, { now }), now);
}

/** The user's change, made before the controllers run (never killed: it is the acknowledged write). */
async function apply(client: ResourceClient, op: Op): Promise<void> {
  if (op.op === "scale") {
    const live = await client.get(kinds.Deployment, `web${op.deployment}`, "default");
    if (live) await client.update({ ...live, spec: { ...live.spec, replicas: op.replicas } });
    else await client.create(deployment(op.deployment, op.replicas));
  } else if (op.op === "run") {
    if (!(await client.get(kinds.Pod, `solo${op.name}`, "default")))
      await client.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `solo${op.name}`, namespace: "default", labels: { run: `solo${op.name}` } },
        spec: { containers: [{ name: "c", image: "busybox" }] },
      });
  } else if (op.op === "deletePod") {
    const pods = await client.list(kinds.Pod, "default");
    const p = pods[op.index % Math.max(1, pods.length)];
    if (p) await client.delete(kinds.Pod, p.metadata.name!, "default");
  } else {
    const live = await client.get(kinds.Deployment, `web${op.deployment}`, "default");
    if (live) await client.delete(kinds.Deployment, live.metadata.name!, "default");
  }
}

test("controllers converge from any prefix of their own writes (fast-check, seeded)", async () => {
  let cases = 0;
  let killed = 0;
  let maxRounds = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 3 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.boolean(),
      async (ops, where, twice) => {
        // A dry run counts the writes the controllers make for this change, so k lands inside them.
        const dry = await world();
        for (const op of ops) await apply(dry.client, op);
        const before = dry.backend.writes;
        await settle(dry.client);
        const total = dry.backend.writes - before;

        const { backend, client } = await world();
        for (const op of ops) await apply(client, op);
        const label = `ops=${JSON.stringify(ops)} kill at ${Math.floor(where * total)} of ${total}`;
        backend.budget = backend.writes + Math.floor(where * total);
        let died = false;
        try {
          await settle(client);
        } catch (e) {
          if (!(e instanceof Killed)) throw e;
          died = true;
        }
        if (died && twice) {
          // Killed again part-way through the recovery run.
          backend.budget = backend.writes + Math.floor(where * total * 0.5);
          try {
            await settle(client);
          } catch (e) {
            if (!(e instanceof Killed)) throw e;
          }
        }
        backend.budget = Number.POSITIVE_INFINITY;
        cases++;
        if (died) killed++;
        const { rounds } = await settle(client);
        maxRounds = Math.max(maxRounds, rounds);
        const again = await settle(client);
        assert.equal(again.writes, 0, `${label}: a settled cluster still writes`);
        await assertConverged(client, label);
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
  );
  console.log(
    `convergence property: seed ${SEED}, ${cases} cases, ${killed} killed mid-pass, max ${maxRounds} rounds to settle`,
  );
});

test("every kill point of scale-up, scale-down, run and delete converges (exhaustive)", async () => {
  const scenarios: Op[][] = [
    [{ op: "scale", deployment: 0, replicas: 7 }],
    [{ op: "scale", deployment: 0, replicas: 0 }],
    [{ op: "run", name: 0 }],
    [
      { op: "deleteDeployment", deployment: 0 },
      { op: "scale", deployment: 1, replicas: 2 },
    ],
  ];
  let points = 0;
  for (const ops of scenarios) {
    const dry = await world();
    for (const op of ops) await apply(dry.client, op);
    const before = dry.backend.writes;
    await settle(dry.client);
    const total = dry.backend.writes - before;
    for (let k = 0; k < total; k++) {
      const { backend, client } = await world();
      for (const op of ops) await apply(client, op);
      backend.budget = backend.writes + k;
      await assert.rejects(settle(client), Killed);
      backend.budget = Number.POSITIVE_INFINITY;
      const label = `ops=${JSON.stringify(ops)} killed after ${k} of ${total} writes`;
      await settle(client).catch((e) => assert.fail(`${label}: ${(e as Error).message}`));
      await assertConverged(client, label);
      points++;
    }
  }
  console.log(`convergence exhaustive: ${scenarios.length} scenarios, ${points} kill points`);
});

test("a pass cut short by a racing writer (Conflict, AlreadyExists, NotFound) is re-run, not reported", async () => {
  for (const code of ["Conflict", "AlreadyExists", "NotFound"] as const) {
    for (const at of [0, 3, 9]) {
      const { backend, client } = await world();
      await apply(client, { op: "scale", deployment: 0, replicas: 6 });
      // The at-th controller write loses to "another process": it fails once with the code a race gives.
      const start = backend.writes;
      const update = backend.update.bind(backend);
      let raced = false;
      backend.update = async (...args: Parameters<typeof update>) => {
        if (!raced && backend.writes - start >= at) {
          raced = true;
          throw new TortieError(code, `raced (${code})`);
        }
        return update(...args);
      };
      const result = await settle(client);
      assert.ok(raced, `${code} at ${at}: the race happened`);
      assert.ok(result.rounds <= 20);
      await assertConverged(client, `${code} at write ${at}`);
    }
  }
});

test("LoadBalancer addresses converge from every kill point: one address per service, none leaked", async () => {
  const services: ApiObject[] = ["lb1", "lb2"].map((name, i) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: {
      type: "LoadBalancer",
      selector: { app: "web0" },
      ports: [{ port: 80 }],
      // lb2 pins its address: a retry must not fail on the address its own killed try took.
      ...(i === 1 ? { loadBalancerIP: "203.0.113.77" } : {}),
    },
  }));
  const change = async (client: ResourceClient) => {
    await client.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: "lb-pool" },
      spec: { cidr: "203.0.113.0/24", allowedUses: ["LoadBalancer"], blockSize: 26 },
    });
    for (const s of services) await client.create(structuredClone(s));
  };
  const dry = await world();
  await change(dry.client);
  const before = dry.backend.writes;
  await settle(dry.client);
  const total = dry.backend.writes - before;
  for (let k = 0; k < total; k++) {
    const { backend, client } = await world();
    await change(client);
    backend.budget = backend.writes + k;
    await assert.rejects(settle(client), Killed);
    backend.budget = Number.POSITIVE_INFINITY;
    const label = `LoadBalancer services killed after ${k} of ${total} writes`;
    await settle(client).catch((e) => assert.fail(`${label}: ${(e as Error).message}`));
    await assertConverged(client, label);
    const ipam = new Ipam(client.backend, { now });
    for (const s of services) {
      const live = await client.get(kinds.Service, s.metadata.name!, "default");
      const ingress = (live?.status?.loadBalancer?.ingress ?? []).map((i: { ip: string }) => i.ip);
      assert.equal(ingress.length, 1, `${label}: ${s.metadata.name} has ingress ${ingress}`);
      if (s.spec.loadBalancerIP) assert.deepEqual(ingress, [s.spec.loadBalancerIP], label);
      assert.deepEqual(await ipam.ipsByHandle(`lb.default.${s.metadata.name}`), ingress, label);
    }
  }
});
