import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { findKind, prepareObject } from "../../src/api/index.ts";
import { ValidationError } from "../../src/lib/index.ts";
import { CliHarness, snapshotState } from "./harness.ts";

/**
 * Issue 16, validation: input the API server or libcalico-go refuses, refused here with their words, one line,
 * exit 1 and nothing written. Each case was a failing test first.
 */

const h = new CliHarness();
after(() => h.cleanup());

const DEPLOY = (replicas: string, extra = "") =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n${extra}`;

before(async () => {
  const setup = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  a: b\n",
    DEPLOY("1"),
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p4\nspec:\n  cidr: 10.200.0.0/24\n",
  ];
  for (const doc of setup) {
    const cmd = doc.includes("projectcalico") ? "calicoctl apply -f -" : "kubectl apply -f -";
    const r = await h.run(cmd, doc);
    assert.equal(r.code, 0, r.err);
  }
});

const CM = (body: string, name = "bad") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\n${body}`;
const SECRET = (body: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: default\n${body}`;
const FELIX = (spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: default\nspec:\n${spec}`;
const SVC = (targetPort: string) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: default\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: ${targetPort}\n`;
const KEY_RULE =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const cases: { name: string; line: string; stdin?: string; error: RegExp; code?: number }[] = [
  {
    name: "ConfigMap key with a space",
    line: "kubectl apply -f -",
    stdin: CM('data:\n  "a b": x\n'),
    error: new RegExp(esc(`data[a b]: Invalid value: "a b": ${KEY_RULE}`)),
  },
  {
    name: "ConfigMap key ../x",
    line: "kubectl apply -f -",
    stdin: CM('data:\n  "../x": x\n'),
    error: new RegExp(
      esc(
        `data[../x]: Invalid value: "../x": ${KEY_RULE}; data[../x]: Invalid value: "../x": must not start with '..'`,
      ),
    ),
  },
  {
    name: "ConfigMap empty key",
    line: "kubectl apply -f -",
    stdin: CM('data:\n  "": x\n'),
    error: new RegExp(esc(`data[]: Invalid value: "": ${KEY_RULE}`)),
  },
  {
    name: "ConfigMap key ..",
    line: "kubectl apply -f -",
    stdin: CM('binaryData:\n  "..": eA==\n'),
    error: new RegExp(esc(`binaryData[..]: Invalid value: "..": must not be '..'`)),
  },
  {
    name: "ConfigMap key of 254 characters",
    line: "kubectl apply -f -",
    stdin: CM(`data:\n  ${"k".repeat(254)}: x\n`),
    error: /data\[k+\]: Invalid value: "k+": must be no more than 253 characters/,
  },
  {
    name: "ConfigMap key in both data and binaryData",
    line: "kubectl apply -f -",
    stdin: CM("data:\n  k: x\nbinaryData:\n  k: eA==\n"),
    error:
      /data\[k\]: Invalid value: "k": duplicate of key present in binaryData; binaryData\[k\]: Invalid value: "k": duplicate of key present in data/,
  },
  {
    name: "ConfigMap over 1 MiB",
    line: "kubectl apply -f -",
    stdin: CM(`data:\n  a: ${"x".repeat(600_000)}\n  b: ${"y".repeat(448_577)}\n`),
    error: /ConfigMap "default\/bad" is invalid: \[\]: Too long: must have at most 1048576 bytes/,
  },
  {
    name: "Secret key with a space",
    line: "kubectl apply -f -",
    stdin: SECRET('data:\n  "a b": eA==\n'),
    error: new RegExp(esc(`data[a b]: Invalid value: "a b": ${KEY_RULE}`)),
  },
  {
    name: "Secret stringData key ..",
    line: "kubectl apply -f -",
    stdin: SECRET('stringData:\n  "..": x\n'),
    error: /data\[\.\.\]: Invalid value: "\.\.": must not be '\.\.'/,
  },
  {
    name: "Secret over 1 MiB",
    line: "kubectl apply -f -",
    stdin: SECRET(`stringData:\n  a: ${"x".repeat(1_048_577)}\n`),
    error: /Secret "default\/s" is invalid: data: Too long: must have at most 1048576 bytes/,
  },
  {
    name: "FelixConfiguration unknown field",
    line: "calicoctl apply -f -",
    stdin: FELIX("  bogus: 1\n"),
    error: /spec\.bogus: unknown field/,
  },
  {
    name: "FelixConfiguration field of a later Calico than v3.31",
    line: "calicoctl apply -f -",
    stdin: FELIX("  nodeSelector: all()\n"),
    error: /spec\.nodeSelector: unknown field/,
  },
  {
    name: "FelixConfiguration bpfKubeProxyHealthzPort 0 (gte=1 in v3.31)",
    line: "calicoctl apply -f -",
    stdin: FELIX("  bpfKubeProxyHealthzPort: 0\n"),
    // Go's field name keeps its initialisms: BPFKubeProxyHealthzPort, not BpfKubeProxyHealthzPort.
    error: /spec\.bpfKubeProxyHealthzPort: error with field BPFKubeProxyHealthzPort = '0' .*Tag: gte /,
  },
  {
    name: "FelixConfiguration known field of the wrong type",
    line: "calicoctl apply -f -",
    stdin: FELIX("  iptablesRefreshInterval: 3\n"),
    error: /spec\.iptablesRefreshInterval: /,
  },
  {
    name: "FelixConfiguration healthPort 70000",
    line: "calicoctl apply -f -",
    stdin: FELIX("  healthPort: 70000\n"),
    error:
      /spec\.healthPort: error with field HealthPort = '70000' \(Reason: failed to validate Field: HealthPort because of Tag: lte \)/,
  },
  {
    name: "FelixConfiguration vxlanPort 70000 (Go's VXLANPort)",
    line: "calicoctl apply -f -",
    stdin: FELIX("  vxlanPort: 70000\n"),
    error: /spec\.vxlanPort: error with field VXLANPort = '70000' .*Field: VXLANPort because of Tag: lte /,
  },
  {
    name: "FelixConfiguration prometheusMetricsPort -1",
    line: "calicoctl apply -f -",
    stdin: FELIX("  prometheusMetricsPort: -1\n"),
    error: /spec\.prometheusMetricsPort: error with field PrometheusMetricsPort = '-1' .*Tag: gte /,
  },
  {
    name: "FelixConfiguration failsafe port 70000",
    line: "calicoctl apply -f -",
    stdin: FELIX("  failsafeInboundHostPorts:\n  - protocol: TCP\n    port: 70000\n"),
    error: /spec\.failsafeInboundHostPorts\[0\]\.port: error with field Port = '70000'/,
  },
  {
    name: "KubeControllersConfiguration metrics port 70000",
    line: "calicoctl apply -f -",
    stdin:
      "apiVersion: projectcalico.org/v3\nkind: KubeControllersConfiguration\nmetadata:\n  name: default\nspec:\n  prometheusMetricsPort: 70000\n",
    error: /spec\.prometheusMetricsPort: error with field PrometheusMetricsPort = '70000'/,
  },
  {
    name: "targetPort a_b",
    line: "kubectl apply -f -",
    stdin: SVC("a_b"),
    error:
      /spec\.ports\[0\]\.targetPort: Invalid value: "a_b": must contain only alpha-numeric characters \(a-z, 0-9\), and hyphens \(-\)/,
  },
  {
    name: "targetPort longer than 15",
    line: "kubectl apply -f -",
    stdin: SVC("abcdefghijklmnop"),
    error:
      /spec\.ports\[0\]\.targetPort: Invalid value: "abcdefghijklmnop": must be no more than 15 characters/,
  },
  {
    name: "targetPort with a double hyphen",
    line: "kubectl apply -f -",
    stdin: SVC("a--b"),
    error: /spec\.ports\[0\]\.targetPort: Invalid value: "a--b": must not contain consecutive hyphens/,
  },
  {
    name: "targetPort with no letter",
    line: "kubectl apply -f -",
    stdin: SVC('"8080"'),
    error: /spec\.ports\[0\]\.targetPort: Invalid value: "8080": must contain at least one letter \(a-z\)/,
  },
  {
    name: "containerPort name with an underscore",
    line: "kubectl apply -f -",
    stdin: DEPLOY("1", "        ports:\n        - name: a_b\n          containerPort: 80\n"),
    error:
      /spec\.template\.spec\.containers\[0\]\.ports\[0\]\.name: Invalid value: "a_b": must contain only alpha-numeric characters \(a-z, 0-9\), and hyphens \(-\)/,
  },
  {
    name: "hostPort 70000",
    line: "kubectl apply -f -",
    stdin: DEPLOY("1", "        ports:\n        - containerPort: 80\n          hostPort: 70000\n"),
    error:
      /spec\.template\.spec\.containers\[0\]\.ports\[0\]\.hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive/,
  },
  {
    name: "Deployment replicas above the int32 range",
    line: "kubectl apply -f -",
    stdin: DEPLOY("2147483648"),
    error:
      /cannot be handled as a Deployment: json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec\.spec\.replicas of type int32/,
  },
  {
    name: "Deployment replicas above tortie's cap",
    line: "kubectl apply -f -",
    stdin: DEPLOY("5000"),
    error: /spec\.replicas: Invalid value: 5000: must be no greater than 1000 \(tortie's replica limit/,
  },
  {
    name: "ReplicaSet replicas above tortie's cap",
    line: "kubectl apply -f -",
    stdin:
      "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: rs\n  namespace: default\nspec:\n  replicas: 1001\n  selector:\n    matchLabels: {app: rs}\n  template:\n    metadata:\n      labels: {app: rs}\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.25\n",
    error: /spec\.replicas: Invalid value: 1001: must be no greater than 1000/,
  },
  {
    name: "scale --replicas= (empty)",
    line: "kubectl scale deploy/web --replicas=",
    error:
      /^error: invalid argument "" for "--replicas" flag: strconv\.ParseInt: parsing "": invalid syntax$/m,
    code: 2,
  },
  {
    name: "scale --replicas=abc",
    line: "kubectl scale deploy/web --replicas=abc",
    error:
      /^error: invalid argument "abc" for "--replicas" flag: strconv\.ParseInt: parsing "abc": invalid syntax$/m,
    code: 2,
  },
  {
    name: "scale --replicas beyond int64",
    line: "kubectl scale deploy/web --replicas=99999999999999999999",
    error:
      /invalid argument "99999999999999999999" for "--replicas" flag: strconv\.ParseInt: parsing "99999999999999999999": value out of range/,
    code: 2,
  },
  {
    name: "scale --replicas=-1",
    line: "kubectl scale deploy/web --replicas=-1",
    error: /The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0/,
  },
  {
    name: "scale --replicas=2147483648",
    line: "kubectl scale deploy/web --replicas=2147483648",
    error:
      /json: cannot unmarshal number 2147483648 into Go struct field ScaleSpec\.spec\.replicas of type int32/,
  },
  {
    name: "scale above tortie's cap",
    line: "kubectl scale deploy/web --replicas=1001",
    error: /spec\.replicas: Invalid value: 1001: must be no greater than 1000/,
  },
  {
    name: "IPv4-mapped pool beside its IPv4 pool",
    line: "calicoctl apply -f -",
    stdin:
      'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: mapped\nspec:\n  cidr: "::ffff:10.200.0.0/120"\n',
    error: /IPPool\(mapped\) CIDR overlaps with IPPool\(p4\) CIDR 10\.200\.0\.0\/24/,
  },
  {
    name: "IPv4-mapped pool on its own",
    line: "calicoctl apply -f -",
    stdin:
      'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: mapped\nspec:\n  cidr: "::ffff:10.201.0.0/120"\n',
    error: /spec\.cidr: .*IPv4-mapped/,
  },
  {
    name: "kubectl patch changing metadata.uid",
    line: `kubectl patch cm c --type merge -p '{"metadata":{"uid":"0000"}}'`,
    error: /ConfigMap "default\/c" is invalid: metadata\.uid: Invalid value: "0000": field is immutable/,
  },
  {
    name: "kubectl patch changing kind",
    line: `kubectl patch cm c --type merge -p '{"kind":"Secret"}'`,
    error: /kind: Invalid value: "Secret": field is immutable/,
  },
  {
    name: "kubectl patch changing apiVersion",
    line: `kubectl patch cm c --type json -p '[{"op":"replace","path":"/apiVersion","value":"v2"}]'`,
    error: /apiVersion: Invalid value: "v2": field is immutable/,
  },
  {
    name: "kubectl patch changing metadata.name",
    line: `kubectl patch cm c --type merge -p '{"metadata":{"name":"d"}}'`,
    error: /the name of the object \(d\) does not match the name on the URL \(c\)/,
  },

  {
    name: "calicoctl patch changing metadata.uid",
    line: `calicoctl patch ippool p4 -p '{"metadata":{"uid":"0000"}}'`,
    error: /metadata\.uid: Invalid value: "0000": field is immutable/,
  },
  {
    name: "calicoctl patch changing kind",
    line: `calicoctl patch ippool p4 -p '{"kind":"BGPPeer"}'`,
    error: /kind: Invalid value: "BGPPeer": field is immutable/,
  },
];

for (const c of cases) {
  test(`refused with one line, exit ${c.code ?? 1}, nothing written: ${c.name}`, async () => {
    const before = snapshotState(h.stateDir);
    const r = await h.run(c.line, c.stdin ?? "");
    assert.equal(r.code, c.code ?? 1, `exit code for ${c.name}: ${r.err}${r.out}`);
    assert.equal(r.out, "");
    assert.match(r.err, c.error);
    assert.equal(r.err.trimEnd().split("\n").length, 1, `one line: ${r.err.slice(0, 400)}`);
    assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
    assert.deepEqual(snapshotState(h.stateDir), before, "the state dir changed");
  });
}

test("valid neighbours of the refused inputs are still accepted", async () => {
  for (const [line, stdin] of [
    ["kubectl apply -f -", CM("data:\n  key.name: x\n  KEY_NAME: y\n  key-name: z\n  .hidden: w\n", "good")],
    ["kubectl apply -f -", CM(`data:\n  a: ${"x".repeat(1_048_576)}\n`, "exactly-1mib")],
    ["kubectl apply -f -", SVC("http-alt")],
    [
      "calicoctl apply -f -",
      FELIX(
        "  healthPort: 65535\n  bpfLogLevel: Debug\n  routeTableRange: {min: 1, max: 250}\n  iptablesLockTimeout: 10s\n",
      ),
    ],
    ["kubectl scale deploy/web --replicas=1000", ""],
    ["kubectl scale deploy/web --replicas=0", ""],
    ['kubectl patch cm c --type merge -p \'{"metadata":{"labels":{"x":"y"}}}\'', ""],
  ] as const) {
    const r = await h.run(line, stdin);
    assert.equal(r.code, 0, `${line}: ${r.err}`);
  }
  const replicas = await h.run("kubectl get deploy web -o jsonpath={.spec.replicas}");
  assert.equal(replicas.out, "0");
});

test("a patch of metadata.creationTimestamp is ignored, as the API server's BeforeUpdate ignores it", async () => {
  const created = async () => (await h.run("kubectl get cm c -o jsonpath={.metadata.creationTimestamp}")).out;
  const before = await created();
  assert.match(before, /^\d{4}-/);
  const r = await h.run(
    `kubectl patch cm c --type merge -p '{"metadata":{"creationTimestamp":"2020-01-01T00:00:00Z"}}'`,
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(await created(), before);
});

test("a 50 MB ConfigMap and one with 400,000 keys are refused fast", async () => {
  const def = findKind("v1", "ConfigMap")!;
  const big = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "big", namespace: "default" } };
  const many: Record<string, string> = {};
  for (let i = 0; i < 400_000; i++) many[`k${i}`] = "vvv";
  for (const [what, data] of [
    ["50 MB", { a: "x".repeat(50 * 1024 * 1024) }],
    ["400,000 keys", many],
  ] as const) {
    const t0 = performance.now();
    assert.throws(
      () => prepareObject(def, { ...big, data }),
      (e: unknown) =>
        e instanceof ValidationError && /Too long: must have at most 1048576 bytes/.test(e.message),
      what,
    );
    const ms = performance.now() - t0;
    console.log(`# ${what}: refused in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 3000, `${what} took ${ms} ms`);
  }
  // Through the CLI too (the request-size limit may answer first; either way: one line, exit 1, fast).
  const t0 = performance.now();
  const r = await h.run("kubectl apply -f -", CM(`data:\n  a: ${"x".repeat(50 * 1024 * 1024)}\n`));
  assert.equal(r.code, 1);
  assert.equal(r.err.trimEnd().split("\n").length, 1, r.err.slice(0, 300));
  assert.ok(performance.now() - t0 < 10_000);
});
