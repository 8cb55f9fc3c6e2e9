/**
 * A keyed mix of numbers into 32 bits (murmur3's finaliser over each word). The kernel derives initial
 * sequence numbers, IP ids and timestamp offsets from a secret hash of the connection (secure_tcp_seq); the
 * sim does the same from the virtual clock and the tuple, so these values vary like the kernel's without
 * drawing on the seeded generator that NAT and load balancing share.
 */
export function mix32(...words: number[]): number {
  let h = 0x9747b28c;
  for (const w of words) {
    let k = Math.floor(w) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    // Fractions of a millisecond matter too.
    const frac = Math.round((w - Math.floor(w)) * 1e6);
    h ^= frac;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * FNV-1a over five 32-bit words (no array per call): the 5-tuple hash of ECMP (fib.ts flowHash) and of
 * conntrack's table, both on every packet's path.
 */
export function fnv1a5(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(0x811c9dc5 ^ a, 0x01000193);
  h = Math.imul(h ^ b, 0x01000193);
  h = Math.imul(h ^ c, 0x01000193);
  h = Math.imul(h ^ d, 0x01000193);
  return Math.imul(h ^ e, 0x01000193) >>> 0;
}
