import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { CliHarness } from "../cli/harness.ts";
import { checkCase, FUZZ_SEED, type FuzzStats, hostileToken, nest, report, word } from "./fuzz-harness.ts";

// Fuzzing the three patch types (kubectl patch --type merge|json|strategic, calicoctl patch) through the CLI.
// TORTIE_FUZZ_SEED overrides the seed.

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  const setup =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  a: b\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: default\nspec:\n  ports: [{port: 80}]\n";
  assert.equal((await h.run("kubectl apply -f -", setup)).code, 0);
  const pool =
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 198.19.16.0/21\n";
  assert.equal((await h.run("calicoctl apply -f -", pool)).code, 0);
});

const key = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "metadata",
      "data",
      "spec",
      "kind",
      "apiVersion",
      "labels",
      "name",
      "a",
      "ports",
      "port",
      "$patch",
      "status",
    ),
  },
  { weight: 2, arbitrary: word },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype") },
);

const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  word,
  fc.constantFrom("replace", "delete", "merge", 1e308, -0, 2 ** 63),
);

const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.array(fc.tuple(key, tie("v")), { maxLength: 3 }).map((pairs) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of pairs)
        Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
  ),
})).v;

/** Patch text: JSON of a generated value, sometimes very deep, sometimes not JSON at all. */
const patchText = fc.oneof(
  { weight: 5, arbitrary: value.map((v) => JSON.stringify(v) ?? "null") },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 50, max: 5000 }), fc.boolean())
      .map(([n, m]) => `{"data":${nest(n, "1", m)}}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "null",
      "[]",
      '"str"',
      "1",
      "true",
      '{"metadata":null}',
      '{"metadata":{"name":"other"}}',
      '{"metadata":{"namespace":"kube-system"}}',
      "{",
      "",
    ),
  },
  { weight: 1, arbitrary: hostileToken },
);

const segment = fc.oneof(
  fc.constantFrom(
    "metadata",
    "data",
    "spec",
    "labels",
    "name",
    "ports",
    "0",
    "1",
    "-",
    "a",
    "__proto__",
    "constructor",
    "prototype",
    "~0",
    "~1",
    "",
    "00",
    "-1",
  ),
  word.map((w) => w.replace(/~/g, "~0").replace(/\//g, "~1")),
);
const pointer = fc.array(segment, { maxLength: 4 }).map((s) => (s.length ? `/${s.join("/")}` : ""));
const op = fc.record(
  {
    op: fc.constantFrom("add", "remove", "replace", "move", "copy", "test", "bogus"),
    path: fc.oneof(pointer, word),
    from: pointer,
    value,
  },
  { requiredKeys: ["op", "path"] },
);
const jsonPatchText = fc.oneof(
  { weight: 6, arbitrary: fc.array(op, { maxLength: 4 }).map((ops) => JSON.stringify(ops)) },
  { weight: 1, arbitrary: patchText },
);

test("fuzz: kubectl patch --type merge|strategic|json", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("merge", "strategic", "json"),
      fc.constantFrom("cm c", "svc s", "ns default"),
      patchText,
      jsonPatchText,
      async (type, target, p, jp) => {
        await checkCase(
          h,
          ["kubectl", "patch", ...target.split(" "), "--type", type, "-p", type === "json" ? jp : p],
          "",
          stats,
        );
      },
    ),
    { seed: FUZZ_SEED, numRuns: 400 },
  );
  report(t, "kubectl patch", stats);
});

test("fuzz: calicoctl patch (merge and json)", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  await fc.assert(
    fc.asyncProperty(fc.constantFrom("merge", "json"), patchText, jsonPatchText, async (type, p, jp) => {
      await checkCase(
        h,
        ["calicoctl", "patch", "ippool", "p", "--type", type, "-p", type === "json" ? jp : p],
        "",
        stats,
      );
    }),
    { seed: FUZZ_SEED, numRuns: 200 },
  );
  report(t, "calicoctl patch", stats);
});
