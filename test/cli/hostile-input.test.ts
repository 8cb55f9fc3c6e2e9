import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CliHarness, snapshotState } from "./harness.ts";

// Hostile input (issue 16): every case is refused with one line on stderr, exit 1, no stack trace, nothing
// written, and Object.prototype untouched; none takes more than a few seconds.

const h = new CliHarness();
after(() => h.cleanup());

const protoKeys = () => Object.getOwnPropertyNames(Object.prototype).sort();
const cleanProto = protoKeys();
const warnings: string[] = [];
const onWarning = (w: Error) => warnings.push(w.message);
process.on("warning", onWarning);
after(() => process.off("warning", onWarning));

before(async () => {
  const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  a: b\n";
  const r = await h.run("kubectl apply -f -", cm);
  assert.equal(r.code, 0, r.err);
});

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
const deepMap = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
const laughs = [
  "a: &a [x,x,x,x,x,x,x,x,x]",
  ..."bcdefg".split("").map((c, i) => `${c}: &${c} [${Array(9).fill(`*${"abcdefg"[i]}`).join(",")}]`),
].join("\n");
const bigCm = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\ndata:\n  k: ${"x".repeat(3 * 1024 * 1024)}\n`;
// One 6 MiB scalar and 99 aliases of it: within the alias bound, but 600 MiB as JSON (past V8's longest string).
const wideAliases = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\n  namespace: default\ndata:\n  k0: &s ${"x".repeat(6 * 1024 * 1024)}\n${Array.from({ length: 99 }, (_, i) => `  k${i + 1}: *s\n`).join("")}`;
// Anchors and aliases cost the yaml package a scan of the document per alias: 5,000 of each is refused at once.
const manyAliases = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: many\n  namespace: default\ndata:\n${Array.from({ length: 5000 }, (_, i) => `  a${i}: &a${i} x\n`).join("")}${Array.from({ length: 5000 }, (_, i) => `  b${i}: *a${i}\n`).join("")}`;
// Each copy doubles data: 40 of them would make a terabyte; the API server stops copies at 3 MiB in all.
const doublingCopies = JSON.stringify([
  { op: "add", path: "/data/x", value: "y".repeat(1000) },
  ...Array.from({ length: 40 }, (_, i) => ({ op: "copy", from: "/data", path: `/data/y${i}` })),
]);

const cases: { name: string; line: string | string[]; stdin?: string; error: RegExp; code?: number }[] = [
  {
    name: "an alias to an anchor that does not exist",
    line: "kubectl apply -f -",
    stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: *undefined\n",
    error: /^error: STDIN:1: invalid YAML: unknown anchor 'undefined' referenced$/,
  },
  {
    name: "billion laughs",
    line: "kubectl apply -f -",
    stdin: laughs,
    error: /^error: STDIN:1: invalid YAML: document contains excessive aliasing$/,
  },
  {
    name: "an anchor containing its own alias",
    line: "kubectl apply -f -",
    stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: x\n  labels: *m\n",
    error: /anchor value contains itself/,
  },
  {
    name: "a 10,000-deep JSON document",
    line: "kubectl apply -f -",
    stdin: deep(10_000),
    error: /^error: STDIN:1:\d+: exceeded max depth of 100$/,
  },
  {
    name: "a 2,000-deep YAML block document",
    line: "kubectl apply -f -",
    stdin: Array.from({ length: 2_000 }, (_, i) => `${" ".repeat(i)}a:`).join("\n"),
    error: /exceeded max depth of 100$/,
  },
  {
    name: "5 million empty documents",
    line: "kubectl apply -f -",
    stdin: "---\n".repeat(5_000_000),
    error: /^error: STDIN: the input is larger than the limit of 16777216 bytes$/,
  },
  {
    name: "10,001 empty documents",
    line: "kubectl apply -f -",
    stdin: "---\n".repeat(10_001),
    error: /^error: STDIN:10001: too many documents: the limit is 10000$/,
  },
  {
    name: "10,001 document end markers",
    line: "kubectl apply -f -",
    stdin: "...\n".repeat(10_001),
    error: /too many documents: the limit is 10000$/,
  },
  {
    name: "-f /dev/zero",
    line: "kubectl apply -f /dev/zero",
    error: /^error: \/dev\/zero: the input is larger than the limit of 16777216 bytes$/,
  },
  {
    name: "an object over the API server's request limit",
    line: "kubectl apply -f -",
    stdin: bigCm,
    error: /^error: STDIN:1: Request entity too large: limit is 3145728$/,
  },
  {
    name: "a large scalar repeated by aliases",
    line: "kubectl apply -f -",
    stdin: wideAliases,
    error: /^error: STDIN:1: Request entity too large: limit is 3145728$/,
  },
  {
    name: "--template /dev/zero",
    line: "kubectl get cm -o go-template-file=/dev/zero",
    error: /^error: \/dev\/zero: the input is larger than the limit of 16777216 bytes$/,
  },
  {
    name: "ipam release --from-report /dev/zero",
    line: "calicoctl ipam release --from-report /dev/zero",
    // calicoctl prints its errors without kubectl's "error: " prefix.
    error: /^\/dev\/zero: the input is larger than the limit of 16777216 bytes$/,
  },
  {
    name: "up --topology /dev/zero",
    line: "up --topology /dev/zero",
    error: /^error: \/dev\/zero: the input is larger than the limit of 16777216 bytes$/,
  },
  {
    name: "5,000 anchors and their aliases",
    line: "kubectl apply -f -",
    stdin: manyAliases,
    error: /^error: STDIN:1: invalid YAML: document contains excessive aliasing$/,
  },
  {
    name: "a key twice in one mapping (found by tortie, not the yaml package's quadratic check)",
    line: "kubectl apply -f -",
    stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  1: x\n  0x1: y\n",
    error: /^error: STDIN:7:3: invalid YAML: Map keys must be unique$/,
  },
  {
    name: "a complex (sequence) key",
    line: "kubectl apply -f -",
    stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n? [a]\n: b\n",
    error: /^error: STDIN:5:3: invalid YAML: invalid map key: \["a"\]$/,
  },
  {
    name: "an alias to a sequence as a key",
    line: "kubectl apply -f -",
    stdin:
      "apiVersion: v1\nkind: List\nmetadata:\n  x: &l [a]\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ak, namespace: default}\n  data:\n    ? *l\n    : b\n",
    error: /^error: STDIN:10:7: invalid YAML: invalid map key: \["a"\]$/,
  },
  {
    name: "a complex key in a flow mapping",
    line: "kubectl apply -f -",
    stdin: "{apiVersion: v1, kind: ConfigMap, metadata: {name: d}, data: {[1]: 2}}\n",
    error: /invalid YAML: invalid map key: \[1\]$/,
  },
  {
    name: "a __proto__ key in a manifest",
    line: "kubectl apply -f -",
    stdin: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e","__proto__":{"x":1}}}',
    error: /^error: STDIN:1: invalid YAML: the key "__proto__" is not allowed$/,
  },
  {
    name: "merge patch null",
    line: "kubectl patch cm c --type merge -p null",
    error: /^error: Invalid JSON Patch$/,
  },
  {
    name: "merge patch []",
    line: "kubectl patch cm c --type merge -p []",
    error: /^error: Invalid JSON Patch$/,
  },
  {
    name: 'strategic patch "str"',
    line: `kubectl patch cm c -p '"str"'`,
    error: /^error: json: cannot unmarshal string into Go value of type map\[string\]interface \{\}$/,
  },
  {
    name: "strategic patch []",
    line: "kubectl patch cm c -p []",
    error: /cannot unmarshal array into Go value/,
  },
  {
    name: 'merge patch {"metadata":null}',
    line: `kubectl patch cm c --type merge -p '{"metadata":null}'`,
    error: /^error: the name of the object \(\) does not match the name on the URL \(c\)$/,
  },
  {
    name: "JSON patch removing /metadata",
    line: `kubectl patch cm c --type json -p '[{"op":"remove","path":"/metadata"}]'`,
    error: /^error: the name of the object \(\) does not match the name on the URL \(c\)$/,
  },
  {
    name: "a patch moving the object to another namespace",
    line: `kubectl patch cm c --type merge -p '{"metadata":{"namespace":"kube-system","name":"d"}}'`,
    error: /^error: the namespace of the provided object does not match the namespace sent on the request$/,
  },
  {
    name: "calicoctl merge patch removing metadata",
    line: `calicoctl patch ippool nosuch -p '{"metadata":null}'`,
    error: /resource does not exist/,
  },
  {
    name: "a 10,000-deep merge patch",
    line: ["kubectl", "patch", "cm", "c", "--type", "merge", "-p", `{"data":${deepMap(10_000)}}`],
    error: /^error: invalid patch: the patch: exceeded max depth of 100$/,
  },
  {
    name: "a 10,000-deep strategic patch",
    line: ["kubectl", "patch", "cm", "c", "-p", `{"data":${deepMap(10_000)}}`],
    error: /exceeded max depth of 100$/,
  },
  {
    name: "a 10,000-deep JSON patch value",
    line: [
      "kubectl",
      "patch",
      "cm",
      "c",
      "--type",
      "json",
      "-p",
      `[{"op":"add","path":"/x","value":${deep(10_000)}}]`,
    ],
    error: /exceeded max depth of 100$/,
  },
  {
    name: "a JSON patch over the API server's operation limit",
    line: [
      "kubectl",
      "patch",
      "cm",
      "c",
      "--type",
      "json",
      "-p",
      JSON.stringify(Array(10_001).fill({ op: "test", path: "/kind", value: "ConfigMap" })),
    ],
    error: /^error: The allowed maximum operations in a JSON patch is 10000, got 10001$/,
  },
  {
    name: "JSON patch copies that double the object",
    line: ["kubectl", "patch", "cm", "c", "--type", "json", "-p", doublingCopies],
    error:
      /^error: Unable to complete the copy, the accumulated size increase of copy is \d+, exceeding the limit 3145728$/,
  },
  {
    name: "a JSON patch through /__proto__",
    line: `kubectl patch cm c --type json -p '[{"op":"add","path":"/__proto__/polluted","value":"yes"}]'`,
    error: /^error: invalid patch: path "\/__proto__\/polluted": the key "__proto__" is not allowed$/,
  },
  {
    name: "a JSON patch moving from /__proto__",
    line: `kubectl patch cm c --type json -p '[{"op":"copy","from":"/__proto__","path":"/data/x"}]'`,
    error: /the key "__proto__" is not allowed$/,
  },
  {
    name: "a JSON patch through /constructor/prototype",
    line: `kubectl patch cm c --type json -p '[{"op":"add","path":"/constructor/prototype/polluted","value":"yes"}]'`,
    error: /^error: invalid patch: path \/constructor\/prototype\/polluted does not exist$/,
  },
  {
    name: "a merge patch with __proto__",
    line: `kubectl patch cm c --type merge -p '{"__proto__":{"polluted":"yes"}}'`,
    error: /^error: invalid patch: the patch: the key "__proto__" is not allowed$/,
  },
  {
    name: "a strategic patch with a nested __proto__",
    line: `kubectl patch cm c -p '{"metadata":{"__proto__":{"polluted":"yes"}}}'`,
    error: /the key "__proto__" is not allowed$/,
  },
  {
    name: "a 10,000-deep selector in calicoq eval",
    line: ["calicoq", "eval", `${"(".repeat(10_000)}all()${")".repeat(10_000)}`],
    error: /exceeded max depth of 100 parentheses$/,
  },
  {
    name: "a newline in a name",
    line: ["kubectl", "get", "cm", "a\nb"],
    error: /^Error from server \(NotFound\): configmaps "a\\nb" not found$/,
  },
  {
    name: "control characters in a name",
    line: ["kubectl", "delete", "cm", "a\r\u0000\tb"],
    error: /configmaps "a\\r\\x00\\tb" not found$/,
  },
  {
    name: "a mistyped command: commander's hint stays on its one line, unescaped",
    line: ["kubectl", "scal\n"],
    error: /^error: unknown command 'scal\\n' \(Did you mean scale\?\)$/,
    code: 2,
  },
];

for (const c of cases) {
  test(`hostile input is refused with one line, nothing written: ${c.name}`, async () => {
    const before = snapshotState(h.stateDir);
    const started = Date.now();
    const r = await h.run(c.line, c.stdin ?? "");
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.equal(r.code, c.code ?? 1, `exit code: ${r.err}`);
    assert.equal(r.out, "");
    assert.doesNotMatch(r.err, /internal error|\n\s+at /);
    assert.equal(r.err.endsWith("\n") && r.err.split("\n").length, 2, `one line: ${r.err.slice(0, 300)}`);
    assert.match(r.err.trimEnd(), c.error);
    assert.deepEqual(snapshotState(h.stateDir), before, "the state dir changed");
    assert.deepEqual(protoKeys(), cleanProto, "Object.prototype changed");
  });
}

test("a __proto__ patch cannot open a controller-owned kind: the read-only check still fires", async () => {
  for (const p of ["/__proto__/asController", "/constructor/prototype/asController"]) {
    const r = await h.run([
      "kubectl",
      "patch",
      "cm",
      "c",
      "--type",
      "json",
      "-p",
      JSON.stringify([{ op: "add", path: p, value: true }]),
    ]);
    assert.equal(r.code, 1, r.err);
  }
  assert.equal(({} as { asController?: unknown }).asController, undefined);
  const wep =
    "apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata:\n  name: w\n  namespace: default\nspec: {}\n";
  const r = await h.run("calicoctl apply -f -", wep);
  assert.equal(r.code, 1);
  assert.match(r.err, /WorkloadEndpoint is read-only/);
});

test("a newline typed into kubectl's two-line usage error is escaped: the hint stays the only second line", async () => {
  const r = await h.run(["kubectl", "create", "x\ny", "a"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "error: Unexpected args: [x\\ny a]\nSee 'kubectl create -h' for help and examples\n");
});

test("-l with a key Object.prototype has (constructor, toString) matches no object", async () => {
  for (const sel of ["constructor", "toString=x", "__proto__"]) {
    const r = await h.run(["kubectl", "get", "cm", "-l", sel]);
    assert.equal(r.out, "", `-l ${sel}`);
  }
});

test("the yaml package prints no process warning (complex keys are refused instead)", async () => {
  await h.run("kubectl apply -f -", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n? {a: 1}\n: b\n");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings, []);
});

test("valid YAML with anchors, a __proto__-free List and constructor-named keys still applies", async () => {
  const ok =
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: fine, namespace: default, labels: &l {constructor: x}}\n  data: {constructor: y}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: fine2, namespace: default, labels: *l}\n";
  const r = await h.run("kubectl apply -f -", ok);
  assert.equal(r.err, "");
  assert.equal(r.code, 0);
  const sel = await h.run(["kubectl", "get", "cm", "-l", "constructor=x", "-o", "name"]);
  assert.equal(sel.out, "configmap/fine\nconfigmap/fine2\n");
  const patched = await h.run([
    "kubectl",
    "patch",
    "cm",
    "fine",
    "--type",
    "json",
    "-p",
    '[{"op":"replace","path":"/data/constructor","value":"z"}]',
  ]);
  assert.equal(patched.code, 0, patched.err);
});

test("ping's numeric flags are checked as iputils checks them, and -c is bounded on the sim", async () => {
  const lab = new CliHarness();
  try {
    assert.equal((await lab.run("up")).code, 0);
    const expect: [string, string][] = [
      ["abc", "ping: invalid argument: 'abc'\n"],
      ["1.5", "ping: invalid argument: '1.5'\n"],
      ["0", "ping: invalid argument: '0': out of range: 1 <= value <= 9223372036854775807\n"],
      [
        "99999999999999999999",
        "ping: invalid argument: '99999999999999999999': Numerical result out of range\n",
      ],
      ["1000000", "not supported yet: ping -c above 10000 on the sim dataplane (1000000)\n"],
    ];
    for (const [count, err] of expect) {
      const started = Date.now();
      const r = await lab.run(["exec", "node1", "--", "ping", "-c", count, "198.19.0.1"]);
      assert.ok(Date.now() - started < 5000);
      assert.equal(r.out, "", `-c ${count}`);
      assert.equal(r.err, err);
      assert.notEqual(r.code, 0);
    }
    const ok = await lab.run(["exec", "node1", "--", "ping", "-c", "2", "198.19.0.1"]);
    assert.match(ok.out, /^2 packets transmitted, 2 received/m);
    // strtol takes leading white space and a sign.
    const signed = await lab.run(["exec", "node1", "--", "ping", "-c", " +1", "198.19.0.1"]);
    assert.match(signed.out, /^1 packets transmitted, 1 received/m);
  } finally {
    lab.cleanup();
  }
});
