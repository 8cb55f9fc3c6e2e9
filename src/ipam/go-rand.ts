import { RNG_COOKED } from "./go-rand-cooked.ts";

const LEN = 607;
const TAP = 273;
const INT32_MAX = 2147483647;
const MASK63 = (1n << 63n) - 1n;

/** x[n+1] = 48271 * x[n] mod (2^31 - 1), in Schrage's form as Go computes it. */
function seedrand(x: number): number {
  const hi = Math.trunc(x / 44488);
  const lo = x % 44488;
  let next = 48271 * lo - 3399 * hi;
  if (next < 0) next += INT32_MAX;
  return next;
}

/**
 * Go's math/rand generator (rand.New(rand.NewSource(seed))): an additive lagged Fibonacci generator seeded
 * from a fixed table. Calico picks the first block a host tries with it, so tortie must produce the very
 * same numbers to give each node the block Calico would.
 */
export class GoRand {
  private readonly vec: bigint[] = new Array<bigint>(LEN);
  private tap = 0;
  private feed = LEN - TAP;

  constructor(seed: bigint | number) {
    let s = BigInt(seed) % BigInt(INT32_MAX); // Go's % keeps the dividend's sign
    if (s < 0n) s += BigInt(INT32_MAX);
    if (s === 0n) s = 89482311n;
    let x = Number(s);
    for (let i = -20; i < LEN; i++) {
      x = seedrand(x);
      if (i >= 0) {
        let u = BigInt(x) << 40n;
        x = seedrand(x);
        u ^= BigInt(x) << 20n;
        x = seedrand(x);
        u ^= BigInt(x);
        u ^= RNG_COOKED[i]!;
        this.vec[i] = BigInt.asIntN(64, u);
      }
    }
  }

  private uint64(): bigint {
    this.tap = this.tap === 0 ? LEN - 1 : this.tap - 1;
    this.feed = this.feed === 0 ? LEN - 1 : this.feed - 1;
    const x = BigInt.asIntN(64, this.vec[this.feed]! + this.vec[this.tap]!);
    this.vec[this.feed] = x;
    return BigInt.asUintN(64, x);
  }

  int63(): bigint {
    return this.uint64() & MASK63;
  }

  uint32(): number {
    return Number(this.int63() >> 31n);
  }

  /** big.Int.Rand: uniform in [0, limit), drawn as Go does on a 64-bit machine (64-bit words, rejection). */
  bigIntBelow(limit: bigint): bigint {
    if (limit <= 0n) return 0n;
    const bits = limit.toString(2).length;
    const words = Math.ceil(bits / 64);
    const topBits = bits % 64 === 0 ? 64 : bits % 64;
    const topMask = (1n << BigInt(topBits)) - 1n;
    while (true) {
      let value = 0n;
      for (let i = 0; i < words; i++) {
        const low = BigInt(this.uint32());
        const high = BigInt(this.uint32());
        let word = low | (high << 32n);
        if (i === words - 1) word &= topMask;
        value |= word << BigInt(64 * i);
      }
      if (value < limit) return value;
    }
  }
}
