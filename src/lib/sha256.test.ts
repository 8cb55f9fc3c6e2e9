import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { sha256Base32, sha256Base32Prefix } from "./hash.ts";
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

test("sha256Base32Prefix equals the full base32 encoding cut to the same length", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme", maxLength: 150 }),
      fc.integer({ min: 0, max: 60 }),
      (text, n) => {
        assert.equal(sha256Base32Prefix(text, n), sha256Base32(text).slice(0, n));
      },
    ),
    { numRuns: 500 },
  );
  assert.equal(sha256Base32Prefix("yaobank/summary:httptcp", 16), "OIQIZJVJK6E34BR4");
});
