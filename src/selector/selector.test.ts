import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseSelector, tokenize, tryParseSelector } from "./index.ts";

interface Vectors {
  vectors: { selector: string; labels?: Record<string, string>; expected?: boolean; error?: boolean }[];
  derivedVectors: {
    selector: string;
    labels?: Record<string, string>;
    expected?: boolean;
    error?: boolean;
  }[];
  canonicalisation: { selector: string; canonical: string; uniqueId?: string }[];
  derivedCanonicalisation: { selector: string; canonical: string; uniqueId?: string }[];
  tokenizerOk: { input: string; tokens: string[] }[];
}

const vectors: Vectors = JSON.parse(
  readFileSync(new URL("../../test/fixtures/selector_vectors.json", import.meta.url), "utf8"),
);

for (const [name, list] of [
  ["upstream", vectors.vectors],
  ["derived", vectors.derivedVectors],
] as const) {
  test(`selector ${name} vectors: match, non-match and syntax errors`, () => {
    for (const v of list) {
      const r = tryParseSelector(v.selector);
      if (v.error) {
        assert.ok(r.error, `expected a syntax error for ${JSON.stringify(v.selector)}`);
        continue;
      }
      assert.ok(r.selector, `${JSON.stringify(v.selector)} should parse: ${r.error}`);
      assert.equal(
        r.selector.matches(v.labels ?? {}),
        v.expected,
        `${v.selector} on ${JSON.stringify(v.labels)}`,
      );
      // The canonical form must mean the same thing.
      const again = parseSelector(r.selector.toString());
      assert.equal(again.matches(v.labels ?? {}), v.expected, `canonical ${again}`);
      assert.equal(again.uniqueId(), r.selector.uniqueId());
    }
  });
}

test("selector canonical forms and unique IDs", () => {
  for (const c of [...vectors.canonicalisation, ...vectors.derivedCanonicalisation]) {
    const s = parseSelector(c.selector);
    assert.equal(s.toString(), c.canonical, JSON.stringify(c.selector));
    if (c.uniqueId) assert.equal(s.uniqueId(), c.uniqueId, c.selector);
  }
});

test("tokenizer accepts the upstream token-only inputs", () => {
  for (const t of vectors.tokenizerOk) {
    assert.equal(tokenize(t.input).length, t.tokens.length, t.input);
  }
});

test("newlines are not whitespace; the seed selectors parse", () => {
  assert.ok(tryParseSelector('a == "b"\n').error);
  const sel = parseSelector(
    'has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system", "calico-system", "calico-apiserver"}',
  );
  assert.ok(sel.matches({ "projectcalico.org/name": "yaobank" }));
  assert.ok(!sel.matches({ "projectcalico.org/name": "kube-system" }));
  assert.ok(!parseSelector("!all()").matches({ a: "b" }));
});
