import { type Cidr, familyBits, networkAddress } from "../net/index.ts";
import { fnv1Hash32 } from "./fnv.ts";
import { GoRand } from "./go-rand.ts";

/**
 * The order in which a host tries a pool's blocks (Calico's randomBlockGenerator): start at a pseudo-random
 * block seeded by FNV-32 of the hostname, so a host keeps getting the same block and different hosts spread
 * out; then walk forward, wrapping, visiting every block once. Single-address blocks use the clock instead,
 * as Calico does, because there the same-host stickiness buys nothing.
 */
export function* blockWalk(
  pool: Cidr,
  blockSize: number,
  host: string,
  nowNanos = (): bigint => 0n,
): Generator<Cidr> {
  const bits = familyBits(pool.family);
  const numBlocks = 1n << BigInt(blockSize - pool.prefix);
  const blockAddresses = 1n << BigInt(bits - blockSize);
  const seed = blockSize === bits ? nowNanos() : BigInt(fnv1Hash32(host));
  const start = new GoRand(seed).bigIntBelow(numBlocks);
  const base = networkAddress(pool);
  let i = start;
  for (let n = 0n; n < numBlocks; n++) {
    yield { family: pool.family, value: base + i * blockAddresses, prefix: blockSize };
    i = i + 1n >= numBlocks ? 0n : i + 1n;
  }
}

/** The block of `pool` (with `blockSize`) that contains `address`. */
export function blockContaining(pool: Cidr, blockSize: number, address: bigint): Cidr {
  const hostBits = BigInt(familyBits(pool.family) - blockSize);
  return { family: pool.family, value: (address >> hostBits) << hostBits, prefix: blockSize };
}
