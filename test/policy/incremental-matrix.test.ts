import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ApiObject } from "../../src/api/index.ts";
import {
  buildPolicyModel,
  type Endpoint,
  k8sNetworkPolicyToCalico,
  type Policy,
  PolicyMatrix,
  type PolicyModel,
  sortPolicies,
  toPolicy,
} from "../../src/policy/index.ts";
import { namespaceObject, podEndpoint } from "./netpol-model.ts";

const apps = ["web", "db", "api"];
const ports = [
  { port: 80, protocol: 6 },
  { port: 5432, protocol: 6 },
];

const peer = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...apps).map((app) => ({ podSelector: { matchLabels: { app } } })),
  fc
    .constantFrom("a", "b")
    .map((ns) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } })),
  fc.constantFrom("10.0.1.0/24", "10.0.0.0/16").map((cidr) => ({ ipBlock: { cidr } })),
);
const rule = fc.record({
  peers: fc.array(peer, { maxLength: 2 }),
  port: fc.option(fc.constantFrom(80, 5432), { nil: undefined }),
});
const policySpec = fc.record({
  name: fc.constantFrom("p1", "p2", "p3"),
  namespace: fc.constantFrom("a", "b"),
  app: fc.option(fc.constantFrom(...apps), { nil: undefined }),
  ingress: fc.option(fc.array(rule, { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(rule, { maxLength: 2 }), { nil: undefined }),
});

type PolicySpec = typeof policySpec extends fc.Arbitrary<infer T> ? T : never;
type RuleSpec = typeof rule extends fc.Arbitrary<infer T> ? T : never;

function k8sPolicy(s: PolicySpec): ApiObject {
  const types = [...(s.ingress || !s.egress ? ["Ingress"] : []), ...(s.egress ? ["Egress"] : [])];
  const rules = (rs: RuleSpec[] | undefined, key: "from" | "to") =>
    (rs ?? []).map((r) => ({
      [key]: r.peers,
      ...(r.port ? { ports: [{ protocol: "TCP", port: r.port }] } : {}),
    }));
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      podSelector: s.app ? { matchLabels: { app: s.app } } : {},
      policyTypes: types,
      ingress: rules(s.ingress, "from"),
      egress: rules(s.egress, "to"),
    },
  };
}

const toModelPolicy = (o: ApiObject): Policy =>
  toPolicy(k8sNetworkPolicyToCalico(o), "KubernetesNetworkPolicy");

const change = fc.oneof(
  policySpec.map((p) => ({ kind: "policy" as const, p })),
  fc.record({
    kind: fc.constant("remove" as const),
    name: fc.constantFrom("p1", "p2", "p3"),
    namespace: fc.constantFrom("a", "b"),
  }),
  fc.record({ kind: fc.constant("label" as const), pod: fc.nat(11), app: fc.constantFrom(...apps, "batch") }),
);

function freshAgrees(matrix: PolicyMatrix, model: PolicyModel, pods: Endpoint[]): void {
  const fresh = new PolicyMatrix(model, ports, pods);
  for (const a of pods)
    for (const b of pods)
      for (let i = 0; i < ports.length; i++)
        assert.equal(
          matrix.allowed(a.id, b.id, i),
          fresh.allowed(a.id, b.id, i),
          `${a.id} -> ${b.id} ${ports[i]!.port}`,
        );
}

test("incremental recomputation after policy and label changes equals a fresh matrix", () => {
  fc.assert(
    fc.property(
      fc.array(policySpec, { maxLength: 3 }),
      fc.array(change, { minLength: 1, maxLength: 6 }),
      (initial, changes) => {
        const objects: ApiObject[] = [
          namespaceObject("a", { "kubernetes.io/metadata.name": "a" }),
          namespaceObject("b", { "kubernetes.io/metadata.name": "b" }),
        ];
        for (let i = 0; i < 12; i++)
          objects.push(
            podEndpoint({
              namespace: i < 6 ? "a" : "b",
              name: `pod${i}`,
              labels: { app: apps[i % 3]! },
              ip: `10.0.${i % 2}.${10 + i}`,
              containerPorts: [],
            }),
          );
        const byKey = new Map<string, Policy>();
        for (const s of initial) byKey.set(`${s.namespace}/${s.name}`, toModelPolicy(k8sPolicy(s)));
        let model = buildPolicyModel(objects);
        model = { ...model, policies: sortPolicies([...byKey.values()]) };
        let pods = model.endpoints.filter((e) => e.kind === "workload");
        const matrix = new PolicyMatrix(model, ports, pods);
        for (const c of changes) {
          if (c.kind === "label") {
            const old = pods[c.pod]!;
            const next: Endpoint = { ...old, labels: { ...old.labels, app: c.app } };
            matrix.updateEndpoint(next);
            pods = pods.map((p) => (p.id === next.id ? next : p));
            model = { ...model, endpoints: model.endpoints.map((e) => (e.id === next.id ? next : e)) };
          } else {
            const key = c.kind === "policy" ? `${c.p.namespace}/${c.p.name}` : `${c.namespace}/${c.name}`;
            const previous = byKey.get(key);
            const next = c.kind === "policy" ? toModelPolicy(k8sPolicy(c.p)) : undefined;
            if (!previous && !next) continue;
            matrix.updatePolicy(previous, next);
            if (next) byKey.set(key, next);
            else byKey.delete(key);
            model = { ...model, policies: sortPolicies([...byKey.values()]) };
          }
          freshAgrees(matrix, model, pods);
        }
      },
    ),
    { numRuns: 60 },
  );
});
