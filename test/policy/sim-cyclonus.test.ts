/**
 * Cyclonus's static vectors on the sim dataplane: each traffic is a packet exchange between namespaces the sim
 * programs from the vector's objects, and its verdict must equal the analysis engine's and the vector's.
 * IPv6 vectors are left out: the sim dataplane is IPv4 only.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  emptySimState,
  SimCluster,
  serveProbedPorts,
  simMatrixCells,
  simProbe,
} from "../../src/agent/index.ts";
import type { ApiObject } from "../../src/api/index.ts";
import { parseIpv4 } from "../../src/dataplane/sim/index.ts";
import { parseIp } from "../../src/net/index.ts";
import {
  buildPolicyModel,
  evaluateFlow,
  PolicyIndex,
  PolicyMatrix,
  protocolNumber,
} from "../../src/policy/index.ts";
import type { ModelPod } from "./netpol-model.ts";
import { externalPeer, modelObjects, modelTopology } from "./sim-case.ts";

// biome-ignore lint/suspicious/noExplicitAny: the vectors are free-form JSON
const data: any = JSON.parse(
  readFileSync(new URL("../fixtures/policy/cyclonus_static_vectors.json", import.meta.url), "utf8"),
).datasets;

interface Peer {
  IP: string;
  Internal?: {
    Namespace: string;
    PodLabels: Record<string, string> | null;
    NamespaceLabels: Record<string, string> | null;
  };
}

interface Traffic {
  Source: Peer;
  Destination: Peer;
  Protocol: string;
  ResolvedPort?: number;
  ResolvedPortName?: string;
}

/** One traffic judged twice, on the same objects: by the analysis and by a packet through the sim. */
function judge(policies: ApiObject[], t: Traffic): { analysis: boolean; sim: boolean; why: string } {
  const protocol = protocolNumber(t.Protocol)!;
  const port = t.ResolvedPort ?? 8080;
  const namespaces: { name: string; labels: Record<string, string> }[] = [];
  const pods: ModelPod[] = [];
  for (const [side, peer] of [
    ["src", t.Source],
    ["dst", t.Destination],
  ] as const) {
    if (!peer.Internal) continue;
    const ns = peer.Internal.Namespace;
    if (!namespaces.some((n) => n.name === ns))
      namespaces.push({ name: ns, labels: peer.Internal.NamespaceLabels ?? {} });
    pods.push({
      namespace: ns,
      name: `${side}-pod`,
      labels: peer.Internal.PodLabels ?? {},
      ip: peer.IP,
      containerPorts:
        side === "dst" && t.ResolvedPortName
          ? [{ name: t.ResolvedPortName, containerPort: port, protocol: t.Protocol }]
          : [],
    });
  }
  const topology = modelTopology();
  const objects = modelObjects(topology, namespaces, pods, policies);
  const index = new PolicyIndex(buildPolicyModel(objects));
  const analysis = evaluateFlow(index, {
    from: { kind: "ip", ip: parseIp(t.Source.IP)! },
    to: { kind: "ip", ip: parseIp(t.Destination.IP)! },
    protocol,
    port,
  }).allowed;
  const cluster = new SimCluster(objects, topology, emptySimState());
  const place = (side: "src" | "dst", peer: Peer) =>
    peer.Internal
      ? cluster.kernel(`${peer.Internal.Namespace}/${side}-pod`)!
      : externalPeer(cluster, topology, objects, peer.IP);
  const client = place("src", t.Source);
  serveProbedPorts(place("dst", t.Destination), "dst", [{ port, protocol }]);
  const r = simProbe(cluster, client, parseIpv4(t.Destination.IP)!, { port, protocol });
  return { analysis, sim: r.ok, why: r.ok ? "connected" : r.error };
}

function check(policies: ApiObject[], t: Traffic, expected: boolean, name: string): void {
  const r = judge(policies, t);
  assert.equal(r.analysis, expected, `analysis: ${name}`);
  assert.equal(r.sim, expected, `sim (${r.why}): ${name}`);
}

test("cyclonus query-traffic and matcher cases, as packets (external peers behind the router)", () => {
  const simple = data.analyze_probe_simple_example.policies as ApiObject[];
  let n = 0;
  for (const c of data.analyze_query_traffic_simple_example.cases) {
    check(simple, c.traffic, c.expected_allowed, JSON.stringify(c.traffic));
    n++;
  }
  for (const c of data.matcher_policy_tests.cases) {
    check(c.policies, c.traffic, c.expected_allowed, c.name);
    n++;
  }
  assert.equal(n, 10);
});

test("cyclonus ipBlock vectors (IPv4): egress to outside addresses by CIDR and except", () => {
  let n = 0;
  const cases: { ip: string; ipBlock: { cidr: string; except?: string[] }; match: boolean }[] = [
    ...data.ip_cidr_vectors.ip_in_ipblock,
    ...(data.ip_cidr_vectors.ip_in_cidr as [string, string, boolean][]).map(([ip, cidr, match]) => ({
      ip,
      ipBlock: { cidr },
      match,
    })),
  ];
  for (const v of cases) {
    if (v.ip.includes(":")) continue;
    const policy: ApiObject = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "to-block", namespace: "x" },
      spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: v.ipBlock }] }] },
    };
    const traffic: Traffic = {
      Source: { IP: "10.0.0.1", Internal: { Namespace: "x", PodLabels: {}, NamespaceLabels: {} } },
      Destination: { IP: v.ip },
      Protocol: "TCP",
      ResolvedPort: 80,
    };
    check([policy], traffic, v.match, JSON.stringify(v));
    n++;
  }
  assert.equal(n, 11);
});

test("cyclonus label-selector vector: an ingress policy selecting the pod drops an outside client", () => {
  assert.equal(data.label_selector_vectors.cases.length, 1);
  for (const v of data.label_selector_vectors.cases) {
    const policy: ApiObject = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "sel", namespace: "x" },
      spec: { podSelector: v.selector, policyTypes: ["Ingress"], ingress: [] },
    };
    const traffic: Traffic = {
      Source: { IP: "10.0.0.9" },
      Destination: { IP: "10.0.0.1", Internal: { Namespace: "x", PodLabels: v.labels, NamespaceLabels: {} } },
      Protocol: "TCP",
      ResolvedPort: 80,
    };
    check([policy], traffic, !v.match, JSON.stringify(v));
  }
});

function compareMatrices(objects: ApiObject[], pods: string[], ports: { port: number; protocol: number }[]) {
  const topology = modelTopology();
  const key = (c: { from: string; to: string; port: number; protocol: string }) =>
    `${c.from} -> ${c.to} ${c.port}/${c.protocol}`;
  const analysis = new Map(
    new PolicyMatrix(buildPolicyModel(objects), ports).cellsList().map((c) => [key(c), c.allowed]),
  );
  const sim = simMatrixCells(objects, topology, { pods, ports });
  assert.equal(sim.length, analysis.size);
  return { analysis, sim: new Map(sim.map((c) => [key(c), c.allowed])), key };
}

test("cyclonus probe tables for the simple example (combined ingress and egress, ports 80 and 81)", () => {
  const ex = data.analyze_probe_simple_example;
  const namespaces = Object.entries(ex.resources.Namespaces as Record<string, Record<string, string>>).map(
    ([name, labels]) => ({ name, labels }),
  );
  // As in cyclonus-vectors.test.ts: z's pods get addresses of their own (probe.json reuses y's).
  const pods: ModelPod[] = (
    ex.resources.Pods as {
      Namespace: string;
      Name: string;
      Labels: Record<string, string>;
      IP: string;
      Containers: { Port: number; PortName: string; Protocol: string }[];
    }[]
  ).map((p, i) => ({
    namespace: p.Namespace,
    name: p.Name,
    labels: p.Labels,
    ip: p.Namespace === "z" ? `192.168.2.${i}` : p.IP,
    containerPorts: p.Containers.map((c) => ({
      name: c.PortName,
      containerPort: c.Port,
      protocol: c.Protocol,
    })),
  }));
  const topology = modelTopology();
  const objects = modelObjects(topology, namespaces, pods, ex.policies);
  let cells = 0;
  for (const table of ex.probes.filter((t: { port: number }) => t.port !== 82)) {
    const ports = [{ port: table.port, protocol: protocolNumber(table.protocol)! }];
    const { analysis, sim, key } = compareMatrices(
      objects,
      pods.map((p) => `${p.namespace}/${p.name}`),
      ports,
    );
    for (const [from, row] of Object.entries(table.combined as Record<string, string>))
      for (const [i, to] of (table.columns as string[]).entries()) {
        const k = key({ from, to, port: table.port, protocol: table.protocol });
        const expected = row[i] === ".";
        assert.equal(analysis.get(k), expected, `analysis ${k}`);
        // Cyclonus probes pod IPs: a pod's own IP never leaves it, so its cell is the sim's service-hairpin one.
        assert.equal(sim.get(k), analysis.get(k), `sim ${k}`);
        if (from !== to) assert.equal(sim.get(k), expected, `sim vs cyclonus ${k}`);
        cells++;
      }
  }
  assert.equal(cells, 162);
});

test("policy-assistant NetworkPolicy v1 connectivity cases (TCP and UDP matrices)", () => {
  assert.equal(data.policy_assistant_netpol_v1_connectivity.cases.length, 2);
  for (const c of data.policy_assistant_netpol_v1_connectivity.cases) {
    const namespaces = (c.namespaces as string[]).map((n) => ({ name: n, labels: { ns: n } }));
    const pods: ModelPod[] = (c.namespaces as string[]).flatMap((ns, i) =>
      (c.pods as string[]).map((p, j) => ({
        namespace: ns,
        name: p,
        labels: { pod: p },
        ip: `10.1.${i}.${j + 10}`,
        containerPorts: (c.ports as number[]).flatMap((port) =>
          (c.protocols as string[]).map((proto) => ({
            name: `serve-${port}-${proto.toLowerCase()}`,
            containerPort: port,
            protocol: proto,
          })),
        ),
      })),
    );
    const ports = (c.ports as number[]).flatMap((port) =>
      (c.protocols as string[]).map((p) => ({ port, protocol: protocolNumber(p)! })),
    );
    const topology = modelTopology();
    const objects = modelObjects(topology, namespaces, pods, c.policies);
    const { analysis, sim } = compareMatrices(
      objects,
      pods.map((p) => `${p.namespace}/${p.name}`),
      ports,
    );
    const blocked = new Set(
      [...(c.ingressExceptions_blocked ?? []), ...(c.ingressExceptions ?? [])].map((e: unknown[]) =>
        e.join(" "),
      ),
    );
    for (const [k, allowed] of sim) {
      assert.equal(allowed, analysis.get(k), `${c.name}: sim ${k}`);
      const [from, , to, port] = k.split(" ");
      if (from === to) continue;
      const [num, proto] = port!.split("/");
      const expected = c.defaultIngress === "allowed" ? !blocked.has(`${from} ${to} ${num} ${proto}`) : false;
      assert.equal(allowed, expected, `${c.name}: sim vs policy-assistant ${k}`);
    }
  }
});
