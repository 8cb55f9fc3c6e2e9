/** Cyclonus's static vectors (test/fixtures/policy/cyclonus_static_vectors.json; origin in test/fixtures/README.md). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { parseIp } from "../../src/net/index.ts";
import {
  buildPolicyModel,
  evaluateAt,
  evaluateFlow,
  type FlowEnd,
  PolicyIndex,
  PolicyMatrix,
  protocolNumber,
} from "../../src/policy/index.ts";
import { namespaceObject, podEndpoint } from "./netpol-model.ts";

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

/** One Cyclonus Traffic: internal peers become pods in their namespaces; the others are plain addresses. */
function judgeTraffic(policies: ApiObject[], t: Traffic): boolean {
  const protocol = protocolNumber(t.Protocol)!;
  const port = t.ResolvedPort ?? 8080;
  const objects: ApiObject[] = [...policies];
  const ends: FlowEnd[] = [];
  for (const [side, peer] of [
    ["src", t.Source],
    ["dst", t.Destination],
  ] as const) {
    if (!peer.Internal) {
      ends.push({ kind: "ip", ip: parseIp(peer.IP)! });
      continue;
    }
    const ns = peer.Internal.Namespace;
    if (!objects.some((o) => o.kind === "Namespace" && o.metadata.name === ns))
      objects.push(namespaceObject(ns, peer.Internal.NamespaceLabels ?? {}));
    objects.push(
      podEndpoint({
        namespace: ns,
        name: `${side}-pod`,
        labels: peer.Internal.PodLabels ?? {},
        ip: peer.IP,
        containerPorts:
          side === "dst" && t.ResolvedPortName
            ? [{ name: t.ResolvedPortName, containerPort: port, protocol: t.Protocol }]
            : [],
      }),
    );
    ends.push({ kind: "ip", ip: parseIp(peer.IP)! });
  }
  const index = new PolicyIndex(buildPolicyModel(objects));
  return evaluateFlow(index, { from: ends[0]!, to: ends[1]!, protocol, port }).allowed;
}

test("cyclonus query-traffic and matcher cases", () => {
  const simple = data.analyze_probe_simple_example.policies as ApiObject[];
  for (const c of data.analyze_query_traffic_simple_example.cases)
    assert.equal(judgeTraffic(simple, c.traffic), c.expected_allowed, JSON.stringify(c.traffic));
  for (const c of data.matcher_policy_tests.cases)
    assert.equal(judgeTraffic(c.policies, c.traffic), c.expected_allowed, c.name);
});

test("cyclonus probe tables for the simple example: ingress, egress and combined, ports 80 and 81", () => {
  const ex = data.analyze_probe_simple_example;
  const namespaces = Object.entries(ex.resources.Namespaces as Record<string, Record<string, string>>).map(
    ([n, l]) => namespaceObject(n, l),
  );
  // probe.json gives z's pods the addresses of y's. Calico matches peers by address (selector IP sets), so two
  // pods on one address would be indistinguishable; Cyclonus matches by pod. z gets addresses of its own here.
  const pods = (
    ex.resources.Pods as {
      Namespace: string;
      Name: string;
      Labels: Record<string, string>;
      IP: string;
      Containers: { Port: number; PortName: string; Protocol: string }[];
    }[]
  ).map((p, i) =>
    podEndpoint({
      namespace: p.Namespace,
      name: p.Name,
      labels: p.Labels,
      ip: p.Namespace === "z" ? `192.168.2.${i}` : p.IP,
      containerPorts: p.Containers.map((c) => ({
        name: c.PortName,
        containerPort: c.Port,
        protocol: c.Protocol,
      })),
    }),
  );
  const model = buildPolicyModel([...namespaces, ...pods, ...ex.policies]);
  const index = new PolicyIndex(model);
  const byLabel = (l: string) => model.endpoints.find((e) => `${e.namespace}/${e.pod}` === l)!;
  let cells = 0;
  for (const table of ex.probes.filter((t: { port: number }) => t.port !== 82)) {
    const ports = [{ port: table.port, protocol: protocolNumber(table.protocol)! }];
    const matrix = new PolicyMatrix(model, ports);
    for (const [from, row] of Object.entries(table.combined as Record<string, string>)) {
      for (const [i, to] of (table.columns as string[]).entries()) {
        const a = byLabel(from);
        const b = byLabel(to);
        const packet = { protocol: 6, src: a.ips[0]!, dst: b.ips[0]!, srcPort: 40000, dstPort: table.port };
        const ingress = evaluateAt(index, b, "ingress", "workload", packet, false).verdict === "allow";
        const egress = evaluateAt(index, a, "egress", "workload", packet, false).verdict === "allow";
        const where = `${from} -> ${to} ${table.port}`;
        assert.equal(ingress, table.ingress[from][i] === ".", `ingress ${where}`);
        assert.equal(egress, table.egress[from][i] === ".", `egress ${where}`);
        assert.equal(matrix.allowed(a.id, b.id, 0), row[i] === ".", `combined ${where}`);
        cells++;
      }
    }
  }
  assert.equal(cells, 162);
});

test("cyclonus ipBlock vectors: CIDRs with host bits, except clauses", () => {
  for (const v of data.ip_cidr_vectors.ip_in_ipblock as {
    ip: string;
    ipBlock: { cidr: string; except?: string[] };
    match: boolean;
  }[]) {
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
    assert.equal(judgeTraffic([policy], traffic), v.match, JSON.stringify(v));
  }
  for (const [ip, cidr, match] of data.ip_cidr_vectors.ip_in_cidr as [string, string, boolean][]) {
    const policy: ApiObject = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "to-cidr", namespace: "x" },
      spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr } }] }] },
    };
    const src = ip.includes(":") ? "fd00::1" : "10.0.0.1";
    const traffic: Traffic = {
      Source: { IP: src, Internal: { Namespace: "x", PodLabels: {}, NamespaceLabels: {} } },
      Destination: { IP: ip },
      Protocol: "TCP",
      ResolvedPort: 80,
    };
    assert.equal(judgeTraffic([policy], traffic), match, `${ip} in ${cidr}`);
  }
});

test("cyclonus label-selector vector and policy-assistant NetworkPolicy v1 cases", () => {
  for (const v of data.label_selector_vectors.cases) {
    const policy: ApiObject = {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "sel", namespace: "x" },
      spec: { podSelector: v.selector, policyTypes: ["Ingress"], ingress: [] },
    };
    const denied = !judgeTraffic([policy], {
      Source: { IP: "10.0.0.9" },
      Destination: { IP: "10.0.0.1", Internal: { Namespace: "x", PodLabels: v.labels, NamespaceLabels: {} } },
      Protocol: "TCP",
      ResolvedPort: 80,
    });
    assert.equal(denied, v.match);
  }
  for (const c of data.policy_assistant_netpol_v1_connectivity.cases) {
    const namespaces = (c.namespaces as string[]).map((n) => namespaceObject(n, { ns: n }));
    const pods = (c.namespaces as string[]).flatMap((ns, i) =>
      (c.pods as string[]).map((p, j) =>
        podEndpoint({
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
        }),
      ),
    );
    const model = buildPolicyModel([...namespaces, ...pods, ...c.policies]);
    const ports = (c.ports as number[]).flatMap((port) =>
      (c.protocols as string[]).map((p) => ({ port, protocol: protocolNumber(p)! })),
    );
    const matrix = new PolicyMatrix(model, ports);
    const blocked = new Set(
      [...(c.ingressExceptions_blocked ?? []), ...(c.ingressExceptions ?? [])].map((e: unknown[]) =>
        e.join(" "),
      ),
    );
    for (const a of model.endpoints)
      for (const b of model.endpoints) {
        // policy-assistant probes pod IPs; a pod reaching its own IP never leaves its network namespace, so policy
        // does not see it (the e2e vectors, probing through services, do assert those cells).
        if (a === b) continue;
        for (const [i, p] of ports.entries()) {
          const label = `${a.namespace}/${a.pod} ${b.namespace}/${b.pod} ${p.port} ${p.protocol === 6 ? "TCP" : "UDP"}`;
          const expected = c.defaultIngress === "allowed" ? !blocked.has(label) : false;
          assert.equal(matrix.allowed(a.id, b.id, i), expected, `${c.name}: ${label}`);
        }
      }
  }
});
