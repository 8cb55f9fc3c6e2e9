import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  findKind,
  jsonPatch,
  mergePatch,
  parseManifests,
  prepareObject,
  resolveCalicoctlResource,
  resolveKubectlResource,
  strategicMergePatch,
  threeWayMerge,
} from "./index.ts";

const prepare = (yaml: string) => {
  const [e] = parseManifests(yaml, "t.yaml");
  return prepareObject(findKind(e!.object.apiVersion, e!.object.kind)!, e!.object);
};

test("every object in the YAO Bank manifest decodes, defaults and validates", () => {
  const text = readFileSync(new URL("../../test/fixtures/lab/yaobank.yaml", import.meta.url), "utf8");
  const entries = parseManifests(text, "yaobank.yaml");
  assert.equal(entries.length, 10);
  for (const e of entries) prepareObject(findKind(e.object.apiVersion, e.object.kind)!, e.object);
  const svc = entries.find((e) => e.object.kind === "Service" && e.object.metadata.name === "customer")!;
  const prepared = prepareObject(findKind("v1", "Service")!, svc.object);
  assert.equal(prepared.spec.externalTrafficPolicy, "Cluster");
  assert.equal(prepared.spec.ports[0].targetPort, 80);
  assert.equal(svc.line, 119);
  assert.deepEqual(svc.locate(["spec", "ports", 0, "nodePort"]), { line: 130, column: 15 });
});

test("IPPool defaults and Calico's validation rules", () => {
  const pool = prepare(
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 198.19.24.0/21, blockSize: 29, nodeSelector: '!all()'}",
  );
  assert.equal(pool.spec.ipipMode, "Never");
  assert.deepEqual(pool.spec.allowedUses, ["Workload", "Tunnel"]);
  assert.throws(
    () =>
      prepare(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/8, ipipMode: Always, vxlanMode: Always}",
      ),
    /IPIP and VXLAN modes cannot both be enabled/,
  );
  assert.throws(
    () =>
      prepare(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/33}",
      ),
    /spec.cidr: invalid CIDR/,
  );
  assert.throws(
    () =>
      prepare(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/8, nodeSelector: 'a = b'}",
      ),
    /error with field NodeSelector = .a = b. \(Reason: failed to validate Field: NodeSelector because of Tag: selector \)/,
  );
  assert.throws(
    () =>
      prepare(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/8, bogus: 1}",
      ),
    /spec.bogus: unknown field/,
  );
});

test("GlobalNetworkPolicy: types default, preDNAT rules", () => {
  const gnp = prepare(
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {selector: all(), egress: [{action: Allow}]}",
  );
  assert.deepEqual(gnp.spec.types, ["Egress"]);
  assert.throws(
    () =>
      prepare(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {preDNAT: true, applyOnForward: true, egress: [{action: Allow}]}",
      ),
    /PreDNAT PolicySpec cannot have any Egress/,
  );
});

test("YAML errors carry line and column", () => {
  assert.throws(
    () => parseManifests("a: b\n  c: d: e\n", "bad.yaml"),
    /^ParseError: bad.yaml:\d+:\d+: invalid YAML/,
  );
  assert.throws(() => parseManifests("kind: IPPool\n", "x.yaml"), /x.yaml:1: resource has no apiVersion/);
});

test("resource names as kubectl and calicoctl spell them", () => {
  assert.equal(resolveKubectlResource("svc")?.kind, "Service");
  assert.equal(resolveKubectlResource("ServiceAccount")?.kind, "ServiceAccount");
  assert.equal(resolveKubectlResource("installation.operator.tigera.io")?.kind, "Installation");
  assert.equal(resolveKubectlResource("netpol")?.group, "networking.k8s.io");
  assert.equal(resolveCalicoctlResource("BGPConfig")?.kind, "BGPConfiguration");
  assert.equal(resolveCalicoctlResource("heps")?.kind, "HostEndpoint");
  assert.equal(resolveCalicoctlResource("node")?.group, "projectcalico.org");
  assert.equal(resolveCalicoctlResource("svc"), undefined);
});

test("merge, JSON and strategic patches", () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }), { a: 1, b: { d: 3 } });
  assert.deepEqual(
    jsonPatch({ a: [1, 2] }, [
      { op: "add", path: "/a/-", value: 3 },
      { op: "remove", path: "/a/0" },
    ]),
    { a: [2, 3] },
  );
  assert.throws(() => jsonPatch({}, [{ op: "remove", path: "/x" }]), /does not exist/);
  const live = { spec: { ports: [{ port: 80, nodePort: 30180, name: "http" }] } };
  assert.deepEqual(strategicMergePatch("Service", live, { spec: { ports: [{ port: 80, name: "web" }] } }), {
    spec: { ports: [{ port: 80, nodePort: 30180, name: "web" }] },
  });
  // Re-applying a manifest keeps what controllers assigned and drops what the user removed.
  const merged = threeWayMerge(
    "Service",
    { spec: { type: "NodePort", externalIPs: ["1.1.1.1"], ports: [{ port: 80 }] } },
    { spec: { type: "NodePort", ports: [{ port: 80 }] } },
    {
      spec: {
        type: "NodePort",
        clusterIP: "10.0.0.1",
        externalIPs: ["1.1.1.1"],
        ports: [{ port: 80, nodePort: 31000 }],
      },
    },
  );
  assert.deepEqual(merged, {
    spec: { type: "NodePort", clusterIP: "10.0.0.1", ports: [{ port: 80, nodePort: 31000 }] },
  });
});
