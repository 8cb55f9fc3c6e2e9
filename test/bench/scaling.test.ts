import assert from "node:assert/strict";
import { test } from "node:test";
import {
  host1Bird,
  parseScalingCases,
  reflectorResources,
  SCALING_POLICY,
  scalingTopology,
  workerAddress,
} from "../../bench/scaling.ts";
import { hostBirdError } from "../../src/agent/index.ts";
import { findKind, prepareObject } from "../../src/api/index.ts";

const topologyKind = findKind("tortie.dev/v1", "Topology")!;

interface Host {
  name: string;
  address: string;
  role: string;
  labels?: Record<string, string>;
  bird?: string;
}

function hostsOf(t: Record<string, unknown>): Host[] {
  return (t.spec as { hosts: Host[] }).hosts;
}

test("scaling topologies are valid Topologies: control, N − 2 workers, host1 with a BIRD the sim parses", () => {
  for (const n of [3, 4, 50, 200, 1000]) {
    for (const bgp of ["mesh", "reflectors"] as const) {
      const t = scalingTopology(n, bgp);
      prepareObject(topologyKind, t as never);
      const hosts = hostsOf(t);
      assert.equal(hosts.length, n);
      assert.equal(hosts[0]!.name, "control");
      assert.equal(hosts.filter((h) => h.role === "worker").length, n - 2);
      const host1 = hosts[n - 1]!;
      assert.equal(host1.name, "host1");
      assert.equal(host1.role, "external");
      assert.equal(new Set(hosts.map((h) => h.address.split("/")[0])).size, n, "addresses are unique");
      if (n <= 50) assert.equal(hostBirdError(host1.bird!), undefined);
      const peers = host1.bird!.match(/^protocol bgp /gm)?.length ?? 0;
      assert.equal(peers, bgp === "mesh" ? n - 1 : 1);
      assert.equal(hosts[0]!.labels?.["route-reflector"], bgp === "reflectors" ? "true" : undefined);
    }
  }
});

test("worker addresses stay in 198.19.0.0/16, skip the network, broadcast and control's address", () => {
  const seen = new Set<string>();
  for (let i = 1; i <= 2000; i++) {
    const a = workerAddress(i);
    const [p, q, r, s] = a.split(".").map(Number);
    assert.equal(`${p}.${q}`, "198.19");
    assert.ok(r! >= 0 && r! < 255 && s! >= 1 && s! <= 254, a);
    assert.notEqual(a, "198.19.0.1");
    assert.ok(!seen.has(a), `duplicate ${a}`);
    seen.add(a);
  }
  assert.equal(workerAddress(1), "198.19.0.2");
  assert.throws(() => workerAddress(0), /out of range/);
});

test("host1's BIRD names a protocol per peer with its address", () => {
  const text = host1Bird([{ name: "node-7", ip: "198.19.0.8" }]);
  assert.match(text, /protocol bgp node_7 \{\n {2}local as 64512;\n {2}neighbor 198\.19\.0\.8 as 64512;/);
  assert.equal(hostBirdError(text), undefined);
});

test("the applied resources are the kinds the commands expect", () => {
  assert.deepEqual(
    reflectorResources().map((o) => `${o.kind}/${(o.metadata as { name: string }).name}`),
    ["BGPConfiguration/default", "BGPPeer/peer-with-route-reflectors"],
  );
  prepareObject(findKind("networking.k8s.io/v1", "NetworkPolicy")!, SCALING_POLICY as never);
});

test("scaling cases parse, with the mesh by default, and bad ones are refused in one line", () => {
  assert.deepEqual(parseScalingCases("4, 200:reflectors,50:mesh"), [
    { hosts: 4, bgp: "mesh" },
    { hosts: 200, bgp: "reflectors" },
    { hosts: 50, bgp: "mesh" },
  ]);
  assert.throws(() => parseScalingCases("2"), /hosts must be an integer ≥ 3/);
  assert.throws(() => parseScalingCases("10:ring"), /BGP must be mesh or reflectors, got "ring"/);
  assert.throws(() => scalingTopology(2, "mesh"), /at least 3 hosts/);
});
