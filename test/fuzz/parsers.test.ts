import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { CliHarness } from "../cli/harness.ts";
import { checkCase, FUZZ_SEED, type FuzzStats, hostileToken, nest, report, word } from "./fuzz-harness.ts";

// Fuzzing the YAML codec, selectors (calicoq eval, a GlobalNetworkPolicy's spec.selector), label selectors
// (kubectl get -l) and CIDRs (IPPool spec.cidr) through the CLI. TORTIE_FUZZ_SEED overrides the seed.

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  const setup =
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: default-ipv4-ippool\nspec:\n  cidr: 198.19.16.0/21\n";
  assert.equal((await h.run("calicoctl apply -f -", setup)).code, 0);
});

const yamlScalar = fc.oneof(
  word,
  fc.integer().map(String),
  fc.double().map(String),
  word.map((w) => JSON.stringify(w)),
  word.map((w) => `'${w.replace(/'/g, "''")}'`),
);

/** A manifest-shaped YAML text with hostile pieces in keys, values and structure. */
const manifest = fc
  .tuple(
    fc.constantFrom("v1", "projectcalico.org/v3", "apps/v1", "", "v2"),
    fc.constantFrom("ConfigMap", "Namespace", "IPPool", "Secret", "List", "Gadget", ""),
    yamlScalar,
    fc.array(fc.tuple(yamlScalar, yamlScalar), { maxLength: 4 }),
    fc.option(fc.tuple(fc.integer({ min: 1, max: 400 }), fc.boolean(), yamlScalar), { nil: undefined }),
    fc.array(hostileToken, { maxLength: 3 }),
    fc.constantFrom("block", "flow", "json"),
  )
  .map(([apiVersion, kind, name, data, deepBit, junk, style]) => {
    const deepText = deepBit ? nest(deepBit[0], JSON.stringify(String(deepBit[2])), deepBit[1]) : undefined;
    if (style === "json")
      return JSON.stringify({
        apiVersion,
        kind,
        metadata: { name, namespace: "default" },
        data: Object.fromEntries(data.map(([k, v]) => [String(k), v])),
      }).replace("}}", `}${deepText ? `,"x":${deepText}` : ""}}`);
    if (style === "flow")
      return `{apiVersion: ${apiVersion}, kind: ${kind}, metadata: {name: ${name}}, data: {${data.map(([k, v]) => `${k}: ${v}`).join(", ")}}${deepText ? `, x: ${deepText}` : ""}} ${junk.join(" ")}`;
    return [
      `apiVersion: ${apiVersion}`,
      `kind: ${kind}`,
      "metadata:",
      `  name: ${name}`,
      "  namespace: default",
      "data:",
      ...data.map(([k, v]) => `  ${k}: ${v}`),
      ...(deepText ? [`x: ${deepText}`] : []),
      ...junk,
    ].join("\n");
  });

/** A valid ConfigMap with at most one hostile value, so some cases are accepted and change the store. */
const validish = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
    fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/), word), { maxLength: 3 }),
  )
  .map(([name, data]) =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "default" },
      data: Object.fromEntries(data),
    }),
  );

const stream = fc
  .tuple(
    fc.array(fc.oneof(manifest, validish), { minLength: 1, maxLength: 3 }),
    fc.constantFrom("\n---\n", "\n...\n", "\n", "---"),
  )
  .map(([docs, sep]) => docs.join(sep));

test("fuzz: the YAML codec through apply/create -f -", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  await fc.assert(
    fc.asyncProperty(
      stream,
      fc.constantFrom("kubectl apply", "kubectl create", "calicoctl apply"),
      async (text, cmd) => {
        await checkCase(h, [...cmd.split(" "), "-f", "-"], text, stats);
      },
    ),
    { seed: FUZZ_SEED, numRuns: 300 },
  );
  report(t, "yaml codec", stats);
});

const selectorPiece = fc.oneof(
  fc.constantFrom(
    "all()",
    "global()",
    "has(a)",
    "!has(x/y)",
    "a == 'x'",
    'b != "y"',
    "c in {'1','2'}",
    "d not in {}",
    "e contains 'q'",
    "f starts with 'p'",
    "g ends with 's'",
    "&&",
    "||",
    "!",
    "(",
    ")",
    "{",
    "}",
    ",",
    "'",
    '"',
    "==",
  ),
  word,
);

const selector = fc.oneof(
  fc.array(selectorPiece, { maxLength: 8 }).map((p) => p.join(" ")),
  fc
    .tuple(fc.integer({ min: 0, max: 2000 }), selectorPiece)
    .map(([n, p]) => `${"(".repeat(n)}${p}${")".repeat(n)}`),
  fc
    .tuple(fc.integer({ min: 0, max: 3000 }), fc.constantFrom("!", "&& a == 'x'", "|| has(b)"))
    .map(([n, p]) => `has(a) ${p.repeat(n)}`),
);

test("fuzz: Calico selectors through calicoq eval and a policy's selector", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  await fc.assert(
    fc.asyncProperty(selector, fc.boolean(), async (sel, calicoq) => {
      if (calicoq) await checkCase(h, ["calicoq", "eval", sel], "", stats);
      else {
        // calicoctl get has no -l: a selector reaches calicoctl through a manifest, validated on apply.
        const policy = `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: fuzz\nspec:\n  selector: ${JSON.stringify(sel)}\n`;
        await checkCase(h, ["calicoctl", "apply", "-f", "-"], policy, stats);
      }
    }),
    { seed: FUZZ_SEED, numRuns: 300 },
  );
  report(t, "selectors", stats);
});

const labelSelector = fc
  .array(
    fc.oneof(
      fc.constantFrom("a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", ",", "(", ")", "=", "!"),
      word,
    ),
    { maxLength: 6 },
  )
  .map((p) => p.join(fc.sample(fc.constantFrom("", ",", " "), { seed: p.length, numRuns: 1 })[0]));

test("fuzz: label selectors through kubectl get -l", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  await fc.assert(
    fc.asyncProperty(labelSelector, fc.constantFrom("cm", "ns", "pods"), async (sel, kind) => {
      await checkCase(h, ["kubectl", "get", kind, "-l", sel], "", stats);
    }),
    { seed: FUZZ_SEED, numRuns: 200 },
  );
  report(t, "label selectors", stats);
});

const octet = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.constantFrom("256", "01", "00", "-1", "999999999999", "", "0x10", " 1"),
);
const cidr = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 1, max: 223 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
    )
    .map(([a, b, c]) => `${a}.${b}.${c}.0/24`),
  fc
    .tuple(octet, octet, octet, octet, fc.oneof(fc.integer({ min: -1, max: 40 }).map(String), word))
    .map(([a, b, c, d, m]) => `${a}.${b}.${c}.${d}/${m}`),
  fc
    .tuple(fc.ipV6(), fc.oneof(fc.integer({ min: 0, max: 130 }).map(String), word))
    .map(([ip, m]) => `${ip}/${m}`),
  fc.tuple(fc.ipV4(), fc.integer({ min: 96, max: 128 })).map(([ip, m]) => `::ffff:${ip}/${m}`),
  word,
);

test("fuzz: CIDRs through an IPPool's spec.cidr", async (t) => {
  const stats: FuzzStats = { cases: 0, failures: 0 };
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      cidr,
      fc.constantFrom("calicoctl apply", "calicoctl create", "kubectl apply"),
      async (c, cmd) => {
        const pool = `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: fuzz-${n++}\nspec:\n  cidr: ${JSON.stringify(c)}\n`;
        await checkCase(h, [...cmd.split(" "), "-f", "-"], pool, stats);
      },
    ),
    { seed: FUZZ_SEED, numRuns: 200 },
  );
  report(t, "cidrs", stats);
});
