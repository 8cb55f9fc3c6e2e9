import { type Cidr, cidrContainsIp, type IpFamily } from "../net/index.ts";
import type { Labels } from "../selector/index.ts";
import { Block, type BlockSpec, blockCidr } from "./block.ts";
import { type Affinity, affinityString } from "./names.ts";
import { type AllowedUse, choosePools, type PoolInfo } from "./pools.ts";
import type { AddressFilter } from "./reservations.ts";

/** True when a pool of `pools` contains the block. */
export function insidePools(pools: PoolInfo[], c: Cidr): boolean {
  for (const p of pools) if (cidrContainsIp(p.cidr, c)) return true;
  return false;
}

/** The CIDRs of a host's affinities (as `affinityCidrs` gives them) of one family, in the order given. */
export function blocksOfFamily(cidrTexts: string[], version: IpFamily): Cidr[] {
  const out: Cidr[] = [];
  for (const text of cidrTexts) {
    const c = blockCidr(text);
    if (c && c.family === version) out.push(c);
  }
  return out;
}

/** What an allocation reads besides blocks and affinities, as the lean path remembers it. */
export interface LeanInputs {
  reservations: AddressFilter;
  pools: PoolInfo[];
  nodeLabels: Labels;
}

export interface LeanRequest {
  affinity: Affinity;
  version: IpFamily;
  num: number;
  requested: Cidr[];
  use: AllowedUse;
  namespaceLabels: Labels | undefined;
  /** CIDR texts of the host's affinities, in the order the full path takes them (by affinity name). */
  affinityCidrs: string[];
}

/** Ipam's caches, as the lean path reads them. */
export interface LeanCache {
  /** The state of the host's cached affinity for a block (as the full path looks it up); null if there is none. */
  affinityState(affinity: Affinity, cidr: Cidr): string | undefined | null;
  /** The cached block, or undefined if the cache has none. */
  block(cidr: Cidr): BlockSpec | undefined;
}

/**
 * The lean path's decision, made from cached state without any I/O: the affine block the full path (Ipam's
 * autoAssignFamily → findOrClaimBlock → getBlockFromAffinity) would pick, provided it serves the whole request
 * and the full path would write nothing but the handle and that block on the way there. Undefined whenever the
 * full path would do anything else (fail, give up a stale or foreign affinity, re-confirm one, read a block the
 * cache lacks, spread the request over several blocks, claim or borrow a block); then the full path runs.
 */
export function leanBlock(inputs: LeanInputs, req: LeanRequest, cache: LeanCache): Cidr | undefined {
  const enabled: PoolInfo[] = [];
  for (const p of inputs.pools) if (!p.disabled && p.cidr.family === req.version) enabled.push(p);
  let matching: PoolInfo[];
  try {
    matching = choosePools(enabled, req.requested, inputs.nodeLabels, req.namespaceLabels);
  } catch {
    return undefined;
  }
  const pools: PoolInfo[] = [];
  for (const p of matching) if (p.allowedUses.includes(req.use)) pools.push(p);
  if (pools.length === 0) return undefined;
  const affBlocks = blocksOfFamily(req.affinityCidrs, req.version);
  const allowed: Cidr[] = [];
  for (const c of affBlocks) {
    if (insidePools(pools, c)) allowed.push(c);
    else if (!insidePools(matching, c)) return undefined; // the full path gives that block up first
  }
  const mine = affinityString(req.affinity);
  for (const cidr of allowed) {
    if (inputs.reservations.coversCidr(cidr)) continue;
    const state = cache.affinityState(req.affinity, cidr);
    if (state === null) continue;
    const spec = cache.block(cidr);
    if (!spec || spec.affinity !== mine) return undefined;
    if (state !== "confirmed" && state !== "") return undefined;
    const block = new Block(spec);
    const free = block.numFree(inputs.reservations);
    if (free < 1) continue;
    if (free < req.num) return undefined;
    return cidr;
  }
  return undefined;
}
