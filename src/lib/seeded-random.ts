/**
 * mulberry32: a small seeded generator whose whole state is one 32-bit number, so the sim can save it with the
 * cluster and a test or benchmark can replay a run from its seed.
 */
export class SeededRandom {
  constructor(public state: number) {}

  /** The next number in [0, 1). */
  next = (): number => {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator as a function: `const random = seededRandom(42); random()`. */
export function seededRandom(seed: number): () => number {
  return new SeededRandom(seed).next;
}
