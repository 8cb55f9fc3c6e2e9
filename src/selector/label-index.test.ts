import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  canonicalString,
  evaluate,
  LabelIndex,
  parseSelector,
  type SelectorNode,
  withLabelPrefix,
} from "./index.ts";

const names = fc.constantFrom("app", "tier", "env", "a/b");
const values = fc.constantFrom("web", "db", "prod", "", "web-1");
const labels = fc.dictionary(names, values, { maxKeys: 4 });

const selectorNode: fc.Arbitrary<SelectorNode> = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant<SelectorNode>({ op: "all" }),
    names.map<SelectorNode>((label) => ({ op: "has", label })),
    fc
      .tuple(fc.constantFrom("eq", "ne", "contains", "startswith", "endswith" as const), names, values)
      .map<SelectorNode>(([op, label, value]) => ({ op, label, value }) as SelectorNode),
    fc
      .tuple(fc.constantFrom("in", "notin" as const), names, fc.uniqueArray(values, { maxLength: 3 }))
      .map<SelectorNode>(([op, label, vs]) => ({ op, label, values: [...vs].sort() })),
    tie("node").map<SelectorNode>((operand) => ({ op: "not", operand })),
    fc
      .tuple(fc.constantFrom("and", "or" as const), fc.array(tie("node"), { minLength: 2, maxLength: 3 }))
      .map<SelectorNode>(([op, operands]) => ({ op, operands })),
  ),
})).node;

test("the label index answers exactly what evaluating every item answers", () => {
  fc.assert(
    fc.property(fc.array(labels, { maxLength: 25 }), selectorNode, (items, node) => {
      const index = new LabelIndex<number>();
      for (const [i, l] of items.entries()) index.set(i, l);
      const expected = items.flatMap((l, i) => (evaluate(node, l) ? [i] : []));
      assert.deepEqual(
        [...index.query(node)].sort((a, b) => a - b),
        expected,
        canonicalString(node),
      );
    }),
    { numRuns: 500 },
  );
});

test("the label index follows updates and deletions", () => {
  const index = new LabelIndex<string>();
  index.set("p1", { app: "web" });
  index.set("p2", { app: "db" });
  const web = parseSelector("app == 'web'");
  assert.deepEqual([...index.query(web)], ["p1"]);
  index.set("p2", { app: "web" });
  index.delete("p1");
  assert.deepEqual([...index.query(web)], ["p2"]);
  assert.deepEqual([...index.query(parseSelector("!has(app)"))], []);
  assert.equal(index.size, 1);
});

test("label prefixes reach every label a selector reads", () => {
  const s = parseSelector('has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system"}');
  assert.equal(
    canonicalString(withLabelPrefix(s.ast, "pcns.")),
    '(has(pcns.projectcalico.org/name) && pcns.projectcalico.org/name not in {"kube-system"})',
  );
});
