import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { cidrContainsCidr, formatCidr, parseCidr } from "../net/index.ts";
import { blockWalk } from "./block-walk.ts";
import { fnv1Hash32 } from "./fnv.ts";
import { GoRand } from "./go-rand.ts";

interface GoVectors {
  walks: {
    host: string;
    pool: string;
    blockSize: number;
    seed: number;
    startIndex: string;
    first: string[];
  }[];
  sequences: { seed: number; int63: string[]; uint32AfterInt63: number[] }[];
  bigRand: { seed: number; limit: string; values: string[] }[];
}
const vectors = JSON.parse(
  readFileSync(new URL("../../test/fixtures/ipam/go_block_walk.json", import.meta.url), "utf8"),
) as GoVectors;

test("GoRand reproduces Go's math/rand Int63 and Uint32 streams (700 draws, past the 607-word state)", () => {
  for (const s of vectors.sequences) {
    const r = new GoRand(s.seed);
    assert.deepEqual(
      s.int63.map(() => r.int63().toString()),
      s.int63,
      `seed ${s.seed}`,
    );
    assert.deepEqual(
      s.uint32AfterInt63.map(() => r.uint32()),
      s.uint32AfterInt63,
    );
  }
});

test("GoRand.bigIntBelow reproduces big.Int.Rand, including multi-word limits", () => {
  for (const v of vectors.bigRand) {
    const r = new GoRand(v.seed);
    const limit = BigInt(v.limit);
    assert.deepEqual(
      v.values.map(() => r.bigIntBelow(limit).toString()),
      v.values,
      `limit ${v.limit}`,
    );
  }
});

test("the block walk matches Calico's for every vector host and pool (v4, v6, /32 and /116 blocks)", () => {
  for (const w of vectors.walks) {
    assert.equal(fnv1Hash32(w.host), w.seed, `fnv of ${w.host}`);
    if (w.blockSize === 32) continue; // /32 blocks are seeded from the clock, as in Calico
    const walk = blockWalk(parseCidr(w.pool)!, w.blockSize, w.host);
    const got = w.first.map(() => formatCidr(walk.next().value as never));
    assert.deepEqual(got, w.first, `${w.host} in ${w.pool}`);
  }
});

test("the seed lab's nodes get the blocks the seed shows (control 198.19.21.0/26, node1 .22.128, node2 .21.64)", () => {
  const pool = parseCidr("198.19.16.0/21")!;
  const first = (host: string) => formatCidr(blockWalk(pool, 26, host).next().value as never);
  assert.equal(first("control"), "198.19.21.0/26");
  assert.equal(first("node1"), "198.19.22.128/26");
  assert.equal(first("node2"), "198.19.21.64/26");
});

test("property: a walk yields every block of the pool exactly once, all inside the pool", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({
          prefix: fc.integer({ min: 16, max: 30 }),
          extra: fc.integer({ min: 0, max: 8 }),
          v6: fc.constant(false),
        }),
        fc.record({
          prefix: fc.integer({ min: 100, max: 126 }),
          extra: fc.integer({ min: 0, max: 8 }),
          v6: fc.constant(true),
        }),
      ),
      fc.string({ minLength: 1, maxLength: 20 }),
      ({ prefix, extra, v6 }, host) => {
        const bits = v6 ? 128 : 32;
        const blockSize = Math.min(prefix + extra, bits);
        const pool = parseCidr(v6 ? `fd00:1234::/${prefix}` : `10.0.0.0/${prefix}`)!;
        const seen = new Set<string>();
        for (const b of blockWalk(pool, blockSize, host, () => 7n)) {
          assert.ok(cidrContainsCidr(pool, b));
          const s = formatCidr(b);
          assert.ok(!seen.has(s), `duplicate ${s}`);
          seen.add(s);
        }
        assert.equal(seen.size, 2 ** (blockSize - prefix));
      },
    ),
    { numRuns: 60 },
  );
});
