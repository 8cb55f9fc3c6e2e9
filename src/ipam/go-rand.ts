import { RNG_COOKED } from "./go-rand-cooked.ts";

const LEN = 607;
const TAP = 273;
const INT32_MAX = 2147483647;

/** The seed table as 32-bit halves, so the generator runs on plain numbers (BigInt per step is ~50× slower). */
const COOKED_HI = new Uint32Array(LEN);
const COOKED_LO = new Uint32Array(LEN);
RNG_COOKED.forEach((v, i) => {
  const u = BigInt.asUintN(64, v);
  COOKED_HI[i] = Number(u >> 32n);
  COOKED_LO[i] = Number(u & 0xffffffffn);
});

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
 * same numbers to give each node the block Calico would. 64-bit words are kept as two uint32 halves.
 */
export class GoRand {
  private readonly hi = new Uint32Array(LEN);
  private readonly lo = new Uint32Array(LEN);
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
        // u = x1<<40 ^ x2<<20 ^ x3 (x < 2^31), truncated to 64 bits, then ^ cooked[i].
        const x1 = x;
        x = seedrand(x);
        const x2 = x;
        x = seedrand(x);
        const x3 = x;
        const hi = ((x1 << 8) ^ (x2 >>> 12)) >>> 0;
        const lo = ((x2 << 20) ^ x3) >>> 0;
        this.hi[i] = (hi ^ COOKED_HI[i]!) >>> 0;
        this.lo[i] = (lo ^ COOKED_LO[i]!) >>> 0;
      }
    }
  }

  /** Advances the generator; returns the new 64-bit word's index in the state. */
  private step(): number {
    this.tap = this.tap === 0 ? LEN - 1 : this.tap - 1;
    this.feed = this.feed === 0 ? LEN - 1 : this.feed - 1;
    const f = this.feed;
    const t = this.tap;
    const lo = this.lo[f]! + this.lo[t]!;
    this.lo[f] = lo >>> 0;
    this.hi[f] = (this.hi[f]! + this.hi[t]! + (lo > 0xffffffff ? 1 : 0)) >>> 0;
    return f;
  }

  int63(): bigint {
    const f = this.step();
    return (BigInt(this.hi[f]! & 0x7fffffff) << 32n) | BigInt(this.lo[f]!);
  }

  /** uint32(Int63() >> 31). */
  uint32(): number {
    const f = this.step();
    return (((this.hi[f]! & 0x7fffffff) << 1) | (this.lo[f]! >>> 31)) >>> 0;
  }

  /** big.Int.Rand: uniform in [0, limit), drawn as Go does on a 64-bit machine (64-bit words, rejection). */
  bigIntBelow(limit: bigint): bigint {
    if (limit <= 0n) return 0n;
    const bits = limit.toString(2).length;
    const words = Math.ceil(bits / 64);
    const topBits = bits % 64 === 0 ? 64 : bits % 64;
    if (words === 1 && topBits <= 32) {
      // Common case (a pool of at most 2^32 blocks): only the low word's low half survives the mask.
      const mask = topBits === 32 ? 0xffffffff : 2 ** topBits - 1;
      const lim = Number(limit);
      while (true) {
        const low = this.uint32();
        this.uint32();
        const v = (low & mask) >>> 0;
        if (v < lim) return BigInt(v);
      }
    }
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
