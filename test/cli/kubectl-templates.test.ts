import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { CliContext } from "../../src/cli/context.ts";
import { formatFloatG, type GoData, goQuote, sprintf } from "../../src/cli/go-fmt.ts";
import { ExecError, GoTemplate, TemplateError } from "../../src/cli/go-template.ts";
import { JsonPath, JsonPathError } from "../../src/cli/jsonpath.ts";
import { printWithTemplate } from "../../src/cli/kubectl-printers.ts";
import { fixture } from "./harness.ts";

interface Case {
  t: string;
  out: string;
  err: string;
  rc: number;
}

/** Cases run through the real kubectl (see test/fixtures/README.md): what it printed, byte for byte. */
const vectors = JSON.parse(readFileSync(fixture("kubectl-templates.json"), "utf8")) as {
  data: GoData;
  goTemplate: Case[];
  jsonpath: Case[];
  jsonpathAsJson: Case[];
};

function run(format: string, template: string, data: GoData): Omit<Case, "t"> {
  let out = "";
  const ctx = { out: (t: string) => (out += t), err: () => undefined } as unknown as CliContext;
  try {
    printWithTemplate(ctx, `${format}=${template}`, undefined, data);
    return { out, err: "", rc: 0 };
  } catch (e) {
    const m = (e as Error).message;
    // As the CLI prints an error: "error: " before, a newline after.
    return { out, err: `error: ${m}\n`, rc: 1 };
  }
}

for (const [format, cases] of [
  ["go-template", vectors.goTemplate],
  ["jsonpath", vectors.jsonpath],
  ["jsonpath-as-json", vectors.jsonpathAsJson],
] as const) {
  test(`-o ${format}: ${cases.length} templates print what kubectl printed`, () => {
    for (const c of cases) {
      const got = run(format, c.t, vectors.data);
      assert.deepEqual(got, { out: c.out, err: c.err, rc: c.rc }, `template ${c.t}`);
    }
  });
}

test("go-template: the seed 001 template picks the second address of the first node", () => {
  const list = {
    apiVersion: "v1",
    items: [
      {
        status: {
          addresses: [
            { type: "InternalIP", address: "198.19.0.2" },
            { type: "Hostname", address: "node1" },
          ],
        },
      },
    ],
    kind: "List",
    metadata: { resourceVersion: "" },
  };
  const t = new GoTemplate('{{(index (index .items 0).status.addresses 1).address}}{{"\\n"}}');
  assert.equal(t.execute(list), "node1\n");
});

test("go-template: parse errors are TemplateErrors worded as Go words them", () => {
  const cases: [string, string][] = [
    ["{{.a}", "template: output:1: bad character U+007D '}'"],
    ["{{ foo }}", 'template: output:1: function "foo" not defined'],
    ["{{if .a}}", "template: output:1: unexpected EOF"],
    ["{{end}}", "template: output:1: unexpected {{end}}"],
    ["x\n{{.a", "template: output:2: unclosed action"],
    ["{{$x}}", 'template: output:1: undefined variable "$x"'],
    ["{{.a | 3}}", "template: output:1: non executable command in pipeline stage 2"],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => new GoTemplate(text),
      (e: unknown) => e instanceof TemplateError && !(e instanceof ExecError) && e.message === message,
      text,
    );
  }
});

test("go-template: an execution error carries what was printed before it and the node's position", () => {
  const t = new GoTemplate("a{{.x}}b\n  {{.x.y.z}}");
  assert.throws(
    () => t.execute({ x: "s" }),
    (e: unknown) =>
      e instanceof ExecError &&
      e.partial === "asb\n  " &&
      e.message ===
        'template: output:2:6: executing "output" at <.x.y.z>: can\'t evaluate field y in type interface {}',
  );
  assert.throws(
    () => new GoTemplate("{{index .l 2}}").execute({ l: [1, 2] }),
    /executing "output" at <index .l 2>: error calling index: index out of range: 2$/,
  );
});

test("go-template: int64 and float64 from JSON, Go's comparison rules", () => {
  const t = (s: string, data: GoData) => new GoTemplate(s).execute(data);
  assert.equal(t("{{.n}} {{.f}} {{eq .n 3}} {{lt .f 2.5}}", { n: 3, f: 1.25 }), "3 1.25 true true");
  assert.throws(() => t("{{eq .f 1}}", { f: 1.5 }), /incompatible types for comparison/);
  assert.equal(t("{{range $i, $v := .l}}{{$i}}{{$v}}{{end}}", { l: ["a", "b"] }), "0a1b");
  assert.equal(t("{{- range .l -}}\n  {{.}}\n{{- end }}", { l: [1, 2] }), "12");
});

test("go-fmt: Go's %v for float64 and strconv.Quote", () => {
  assert.equal(formatFloatG(1.5), "1.5");
  assert.equal(formatFloatG(1e6 + 0.5), "1.0000005e+06");
  assert.equal(formatFloatG(0.00001), "1e-05");
  assert.equal(formatFloatG(123456.5), "123456.5");
  assert.equal(goQuote('a"b\n\t\x01é'), '"a\\"b\\n\\t\\x01é"');
  assert.equal(sprintf("%d %s %q %5.1f|%-3d|", [3n, "x", "y", 2.25, 7n]), '3 x "y"   2.2|7  |');
  assert.equal(sprintf("%d %s", ["a"]), "%!d(string=a) %!s(MISSING)");
  // fmt's parsenum gives up past 1e6 and the verb is lost; runes outside Unicode print as U+FFFD.
  assert.equal(sprintf("%99999999999d|", [1n]), "%!(NOVERB)%!(EXTRA int=1)");
  assert.equal(sprintf("%.99999999999f", [1.5]), "%!(NOVERB)%!(EXTRA float64=1.5)");
  assert.equal(sprintf("%c%c%q", [99999999n, -1n, 0xd800n]), "\ufffd\ufffd'\ufffd'");
  assert.equal(sprintf("%U %U", [-1n, 65n]), "U+FFFFFFFFFFFFFFFF U+0041");
});

test("go-template: endless {{template}} recursion is Go's depth error, not a crash", () => {
  assert.throws(
    () => new GoTemplate('{{define "a"}}{{template "a"}}{{end}}{{template "a"}}').execute({}),
    (e: unknown) => e instanceof ExecError && /exceeded maximum template depth \(100000\)$/.test(e.message),
  );
});

test("jsonpath: parse errors and execution errors are JsonPathErrors with client-go's words", () => {
  assert.throws(
    () => new JsonPath("{.a"),
    (e: unknown) => e instanceof JsonPathError && e.message === "unclosed action",
  );
  assert.throws(() => new JsonPath("{.a[x]}"), /^Error: invalid array index x$/);
  assert.throws(() => new JsonPath("{.a[?(@.x=="), /unterminated filter/);
  assert.throws(
    () => new JsonPath("{.a[3]}").execute({ a: [1] }),
    (e: unknown) =>
      e instanceof JsonPathError && e.message === "array index out of bounds: index 3, length 1",
  );
  assert.throws(() => new JsonPath("{end}").execute({}), /not in range, nothing to end/);
  assert.throws(() => new JsonPath("{.a}", false).execute({}), /a is not found/);
});

test("jsonpath: kubectl's dialect on a pod list", () => {
  const list: GoData = {
    items: [
      { metadata: { name: "a" }, status: { podIP: "10.0.0.1", phase: "Running" } },
      { metadata: { name: "b" }, status: { phase: "Pending" } },
    ],
  };
  const jp = (s: string) => new JsonPath(s).execute(list);
  assert.equal(jp("{.items[*].metadata.name}"), "a b");
  assert.equal(jp("{.items[-1:].metadata.name}"), "b");
  assert.equal(jp('{.items[?(@.status.phase=="Running")].metadata.name}'), "a");
  assert.equal(
    jp('{range .items[*]}{.metadata.name}{"\\t"}{.status.podIP}{"\\n"}{end}'),
    "a\t10.0.0.1\nb\t\n",
  );
  assert.equal(jp("{..podIP}"), "10.0.0.1");
});
