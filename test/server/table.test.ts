import assert from "node:assert/strict";
import { test } from "node:test";
import { type ApiObject, type KindDef, resolveKubectlResource } from "../../src/api/index.ts";
import { kubectlTable } from "../../src/cli/kubectl-tables.ts";
import { type Table, toTable } from "../../src/server/index.ts";

const now = new Date("2026-01-01T12:00:00Z");
const created = "2026-01-01T11:55:00Z";

function kind(name: string): KindDef {
  const def = resolveKubectlResource(name);
  assert.ok(def, `no kind ${name}`);
  return def;
}

const pod: ApiObject = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "customer-1",
    namespace: "yaobank",
    creationTimestamp: created,
    labels: { app: "customer" },
  },
  spec: { nodeName: "node1", containers: [{ name: "customer", image: "yaobank/customer" }] },
  status: {
    phase: "Running",
    podIP: "10.48.0.5",
    containerStatuses: [{ name: "customer", ready: true, restartCount: 2 }],
  },
};

const columnsOf = (t: Table) => t.columnDefinitions.map((c) => [c.name, c.type, c.format, c.priority]);

test("a pod's Table: the API server's column names and priorities, cells as tortie prints them", () => {
  const table = toTable(kind("pods"), [pod], { now, resourceVersion: "42" });
  assert.equal(table.kind, "Table");
  assert.equal(table.apiVersion, "meta.k8s.io/v1");
  assert.deepEqual(table.metadata, { resourceVersion: "42" });
  assert.deepEqual(columnsOf(table), [
    ["Name", "string", "name", 0],
    ["Ready", "string", "", 0],
    ["Status", "string", "", 0],
    ["Restarts", "string", "", 0],
    ["Age", "string", "", 0],
    ["IP", "string", "", 1],
    ["Node", "string", "", 1],
    ["Nominated Node", "string", "", 1],
    ["Readiness Gates", "string", "", 1],
  ]);
  for (const c of table.columnDefinitions) assert.ok(c.description.length > 0, `${c.name} has a description`);
  assert.deepEqual(table.rows[0]!.cells, [
    "customer-1",
    "1/1",
    "Running",
    "2",
    "5m",
    "10.48.0.5",
    "node1",
    "<none>",
    "<none>",
  ]);
});

test("includeObject: PartialObjectMetadata by default, the whole object, or none", () => {
  const def = kind("pods");
  assert.deepEqual(toTable(def, [pod], { now }).rows[0]!.object, {
    kind: "PartialObjectMetadata",
    apiVersion: "meta.k8s.io/v1",
    metadata: pod.metadata,
  });
  assert.equal(toTable(def, [pod], { now, includeObject: "Object" }).rows[0]!.object, pod);
  assert.equal("object" in toTable(def, [pod], { now, includeObject: "None" }).rows[0]!, false);
});

test("kubectl's printing of the Table: upper-cased headers, wide columns only with -o wide, NAMESPACE, -L, labels", () => {
  const def = kind("pods");
  assert.deepEqual(kubectlTable(def, [pod], { wide: false, withNamespace: false, now }), [
    ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    ["customer-1", "1/1", "Running", "2", "5m"],
  ]);
  assert.deepEqual(
    kubectlTable(def, [pod], {
      wide: true,
      withNamespace: true,
      now,
      showLabels: true,
      labelColumns: ["app"],
    }),
    [
      [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
        "APP",
        "LABELS",
      ],
      [
        "yaobank",
        "customer-1",
        "1/1",
        "Running",
        "2",
        "5m",
        "10.48.0.5",
        "node1",
        "<none>",
        "<none>",
        "customer",
        "app=customer",
      ],
    ],
  );
});

test("services: ports, external IPs and the wide selector", () => {
  const svc: ApiObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "customer", namespace: "yaobank", creationTimestamp: created },
    spec: {
      type: "NodePort",
      clusterIP: "10.96.0.10",
      ports: [{ port: 80, nodePort: 30180, protocol: "TCP" }],
      selector: { app: "customer" },
    },
  };
  const table = toTable(kind("svc"), [svc], { now });
  assert.deepEqual(
    columnsOf(table).map(([n]) => n),
    ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
  );
  assert.deepEqual(table.rows[0]!.cells, [
    "customer",
    "NodePort",
    "10.96.0.10",
    "<none>",
    "80:30180/TCP",
    "5m",
    "app=customer",
  ]);
  assert.deepEqual(kubectlTable(kind("svc"), [svc], { wide: false, withNamespace: false, now })[0], [
    "NAME",
    "TYPE",
    "CLUSTER-IP",
    "EXTERNAL-IP",
    "PORT(S)",
    "AGE",
  ]);
});

test("deployments: integer counts, template columns in wide", () => {
  const deploy: ApiObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "customer", namespace: "yaobank", creationTimestamp: created },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "customer" } },
      template: { spec: { containers: [{ name: "customer", image: "yaobank/customer" }] } },
    },
    status: { readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 },
  };
  const table = toTable(kind("deploy"), [deploy], { now });
  assert.deepEqual(columnsOf(table), [
    ["Name", "string", "name", 0],
    ["Ready", "string", "", 0],
    ["Up-to-date", "integer", "", 0],
    ["Available", "integer", "", 0],
    ["Age", "string", "", 0],
    ["Containers", "string", "", 1],
    ["Images", "string", "", 1],
    ["Selector", "string", "", 1],
  ]);
  assert.deepEqual(table.rows[0]!.cells, [
    "customer",
    "1/2",
    2,
    1,
    "5m",
    "customer",
    "yaobank/customer",
    "app=customer",
  ]);
  assert.deepEqual(kubectlTable(kind("deploy"), [deploy], { wide: true, withNamespace: false, now }), [
    ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
    ["customer", "1/2", "2", "1", "5m", "customer", "yaobank/customer", "app=customer"],
  ]);
});

test("nodes: status from the Ready condition, roles from labels, wide addresses and node info", () => {
  const node: ApiObject = {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: "node1",
      creationTimestamp: created,
      labels: { "node-role.kubernetes.io/control-plane": "" },
    },
    status: {
      conditions: [{ type: "Ready", status: "True" }],
      addresses: [{ type: "InternalIP", address: "172.18.0.2" }],
      nodeInfo: {
        kubeletVersion: "v1.32.4",
        osImage: "Debian",
        kernelVersion: "6.1",
        containerRuntimeVersion: "tortie",
      },
    },
  };
  const table = toTable(kind("nodes"), [node], { now });
  assert.deepEqual(
    columnsOf(table).map(([n, , , p]) => `${n}/${p}`),
    [
      "Name/0",
      "Status/0",
      "Roles/0",
      "Age/0",
      "Version/0",
      "Internal-IP/1",
      "External-IP/1",
      "OS-Image/1",
      "Kernel-Version/1",
      "Container-Runtime/1",
    ],
  );
  assert.deepEqual(table.rows[0]!.cells, [
    "node1",
    "Ready",
    "control-plane",
    "5m",
    "v1.32.4",
    "172.18.0.2",
    "<none>",
    "Debian",
    "6.1",
    "tortie",
  ]);
});

test("a Calico kind has the default table: Name and Age", () => {
  const def = kind("ippools.projectcalico.org");
  const pool: ApiObject = {
    apiVersion: "projectcalico.org/v3",
    kind: "IPPool",
    metadata: { name: "default-ipv4-ippool", creationTimestamp: "2026-01-01T10:00:00Z" },
    spec: { cidr: "10.48.0.0/16" },
  };
  const table = toTable(def, [pool], { now });
  assert.deepEqual(columnsOf(table), [
    ["Name", "string", "name", 0],
    ["Age", "string", "", 0],
  ]);
  assert.deepEqual(table.rows[0]!.cells, ["default-ipv4-ippool", "120m"]);
});

test("an object without a creation time is <unknown> old", () => {
  const table = toTable(
    kind("ns"),
    [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" }, status: { phase: "Active" } }],
    {
      now,
    },
  );
  assert.deepEqual(table.rows[0]!.cells, ["x", "Active", "<unknown>"]);
});
