import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DirectoryIndex } from "./directory-index.ts";

const segment = fc.constantFrom("a", "ab", "b", "pods", "ns1", "ns10", "x");
const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join("/")}`);
const prefix = fc
  .tuple(fc.array(segment, { maxLength: 3 }), fc.constantFrom("", "a", "n", "ns1", "p"))
  .map(([dirs, partial]) => `/${dirs.map((d) => `${d}/`).join("")}${partial}`);

test("keysUnder(prefix) returns exactly the keys a full scan with startsWith returns", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), key), { maxLength: 40 }),
      fc.array(prefix, { minLength: 1, maxLength: 5 }),
      (ops, prefixes) => {
        const index = new DirectoryIndex();
        const live = new Set<string>();
        for (const [add, k] of ops) {
          if (add && !live.has(k)) {
            index.add(k);
            live.add(k);
          } else if (!add && live.has(k)) {
            index.remove(k);
            live.delete(k);
          }
        }
        for (const p of prefixes) {
          const expected = [...live].filter((k) => k.startsWith(p)).sort();
          assert.deepEqual([...index.keysUnder(p)].sort(), expected, `prefix ${p}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});
