import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { sha256 } from "./sha256.ts";

test("sha256 equals node:crypto for any string, across block boundaries and in UTF-8", () => {
  for (const text of [
    "",
    "abc",
    "a".repeat(55),
    "a".repeat(56),
    "a".repeat(64),
    "a".repeat(119),
    "ünïcødé ✓",
  ])
    assert.equal(
      Buffer.from(sha256(text)).toString("hex"),
      createHash("sha256").update(text).digest("hex"),
      text,
    );
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (text) => {
      assert.equal(
        Buffer.from(sha256(text)).toString("hex"),
        createHash("sha256").update(text).digest("hex"),
      );
    }),
    { numRuns: 500 },
  );
});
