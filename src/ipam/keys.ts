import { findKind, keyFor } from "../api/index.ts";
import type { Cidr } from "../net/index.ts";
import { type Affinity, affinityName, affinityString, cidrToName } from "./names.ts";

const IPAM_BLOCK = findKind("projectcalico.org/v3", "IPAMBlock")!;
const BLOCK_AFFINITY = findKind("projectcalico.org/v3", "BlockAffinity")!;

const blockKeys = new WeakMap<Cidr, string>();
const affinityKeys = new WeakMap<Cidr, Map<string, string>>();

/**
 * Where a block lives. Block CIDRs are interned (blockCidr), so the key is built once per block rather than once
 * per lookup; a CIDR object made elsewhere just gets its own entry.
 */
export function blockKey(cidr: Cidr): string {
  let key = blockKeys.get(cidr);
  if (key === undefined) {
    key = keyFor(IPAM_BLOCK, cidrToName(cidr));
    blockKeys.set(cidr, key);
  }
  return key;
}

/** Where the affinity of `affinity` to the block `cidr` lives (memoised like blockKey). */
export function affinityKey(affinity: Affinity, cidr: Cidr): string {
  let byAffinity = affinityKeys.get(cidr);
  if (byAffinity === undefined) {
    byAffinity = new Map();
    affinityKeys.set(cidr, byAffinity);
  }
  const a = affinityString(affinity);
  let key = byAffinity.get(a);
  if (key === undefined) {
    key = keyFor(BLOCK_AFFINITY, affinityName(affinity, cidr));
    byAffinity.set(a, key);
  }
  return key;
}
