#!/usr/bin/env node
// Regenerates test/fixtures/kubectl-templates.json from a real kubectl (no cluster needed): each template
// of the fixture is run by `kubectl label --local -f OBJECT zz=1 -o FORMAT=TEMPLATE`, which prints the
// object through kubectl's own go-template/jsonpath printers. Usage: node scripts/kubectl-reference/templates.mjs
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const fixture = new URL("../../test/fixtures/kubectl-templates.json", import.meta.url).pathname;
const OBJECT = `apiVersion: example.com/v1
kind: Thing
metadata:
  name: t1
list:
- status:
    addresses:
    - {type: InternalIP, address: 10.0.0.1}
    - {type: Hostname, address: node1}
num: 1000000
f: 1.5
i: 80
s: 'x"y<'
nul: null
m: {b: 1, a: [1, 2]}
b64: aGVsbG8gd29ybGQ=
html: '<a href="x">&</a>'
emptylist: []
emptymap: {}
t: true
neg: -3
big: 12345678901
small: 0.00001
`;
const dir = mkdtempSync(join(tmpdir(), "kubectl-ref-"));
const file = join(dir, "obj.yaml");
writeFileSync(file, OBJECT);
const env = { ...process.env, KUBECONFIG: "/dev/null" };
const kubectl = (output) =>
  spawnSync("kubectl", ["label", "--local", "-f", file, "zz=1", "-o", output], { env, encoding: "utf8" });
const old = JSON.parse(readFileSync(fixture, "utf8"));
const run = (format, cases) =>
  cases.map(({ t }) => {
    const r = kubectl(`${format}=${t}`);
    return { t, out: r.stdout, err: r.stderr, rc: r.status };
  });
const json = kubectl("json");
writeFileSync(
  fixture,
  `${JSON.stringify(
    {
      kubectl: spawnSync("kubectl", ["version", "--client"], { env, encoding: "utf8" }).stdout.split("\n")[0],
      data: JSON.parse(json.stdout),
      goTemplate: run("go-template", old.goTemplate),
      jsonpath: run("jsonpath", old.jsonpath),
      jsonpathAsJson: run("jsonpath-as-json", old.jsonpathAsJson),
    },
    null,
    1,
  )}\n`,
);
