import assert from "node:assert/strict";
import { test } from "node:test";
import { pairWithRow } from "../../bench/anchors.ts";
import { CALIBRATION_ITERATIONS, calibrate, hashLoop } from "../../bench/calibrate.ts";
import { foldRuns, formatMs, markdownTable, median, type Sample } from "../../bench/record.ts";

/** The calibration loop written the slow, obvious way (BigInt, mod 2³²), to check the fast one against. */
function hashLoopReference(iterations: number, seed = 0x9e3779b9): number {
  const M = 2n ** 32n;
  let h = BigInt(seed >>> 0);
  for (let i = 0; i < iterations; i++) {
    h = ((h ^ BigInt(i)) * 0x85ebca6bn) % M;
    h ^= h >> 13n;
  }
  return Number(h);
}

test("the calibration loop computes the integer hash it documents", () => {
  for (const n of [0, 1, 2, 17, 1000, 54_321]) assert.equal(hashLoop(n), hashLoopReference(n), `n=${n}`);
  assert.equal(hashLoop(500, 7), hashLoopReference(500, 7));
  const c = calibrate(10_000);
  assert.equal(c.hash, hashLoopReference(10_000));
  assert.ok(c.cpuMs >= 0 && c.wallMs >= 0);
  assert.equal(CALIBRATION_ITERATIONS, 50_000_000);
});

test("median of odd and even counts, unsorted input untouched", () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]), /median of no values/);
});

function sample(run: number, what: string, ms: number, more: Partial<Sample> = {}): Sample {
  return { section: "s", run, what, count: 100, ms, extra: `run ${run}`, ...more };
}

test("runs fold into one row per measurement, in first-seen order, notes from the median run", () => {
  const rows = foldRuns([
    sample(0, "b", 30, { anchor: { what: "kubectl", ms: 10 } }),
    sample(0, "a", 1),
    sample(1, "b", 10, { anchor: { what: "kubectl", ms: 5 } }),
    sample(1, "a", 2),
    sample(2, "b", 20, { anchor: { what: "kubectl", ms: 4 } }),
  ]);
  assert.deepEqual(
    rows.map((r) => r.what),
    ["b", "a"],
  );
  const [b, a] = rows;
  assert.deepEqual(b!.ms, [30, 10, 20]);
  assert.equal(b!.extra, "run 2");
  assert.equal(b!.anchorWhat, "kubectl");
  assert.deepEqual(b!.anchorMs, [10, 5, 4]);
  assert.deepEqual(b!.ratios, [3, 2, 5]);
  assert.equal(b!.perObject, false);
  assert.deepEqual(a!.ratios, []);
  const table = markdownTable(rows).split("\n");
  assert.equal(table.length, 4);
  assert.equal(
    table[2],
    "| s | b | 100 | 20.0 ms | 10.0–30.0 ms ±50% | 5,000/s | kubectl: 5.00 ms | 3.0× | run 2 |",
  );
  assert.equal(table[3], "| s | a | 100 | 1.50 ms | 1.00–2.00 ms ±33% | 66,667/s |  |  | run 0 |");
});

test("an anchor with a count compares per object; one run says so; pipes in notes are escaped", () => {
  const [r] = foldRuns([
    sample(0, "x", 100, { count: 1000, extra: "a|b", anchor: { what: "naive", ms: 50, count: 100 } }),
  ]);
  assert.equal(r!.perObject, true);
  assert.deepEqual(r!.ratios, [0.2]);
  assert.equal(
    markdownTable([r!]).split("\n")[2],
    "| s | x | 1000 | 100 ms | (1 run) | 10,000/s | naive: 50.0 ms for 100 | 0.20× per object | a\\|b |",
  );
});

test("formatMs keeps three significant figures or whole milliseconds", () => {
  assert.equal(formatMs(1234.4), "1,234 ms");
  assert.equal(formatMs(123.6), "124 ms");
  assert.equal(formatMs(12.34), "12.3 ms");
  assert.equal(formatMs(1.234), "1.23 ms");
});

test("pairWithRow gives each row the nearest anchor row before it, else the first after it", () => {
  const s = [
    sample(0, "index first", 5),
    sample(0, "naive A", 50, { count: 10 }),
    sample(0, "index A", 5),
    sample(0, "skip me", 1),
    sample(0, "naive B", 80, { count: 20 }),
    sample(0, "index B", 8, { anchor: { what: "own", ms: 1 } }),
    sample(0, "index C", 9),
  ];
  pairWithRow(
    s,
    (w) => w.startsWith("naive"),
    (w) => w !== "skip me",
  );
  assert.deepEqual(
    s.map((x) => x.anchor?.what),
    ["naive A", undefined, "naive A", undefined, undefined, "own", "naive B"],
  );
  assert.deepEqual(s[6]!.anchor, { what: "naive B", ms: 80, count: 20 });
});

test("small ratios keep two significant figures", () => {
  const [r] = foldRuns([sample(0, "m", 1, { count: 1000, anchor: { what: "naive", ms: 6000, count: 2 } })]);
  assert.match(markdownTable([r!]).split("\n")[2]!, /\| 3\.3e-7× per object \|/);
  const [q] = foldRuns([sample(0, "m", 3, { anchor: { what: "a", ms: 100 } })]);
  assert.match(markdownTable([q!]).split("\n")[2]!, /\| 0\.03× \|/);
});
