import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { buildPolicyModel, PolicyMatrix, protocolNumber } from "../../src/policy/index.ts";
import { type ModelPod, namespaceObject, podEndpoint } from "./netpol-model.ts";

interface Case {
  name: string;
  step: number | null;
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: ModelPod[];
  policies: ApiObject[];
  matrices: { port: number; protocol: string }[];
  probes: {
    from: string;
    to: string;
    port: number;
    protocol: string;
    expected: boolean;
    loopback: boolean;
  }[];
}

const data: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/policy/k8s_netpol_cases.json", import.meta.url), "utf8"),
);

test("the fixture holds the 59 upstream cases and 5,265 probes", () => {
  assert.equal(data.cases.length, 59);
  assert.equal(
    data.cases.reduce((n, c) => n + c.probes.length, 0),
    5265,
  );
});

test("every Kubernetes NetworkPolicy e2e probe gets the upstream verdict (loopback cells included)", () => {
  const failures: string[] = [];
  let probes = 0;
  for (const c of data.cases) {
    const objects = [
      ...c.namespaces.map((n) => namespaceObject(n.name, n.labels)),
      ...c.pods.map(podEndpoint),
      ...c.policies,
    ];
    const model = buildPolicyModel(objects);
    const ports = c.matrices.map((m) => ({ port: m.port, protocol: protocolNumber(m.protocol)! }));
    const matrix = new PolicyMatrix(model, ports);
    const id = (p: string) => {
      const [ns, pod] = p.split("/");
      return model.endpoints.find((e) => e.namespace === ns && e.pod === pod)!.id;
    };
    for (const probe of c.probes) {
      probes++;
      const i = ports.findIndex(
        (p) => p.port === probe.port && p.protocol === protocolNumber(probe.protocol),
      );
      const got = matrix.allowed(id(probe.from), id(probe.to), i);
      if (got !== probe.expected)
        failures.push(
          `${c.name}${c.step !== null ? ` [step ${c.step}]` : ""}: ${probe.from} -> ${probe.to} ${probe.port}/${probe.protocol} expected ${probe.expected}`,
        );
    }
  }
  assert.equal(probes, 5265);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} probes disagree`);
});
