/**
 * Calico features the Kubernetes vectors do not reach (tiers and Pass, named ports, negations, network sets,
 * service accounts, port ranges and long port lists, Log, profiles, HTTP matches), each as a whole matrix over
 * nine pods on three nodes: the sim's packets must agree with the analysis engine cell by cell.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { simMatrixCells } from "../../src/agent/index.ts";
import type { ApiObject } from "../../src/api/index.ts";
import { buildPolicyModel, PolicyMatrix } from "../../src/policy/index.ts";
import type { ModelPod } from "./netpol-model.ts";
import { modelObjects, modelTopology } from "./sim-case.ts";

const NAMESPACES = ["x", "y", "z"].map((name) => ({
  name,
  labels: { "kubernetes.io/metadata.name": name, team: name === "z" ? "ops" : "dev" },
}));

const PODS: ModelPod[] = NAMESPACES.flatMap((ns, i) =>
  ["a", "b", "c"].map((p, j) => ({
    namespace: ns.name,
    name: p,
    labels: { pod: p, tier: j === 0 ? "front" : "back" },
    ip: `10.${i + 1}.0.${j + 10}`,
    serviceAccount: j === 2 ? "robot" : "default",
    containerPorts: [
      { name: "http", containerPort: 80, protocol: "TCP" },
      { name: "alt", containerPort: 81, protocol: "TCP" },
      { name: "dns", containerPort: 80, protocol: "UDP" },
    ],
  })),
);

const PORTS = [
  { port: 80, protocol: 6 },
  { port: 81, protocol: 6 },
  { port: 80, protocol: 17 },
  { port: 80, protocol: 132 },
];

function gnp(name: string, spec: Record<string, unknown>): ApiObject {
  return { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name }, spec };
}

function np(namespace: string, name: string, spec: Record<string, unknown>): ApiObject {
  return { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name, namespace }, spec };
}

function serviceAccounts(): ApiObject[] {
  return NAMESPACES.flatMap((ns) =>
    ["default", "robot"].map((sa) => ({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: sa, namespace: ns.name, labels: { role: sa === "robot" ? "automation" : "person" } },
    })),
  );
}

function agree(extra: ApiObject[]): {
  allowed: number;
  denied: number;
  cell: (k: string) => boolean | undefined;
} {
  const topology = modelTopology();
  const objects = [...modelObjects(topology, NAMESPACES, PODS, extra), ...serviceAccounts()];
  const key = (c: { from: string; to: string; port: number; protocol: string }) =>
    `${c.from} -> ${c.to} ${c.port}/${c.protocol}`;
  const analysis = new PolicyMatrix(buildPolicyModel(objects), PORTS).cellsList();
  const sim = simMatrixCells(objects, topology, {
    pods: PODS.map((p) => `${p.namespace}/${p.name}`),
    ports: PORTS,
  });
  assert.deepEqual(sim.map(key), analysis.map(key));
  const diff = sim
    .filter((c, i) => c.allowed !== analysis[i]!.allowed)
    .map((c) => `${key(c)} sim ${c.allowed}`);
  assert.deepEqual(diff, [], "cells where the sim and the analysis disagree");
  const allowed = sim.filter((c) => c.allowed).length;
  const cells = new Map(sim.map((c) => [key(c), c.allowed]));
  return { allowed, denied: sim.length - allowed, cell: (k) => cells.get(k) };
}

test("tiers: Pass to the next tier, a tier whose default action is Pass, and Deny before Allow by order", () => {
  const r = agree([
    {
      apiVersion: "projectcalico.org/v3",
      kind: "Tier",
      metadata: { name: "security" },
      spec: { order: 100 },
    },
    {
      apiVersion: "projectcalico.org/v3",
      kind: "Tier",
      metadata: { name: "platform" },
      spec: { order: 200, defaultAction: "Pass" },
    },
    gnp("security.pass-dev", {
      tier: "security",
      order: 10,
      selector: "all()",
      types: ["Ingress"],
      ingress: [
        { action: "Pass", source: { namespaceSelector: "team == 'dev'" } },
        { action: "Deny", protocol: "UDP" },
        { action: "Allow", protocol: "TCP", destination: { ports: [80] } },
      ],
    }),
    gnp("platform.only-front", {
      tier: "platform",
      selector: "tier == 'back'",
      types: ["Ingress"],
      ingress: [
        {
          action: "Deny",
          protocol: "TCP",
          source: { selector: "tier == 'front'" },
          destination: { ports: [81] },
        },
      ],
    }),
    np("x", "default.deny-c", {
      tier: "default",
      order: 5,
      selector: "pod == 'c'",
      types: ["Ingress"],
      ingress: [{ action: "Deny", protocol: "TCP", source: { selector: "pod == 'b'" } }, { action: "Allow" }],
    }),
  ]);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});

test("named ports, port ranges, long port lists and notPorts", () => {
  const many = Array.from({ length: 20 }, (_, i) => 1000 + i * 3);
  const r = agree([
    np("x", "named", {
      selector: "all()",
      types: ["Ingress"],
      ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: ["http"] } }],
    }),
    np("y", "ranges", {
      selector: "all()",
      types: ["Ingress"],
      ingress: [
        { action: "Allow", protocol: "TCP", destination: { ports: [...many, "79:80"] } },
        { action: "Allow", protocol: "UDP", destination: { notPorts: [81, "82:90"] } },
      ],
    }),
    np("z", "named-egress", {
      selector: "pod == 'a'",
      types: ["Egress"],
      egress: [
        { action: "Allow", protocol: "TCP", destination: { selector: "tier == 'back'", ports: ["alt", 80] } },
      ],
    }),
  ]);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});

test("negations: notSelector, notNets, notProtocol; nets matching pod addresses", () => {
  const r = agree([
    np("x", "negate", {
      selector: "all()",
      types: ["Ingress", "Egress"],
      ingress: [
        { action: "Allow", notProtocol: "UDP", source: { notSelector: "pod == 'b'" } },
        { action: "Allow", protocol: "UDP", source: { nets: ["10.2.0.0/16"], notNets: ["10.2.0.11/32"] } },
      ],
      egress: [{ action: "Allow", destination: { notNets: ["10.3.0.12/32"] } }],
    }),
  ]);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});

test("network sets, service accounts, namespace selectors in global policy, Log and HTTP rules", () => {
  const r = agree([
    {
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: "trusted", labels: { trust: "yes" } },
      spec: { nets: ["10.1.0.10/32", "10.3.0.0/24"] },
    },
    {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkSet",
      metadata: { name: "local-trusted", namespace: "y", labels: { trust: "local" } },
      spec: { nets: ["10.2.0.12/32"] },
    },
    gnp("by-set", {
      order: 10,
      selector: "projectcalico.org/namespace == 'y'",
      types: ["Ingress"],
      ingress: [
        { action: "Log" },
        { action: "Allow", protocol: "TCP", http: { methods: ["GET"] } },
        { action: "Allow", source: { selector: "trust == 'yes'" } },
      ],
    }),
    np("y", "local-set", {
      order: 5,
      selector: "pod == 'a'",
      types: ["Ingress"],
      ingress: [{ action: "Allow", source: { selector: "trust == 'local'" } }],
    }),
    gnp("robots", {
      order: 20,
      namespaceSelector: "team == 'ops'",
      serviceAccountSelector: "role == 'automation'",
      types: ["Egress"],
      egress: [{ action: "Deny", destination: { namespaceSelector: "team == 'dev'" } }, { action: "Allow" }],
    }),
    gnp("to-robots", {
      order: 30,
      selector: "projectcalico.org/namespace == 'x'",
      types: ["Ingress"],
      ingress: [{ action: "Allow", source: { serviceAccounts: { names: ["robot"] } } }],
    }),
  ]);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});

test("Kubernetes endPort, ipBlock except over pod addresses, and named ports across protocols", () => {
  const k8s = (namespace: string, name: string, spec: Record<string, unknown>): ApiObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace },
    spec,
  });
  const r = agree([
    k8s("x", "endport", {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ ports: [{ protocol: "TCP", port: 81, endPort: 90 }] }],
    }),
    k8s("y", "except", {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/24", "10.3.0.11/32"] } }] }],
    }),
    k8s("z", "named", {
      podSelector: { matchLabels: { pod: "b" } },
      policyTypes: ["Ingress"],
      ingress: [{ ports: [{ port: "dns", protocol: "UDP" }, { port: "http" }] }],
    }),
  ]);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});

test("host endpoints on every node: forward policy (applyOnForward), pre-DNAT and untracked policy between pods", () => {
  const heps: ApiObject[] = modelTopology()
    .hosts.filter((h) => h.role !== "external")
    .map((h) => ({
      apiVersion: "projectcalico.org/v3",
      kind: "HostEndpoint",
      metadata: { name: `${h.name}-auto-hep`, labels: { "kubernetes.io/hostname": h.name, node: h.name } },
      // Felix applies untracked policy only to host endpoints that name their interface: node3's does.
      spec: {
        node: h.name,
        interfaceName: h.name === "node3" ? h.interface : "*",
        expectedIPs: [h.ip],
        profiles: ["projectcalico-default-allow"],
      },
    }));
  const r = agree([
    ...heps,
    gnp("forward-81", {
      order: 10,
      selector: "has(kubernetes.io/hostname)",
      applyOnForward: true,
      types: ["Ingress", "Egress"],
      ingress: [
        { action: "Deny", protocol: "TCP", source: { nets: ["10.1.0.0/16"] }, destination: { ports: [81] } },
        { action: "Allow" },
      ],
      egress: [
        { action: "Deny", protocol: "UDP", destination: { nets: ["10.3.0.0/16"] } },
        { action: "Allow" },
      ],
    }),
    gnp("pre-dnat", {
      order: 5,
      selector: "node == 'node2'",
      applyOnForward: true,
      preDNAT: true,
      types: ["Ingress"],
      ingress: [{ action: "Deny", protocol: "SCTP", source: { nets: ["10.3.0.0/16"] } }],
    }),
    gnp("untracked", {
      order: 1,
      selector: "node == 'node3'",
      applyOnForward: true,
      doNotTrack: true,
      types: ["Ingress"],
      ingress: [
        { action: "Deny", protocol: "TCP", source: { nets: ["10.2.0.10/32"] }, destination: { ports: [80] } },
      ],
    }),
  ]);
  // Each policy decides some cell: untracked on node3, forward ingress/egress, pre-DNAT on node2.
  assert.equal(r.cell("y/a -> z/b 80/TCP"), false);
  assert.equal(r.cell("y/b -> z/b 80/TCP"), true);
  assert.equal(r.cell("x/a -> y/a 81/TCP"), false);
  assert.equal(r.cell("z/a -> y/a 81/TCP"), true);
  assert.equal(r.cell("x/a -> z/a 80/UDP"), false);
  assert.equal(r.cell("z/a -> y/a 80/SCTP"), false);
  assert.equal(r.cell("z/a -> x/a 80/SCTP"), true);
  assert.ok(r.allowed > 0 && r.denied > 0, JSON.stringify(r));
});
