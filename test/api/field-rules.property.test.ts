/**
 * ConfigMap/Secret keys and named ports (IANA_SVC_NAME) against oracles written from Kubernetes' rules in plain
 * loops, on random strings biased towards the edge cases ('.', '..', '-', '_', length 15/253). Both the rule
 * functions and the whole decode (prepareObject) must agree with the oracle. Seeded; prints seed and count.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { findKind, prepareObject } from "../../src/api/index.ts";
import { configKeyProblems, portNameProblems } from "../../src/api/kinds/k8s-field-rules.ts";
import { ValidationError } from "../../src/lib/index.ts";

const SEED = Number(process.env.FIELD_RULES_SEED ?? 16016);
const RUNS = Number(process.env.FIELD_RULES_RUNS ?? 400);

function oracleConfigKey(k: string): boolean {
  if (k.length === 0 || k.length > 253) return false;
  for (const ch of k) {
    const ok = ch === "-" || ch === "." || ch === "_" || /^[a-zA-Z0-9]$/.test(ch);
    if (!ok) return false;
  }
  return k !== "." && k !== ".." && !k.startsWith("..");
}

function oraclePortName(p: string): boolean {
  if (p.length === 0 || p.length > 15) return false;
  let letter = false;
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    const lower = ch >= "a" && ch <= "z";
    if (!(lower || (ch >= "0" && ch <= "9") || ch === "-")) return false;
    if (lower) letter = true;
    if (ch === "-" && (i === 0 || i === p.length - 1 || p[i + 1] === "-")) return false;
  }
  return letter;
}

const pieces = fc.constantFrom(
  ".",
  "..",
  "-",
  "_",
  "a",
  "Z",
  "0",
  "/",
  " ",
  "é",
  "\n",
  "x".repeat(14),
  "k".repeat(250),
);
const edgy = fc.array(pieces, { maxLength: 6 }).map((a) => a.join(""));
const anyKey = fc.oneof(edgy, fc.string({ maxLength: 20 }));

test(`config keys and port names agree with the oracles (seed ${SEED}, ${RUNS} runs each)`, () => {
  console.log(`# field rules: seed ${SEED}, ${RUNS} runs per property`);
  fc.assert(
    fc.property(anyKey, (k) => {
      assert.equal(configKeyProblems(k).length === 0, oracleConfigKey(k), JSON.stringify(k));
    }),
    { seed: SEED, numRuns: RUNS },
  );
  fc.assert(
    fc.property(anyKey, (p) => {
      assert.equal(portNameProblems(p).length === 0, oraclePortName(p), JSON.stringify(p));
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test(`a ConfigMap decodes iff every key is valid (seed ${SEED}, ${RUNS} runs)`, () => {
  const def = findKind("v1", "ConfigMap")!;
  fc.assert(
    fc.property(fc.uniqueArray(anyKey, { maxLength: 4 }), (keys) => {
      const data = Object.fromEntries(keys.map((k) => [k, "v"]));
      const o = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "default" }, data };
      const valid = keys.every(oracleConfigKey);
      let refused: unknown;
      try {
        prepareObject(def, o);
      } catch (e) {
        refused = e;
      }
      assert.equal(refused === undefined, valid, `${JSON.stringify(keys)}: ${String(refused)}`);
      if (refused) assert.ok(refused instanceof ValidationError, String(refused));
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
