/**
 * Differential test of the matrix's fast path: with no host endpoints, `podToPodVerdict` (the source's egress
 * and the destination's ingress, nothing else) must give `evaluateFlow`'s answer and make the same checks, for
 * every pod pair and port, under random Kubernetes and Calico policies (tiers with Pass, Deny and Log, global
 * policies, notSelectors, named ports, network sets, CIDRs, pods on different nodes). And where host endpoints
 * exist, the fast path must not be taken.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ApiObject } from "../../src/api/index.ts";
import {
  buildPolicyModel,
  evaluateFlow,
  PolicyIndex,
  PolicyMatrix,
  podPacket,
  podToPodApplies,
  podToPodVerdict,
} from "../../src/policy/index.ts";
import { namespaceObject, podEndpoint } from "./netpol-model.ts";

const APPS = ["web", "db", "api"];
const PORTS = [
  { port: 80, protocol: 6 },
  { port: 5432, protocol: 6 },
  { port: 53, protocol: 17 },
];

const selector = fc.constantFrom(
  "all()",
  "app == 'web'",
  "app in {'db', 'api'}",
  "app != 'db'",
  "projectcalico.org/namespace == 'a'",
  "has(app) && !has(missing)",
  "role == 'ops'",
);
const entity = fc.record(
  {
    selector,
    notSelector: selector,
    nets: fc.constantFrom(["10.0.0.0/24"], ["10.0.1.0/24", "192.168.0.0/16"]),
    notNets: fc.constantFrom(["10.0.0.12/32"]),
    ports: fc.constantFrom([80], [5432, "http"], ["1000:6000"], [53]),
  },
  { requiredKeys: [] },
);
const calicoRule = fc.record({
  action: fc.constantFrom("Allow", "Deny", "Pass", "Log"),
  protocol: fc.option(fc.constantFrom("TCP", "UDP"), { nil: undefined }),
  source: entity,
  destination: entity,
});
const calicoPolicy = fc.record({
  global: fc.boolean(),
  tier: fc.constantFrom("default", "security"),
  order: fc.integer({ min: 1, max: 1000 }),
  selector,
  ingress: fc.option(fc.array(calicoRule, { maxLength: 3 }), { nil: undefined }),
  egress: fc.option(fc.array(calicoRule, { maxLength: 3 }), { nil: undefined }),
});
const k8sPeer = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...APPS).map((app) => ({ podSelector: { matchLabels: { app } } })),
  fc.constantFrom("a", "b").map((ns) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
  })),
  fc.constant({ ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] } }),
);
const k8sPolicy = fc.record({
  namespace: fc.constantFrom("a", "b"),
  app: fc.option(fc.constantFrom(...APPS), { nil: undefined }),
  ingress: fc.option(fc.array(fc.array(k8sPeer, { maxLength: 2 }), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(fc.array(k8sPeer, { maxLength: 2 }), { maxLength: 2 }), { nil: undefined }),
  port: fc.option(fc.constantFrom(80, "http"), { nil: undefined }),
});

type CalicoPolicy = typeof calicoPolicy extends fc.Arbitrary<infer T> ? T : never;
type K8sPolicy = typeof k8sPolicy extends fc.Arbitrary<infer T> ? T : never;

function calicoObject(p: CalicoPolicy, i: number): ApiObject {
  const types = [...(p.ingress ? ["Ingress"] : []), ...(p.egress ? ["Egress"] : [])];
  const name = `${p.tier}.c${i}`;
  // Ports need a protocol that has them.
  const rules = (rs: CalicoPolicy["ingress"]) =>
    (rs ?? []).map((r) =>
      r.source.ports || r.destination.ports ? { ...r, protocol: r.protocol ?? "TCP" } : r,
    );
  return {
    apiVersion: "projectcalico.org/v3",
    kind: p.global ? "GlobalNetworkPolicy" : "NetworkPolicy",
    metadata: p.global ? { name } : { name, namespace: "a" },
    spec: {
      tier: p.tier,
      order: p.order,
      selector: p.selector,
      types: types.length > 0 ? types : ["Ingress"],
      ingress: rules(p.ingress),
      egress: rules(p.egress),
    },
  };
}

function k8sObject(p: K8sPolicy, i: number): ApiObject {
  const rules = (peers: unknown[][] | undefined, key: "from" | "to") =>
    (peers ?? []).map((ps) => ({
      [key]: ps,
      ...(p.port !== undefined ? { ports: [{ protocol: "TCP", port: p.port }] } : {}),
    }));
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: `k${i}`, namespace: p.namespace },
    spec: {
      podSelector: p.app ? { matchLabels: { app: p.app } } : {},
      policyTypes: [...(p.ingress || !p.egress ? ["Ingress"] : []), ...(p.egress ? ["Egress"] : [])],
      ingress: rules(p.ingress, "from"),
      egress: rules(p.egress, "to"),
    },
  };
}

function cluster(): ApiObject[] {
  const objects: ApiObject[] = [
    namespaceObject("a", { "kubernetes.io/metadata.name": "a" }),
    namespaceObject("b", { "kubernetes.io/metadata.name": "b" }),
    {
      apiVersion: "projectcalico.org/v3",
      kind: "Tier",
      metadata: { name: "security" },
      spec: { order: 100 },
    },
    {
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: "partners", labels: { role: "ops" } },
      spec: { nets: ["10.0.1.0/24"] },
    },
  ];
  for (let i = 0; i < 10; i++)
    objects.push(
      podEndpoint({
        namespace: i < 5 ? "a" : "b",
        name: `pod${i}`,
        labels: i === 9 ? { role: "ops" } : { app: APPS[i % 3]! },
        ip: `10.0.${i % 2}.${10 + i}`,
        node: `node${i % 3}`,
        containerPorts: i % 2 === 0 ? [{ name: "http", containerPort: 80, protocol: "TCP" }] : [],
      }),
    );
  return objects;
}

test("pod-to-pod verdicts without host endpoints equal evaluateFlow's, and so does the matrix", () => {
  fc.assert(
    fc.property(
      fc.array(calicoPolicy, { maxLength: 4 }),
      fc.array(k8sPolicy, { maxLength: 3 }),
      (calico, k8s) => {
        const model = buildPolicyModel([...cluster(), ...calico.map(calicoObject), ...k8s.map(k8sObject)]);
        const index = new PolicyIndex(model);
        const pods = model.endpoints.filter((e) => e.kind === "workload");
        const matrix = new PolicyMatrix(model, PORTS);
        for (const a of pods)
          for (const b of pods) {
            assert.ok(podToPodApplies(index, a, b));
            const packet = podPacket(a, b);
            for (const [i, port] of PORTS.entries()) {
              packet.protocol = port.protocol;
              packet.dstPort = port.port;
              const fast = podToPodVerdict(index, a, b, packet);
              const flow = evaluateFlow(
                index,
                { from: { kind: "endpoint", endpoint: a }, to: { kind: "endpoint", endpoint: b }, ...port },
                false,
              );
              const cell = `${a.id} -> ${b.id} ${port.port}/${port.protocol}`;
              assert.equal(fast === 2, flow.allowed, cell);
              assert.equal(fast === 0 ? 1 : 2, flow.paths[0]!.checks.length, `${cell}: checks`);
              assert.equal(matrix.allowed(a.id, b.id, i), flow.allowed, `${cell}: matrix`);
            }
          }
      },
    ),
    { numRuns: 40 },
  );
});

test("with a host endpoint the fast path is not taken", () => {
  const model = buildPolicyModel([
    ...cluster(),
    {
      apiVersion: "projectcalico.org/v3",
      kind: "HostEndpoint",
      metadata: { name: "node0-eth0", labels: { host: "yes" } },
      spec: { node: "node0", interfaceName: "eth0", expectedIPs: ["192.168.0.10"] },
    },
  ]);
  const index = new PolicyIndex(model);
  const pods = model.endpoints.filter((e) => e.kind === "workload");
  assert.equal(podToPodApplies(index, pods[0]!, pods[1]!), false);
});
