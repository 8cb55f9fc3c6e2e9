/**
 * The sim dataplane against the analysis engine on every Kubernetes e2e NetworkPolicy probe: one sim cluster per
 * case (3 nodes, Felix's and kube-proxy's rules rendered from the case's objects), one packet exchange per probe.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type ProbeVia, simMatrixCells } from "../../src/agent/index.ts";
import type { ApiObject } from "../../src/api/index.ts";
import { buildPolicyModel, PolicyMatrix, protocolNumber } from "../../src/policy/index.ts";
import type { ModelPod } from "./netpol-model.ts";
import { modelObjects, modelTopology } from "./sim-case.ts";

interface Case {
  name: string;
  step: number | null;
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: ModelPod[];
  policies: ApiObject[];
  matrices: { port: number; protocol: string }[];
  probes: { from: string; to: string; port: number; protocol: string; expected: boolean }[];
}

const data: { cases: Case[] } = JSON.parse(
  readFileSync(new URL("../fixtures/policy/k8s_netpol_cases.json", import.meta.url), "utf8"),
);

function compare(via: ProbeVia): { probes: number; failures: string[]; allowed: number } {
  const failures: string[] = [];
  let probes = 0;
  let allowed = 0;
  for (const c of data.cases) {
    const topology = modelTopology();
    const objects = modelObjects(topology, c.namespaces, c.pods, c.policies);
    const ports = c.matrices.map((m) => ({ port: m.port, protocol: protocolNumber(m.protocol)! }));
    const key = (x: { from: string; to: string; port: number; protocol: string }) =>
      `${x.from} -> ${x.to} ${x.port}/${x.protocol}`;
    const analysis = new Map(
      new PolicyMatrix(buildPolicyModel(objects), ports).cellsList().map((x) => [key(x), x.allowed]),
    );
    const cells = simMatrixCells(objects, topology, {
      pods: c.pods.map((p) => `${p.namespace}/${p.name}`),
      ports,
      via,
    });
    const sim = new Map(cells.map((x) => [key(x), x.allowed]));
    assert.equal(sim.size, analysis.size);
    for (const probe of c.probes) {
      probes++;
      const k = key(probe);
      if (sim.get(k)) allowed++;
      if (sim.get(k) !== analysis.get(k) || sim.get(k) !== probe.expected)
        failures.push(
          `${c.name}${c.step !== null ? ` [step ${c.step}]` : ""}: ${k} sim ${sim.get(k)} analysis ${analysis.get(k)} upstream ${probe.expected}`,
        );
    }
  }
  return { probes, failures, allowed };
}

test("sim == analysis == upstream on all 5,265 e2e probes, through each pod's service as the suite probes", () => {
  const r = compare("service");
  assert.equal(r.probes, 5265);
  assert.deepEqual(r.failures.slice(0, 20), [], `${r.failures.length} probes disagree`);
  // Both verdicts occur in quantity, so the comparison is not all-allowed or all-denied.
  assert.ok(r.allowed > 500 && r.probes - r.allowed > 500, `${r.allowed} allowed`);
});

test("sim == analysis on all 5,265 e2e probes sent to pod IPs (a pod probing itself goes through its service)", () => {
  const r = compare("pod");
  assert.equal(r.probes, 5265);
  assert.deepEqual(r.failures.slice(0, 20), [], `${r.failures.length} probes disagree`);
});
