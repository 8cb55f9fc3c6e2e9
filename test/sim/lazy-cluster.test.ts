/**
 * The lazy cluster (namespaces built on demand, BGP's routes replayed from the last full run) against the full
 * build (every namespace, BGP run over TCP 179) on the same store and the same saved state: `ip route`,
 * `iptables-save -c`, `ip neigh` and `conntrack -L` on every host, a few curls, and the state each leaves.
 * Scenarios: the lab with YAO Bank, the lab with the mesh off and a route reflector (bgp-mesh), seed 000 (host1's
 * BIRD 2 peering with every node, an external pool).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { runSimCommand, SimCluster, type SimHostState } from "../../src/agent/index.ts";
import type { CliContext } from "../../src/cli/context.ts";
import { readSimInputs } from "../../src/cli/exec.ts";
import { loadSimState } from "../../src/cli/sim-state-files.ts";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { ok, podFromWide, wait } from "../scenarios/bgp-helpers.ts";

const harnesses: CliHarness[] = [];
after(() => {
  for (const h of harnesses) h.cleanup();
});

function ctxOf(h: CliHarness): CliContext {
  return h.silentContext();
}

/** Both clusters, opened as a command would open them now (same store, same saved state, same clock). */
async function pair(h: CliHarness): Promise<{ full: SimCluster; lazy: SimCluster }> {
  const ctx = ctxOf(h);
  const { topology, objects } = await readSimInputs(ctx);
  const wall = h.now.getTime();
  return {
    full: new SimCluster(objects, topology, loadSimState(h.stateDir, ctx), wall),
    lazy: new SimCluster(objects, topology, loadSimState(h.stateDir, ctx), wall, { lazy: true }),
  };
}

function run(c: SimCluster, target: string, command: string[]): string {
  const k = c.kernel(target);
  assert.ok(k, `no namespace ${target}`);
  const r = runSimCommand(c, k, command);
  return `${r.code}\n${r.stdout}\n${r.stderr}`;
}

/** The same commands on both clusters; the lazy one must answer as the full one, and leave the same state. */
async function compare(
  h: CliHarness,
  commands: [string, string[]][],
  expectBgp: "cached" | "full",
): Promise<void> {
  // Traffic first, on a fresh pair: the lazy cluster builds only what the packets reach.
  const a = await pair(h);
  assert.equal(a.lazy.bgpMode, expectBgp);
  assert.deepEqual(a.lazy.unsupported, a.full.unsupported);
  assert.deepEqual(a.lazy.warnings, a.full.warnings);
  for (const [target, command] of commands)
    assert.equal(
      run(a.lazy, target, command),
      run(a.full, target, command),
      `${target}: ${command.join(" ")}`,
    );
  const lazyState = a.lazy.state();
  const fullState = a.full.state();
  assert.deepEqual(
    { now: lazyState.global.now, rng: lazyState.global.rngState },
    { now: fullState.global.now, rng: fullState.global.rngState },
  );
  assert.deepEqual(lazyState.global.bgp?.fingerprint, fullState.global.bgp?.fingerprint);
  assert.deepEqual(lazyState.global.notes, fullState.global.notes);
  assert.deepEqual(lazyState.logs, fullState.logs);
  const plain = (s: SimHostState | undefined) => JSON.parse(JSON.stringify(s ?? null));
  for (const [host, s] of lazyState.hosts)
    assert.deepEqual(plain(s), plain(fullState.hosts.get(host)), `${host}'s saved state`);
  // Then every host, on another fresh pair.
  const b = await pair(h);
  for (const host of b.full.topology.hosts)
    for (const command of [
      ["ip", "route"],
      ["iptables-save", "-c"],
      ["ip", "neigh"],
      ["conntrack", "-L"],
    ])
      assert.equal(
        run(b.lazy, host.name, command),
        run(b.full, host.name, command),
        `${host.name}: ${command.join(" ")}`,
      );
}

test("lab with YAO Bank: the lazy cluster answers as the full build, before and after traffic", async () => {
  const h = new CliHarness();
  harnesses.push(h);
  assert.equal((await h.run("up --app yaobank")).code, 0);
  wait(h, 60);
  const customer = podFromWide(await ok(h, "kubectl get pods -n yaobank -o wide"), "customer-");
  const database = podFromWide(await ok(h, "kubectl get pods -n yaobank -o wide"), "database-");
  const curls: [string, string[]][] = [
    ["host1", ["curl", "-s", "198.19.0.1:30180"]],
    [`yaobank/${customer.name}`, ["curl", "-s", `http://${database.ip}:2379/v2/keys`]],
    ["node1", ["ping", "-c", "1", database.ip]],
  ];
  await compare(h, curls, "cached");
  for (let i = 0; i < 3; i++) await ok(h, "exec host1 -- curl -s 198.19.0.1:30180");
  wait(h, 5);
  await compare(h, curls, "cached");
  // A namespaced policy cannot change BGP (it applies to pods only): the outcome is replayed, Felix's rules change.
  await ok(
    h,
    "kubectl apply -f -",
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: database-only-summary\n  namespace: yaobank\nspec:\n  podSelector:\n    matchLabels: {app: database}\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {app: summary}\n",
  );
  await compare(h, curls, "cached");
  // A BGPPeer changes BGP's inputs: the lazy cluster runs BGP in full again, with the same outcome.
  await ok(
    h,
    "calicoctl apply -f -",
    "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: to-host1\nspec:\n  peerIP: 198.19.0.254\n  asNumber: 64512\n",
  );
  await compare(h, curls, "full");
  // Its session waits out BIRD's connect delay from its creation: the outcome holds until then, not after.
  await ok(h, "exec host1 -- curl -s 198.19.0.1:30180");
  const horizon = JSON.parse(readFileSync(join(h.stateDir, "sim-state.json"), "utf8")).bgp.horizon as number;
  assert.ok(horizon > 0, "a pending connect delay sets the horizon");
  await compare(h, curls, "cached");
  wait(h, 10);
  await compare(h, curls, "full");
  await ok(h, "exec host1 -- curl -s 198.19.0.1:30180");
  await compare(h, curls, "cached");
});

test("lab with the mesh off and node1 as route reflector: cached routes equal the full run's", async () => {
  const h = new CliHarness();
  harnesses.push(h);
  assert.equal((await h.run("up --app yaobank")).code, 0);
  wait(h, 60);
  await ok(h, `calicoctl patch bgpconfig default -p '{"spec": {"nodeToNodeMeshEnabled": false}}'`);
  await ok(h, `calicoctl patch node node1 -p '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'`);
  await ok(h, "kubectl label node node1 route-reflector=true");
  await ok(
    h,
    "calicoctl apply -f -",
    "kind: BGPPeer\napiVersion: projectcalico.org/v3\nmetadata:\n  name: peer-with-route-reflectors\nspec:\n  nodeSelector: all()\n  peerSelector: has(route-reflector)\n",
  );
  const database = podFromWide(await ok(h, "kubectl get pods -n yaobank -o wide"), "database-");
  const cmds: [string, string[]][] = [["node1", ["ping", "-c", "1", database.ip]]];
  // The store changed since the last command: BGP runs in full.
  await compare(h, cmds, "full");
  await ok(h, "exec node1 -- ip route");
  await compare(h, cmds, "cached");
  wait(h, 30);
  await compare(h, cmds, "cached");
});

test("seed 000: host1's BIRD 2 and every node's, replayed from the cache", async () => {
  const h = new CliHarness();
  harnesses.push(h);
  assert.equal((await h.run("up --topology seed000 --app yaobank")).code, 0);
  await ok(
    h,
    "calicoctl apply -f -",
    "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: bgppeer-global-host1\nspec:\n  peerIP: 10.0.0.20\n  asNumber: 64512\n",
  );
  wait(h, 60);
  // Seed 000 A: the cluster IP range advertised, host1 learns it with ECMP over the three nodes.
  await ok(
    h,
    "calicoctl apply -f -",
    "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\nspec:\n  serviceClusterIPs:\n  - cidr: 10.49.0.0/16\n",
  );
  wait(h, 10);
  const ip = (await h.store().get(controlKinds.Service, "customer", "yaobank"))!.spec.clusterIP as string;
  assert.match(await ok(h, `exec host1 -- curl -s ${ip}`), /YAO Bank/);
  await compare(h, [["host1", ["curl", "-s", ip]]], "cached");
});
