import { type Cidr, cidrContainsIp, familyBits, formatIp, type IpAddress, parseCidr } from "../net/index.ts";
import { type Affinity, affinityString, sanitizeHandle } from "./names.ts";
import type { AddressFilter } from "./reservations.ts";

/** One allocation's metadata, as Calico stores it in a block (`handle_id` and `secondary` are its JSON names). */
export interface AllocationAttribute {
  handle_id?: string;
  secondary?: Record<string, string>;
}

/** The spec of an IPAMBlock object, field for field as Calico writes it. */
export interface BlockSpec {
  cidr: string;
  affinity?: string;
  affinityClaimTime?: string;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[];
  strictAffinity: boolean;
  sequenceNumber: number;
  sequenceNumberForAllocation: Record<string, number>;
  deleted: boolean;
}

export interface ReleaseRequest {
  address: string;
  /** Release only if the address is still held by this handle. */
  handle?: string;
  /** Release only if the allocation still has this sequence number. */
  sequenceNumber?: number;
}

/** A precondition of a release did not hold; nothing in the block was released. */
export class ReleaseConflict extends Error {}

export function newBlockSpec(
  cidr: Cidr,
  affinity: Affinity,
  claimTime: string,
  sequenceNumber: number,
): BlockSpec {
  const size = 2 ** (familyBits(cidr.family) - cidr.prefix);
  return {
    cidr: `${formatIp(cidr)}/${cidr.prefix}`,
    affinity: affinityString(affinity),
    affinityClaimTime: claimTime,
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    strictAffinity: false,
    sequenceNumber,
    sequenceNumberForAllocation: {},
    deleted: false,
  };
}

/** formatIp, with IPv4 (every pod address of an IPv4 pool) printed without BigInt arithmetic. */
export function ipText(ip: IpAddress): string {
  if (ip.family !== 4) return formatIp(ip);
  const v = Number(ip.value);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const parsedCidrs = new Map<string, Cidr>();

/** parseCidr, memoised: the same few thousand block CIDRs are parsed on every operation otherwise. */
export function blockCidr(text: string): Cidr | undefined {
  let c = parsedCidrs.get(text);
  if (c === undefined) {
    c = parseCidr(text);
    if (c === undefined) return undefined;
    if (parsedCidrs.size > 100_000) parsedCidrs.clear();
    parsedCidrs.set(text, c);
  }
  return c;
}

/**
 * A copy to change, cheap enough to take before every change (the cached spec may be the store's own). Every
 * array and map a Block changes is copied; the attribute objects themselves are shared with the original,
 * because nothing changes an attribute in place (Block adds new ones and drops old ones). Sharing them is what
 * keeps each stored version of a block small: the store's history holds every version until it is compacted.
 */
export function cloneBlockSpec(b: BlockSpec): BlockSpec {
  return {
    ...b,
    allocations: b.allocations.slice(),
    unallocated: b.unallocated.slice(),
    attributes: b.attributes.slice(),
    sequenceNumberForAllocation: { ...b.sequenceNumberForAllocation },
  };
}

/** Calico's allocation-block operations over a BlockSpec, which they mutate in place. */
export class Block {
  readonly spec: BlockSpec;
  readonly cidr: Cidr;

  constructor(spec: BlockSpec) {
    this.spec = spec;
    const cidr = blockCidr(spec.cidr);
    if (!cidr) throw new Error(`IPAM block has an invalid cidr ${JSON.stringify(spec.cidr)}`);
    this.cidr = cidr;
  }

  get size(): number {
    return this.spec.allocations.length;
  }

  ordinalToIp(ordinal: number): IpAddress {
    return { family: this.cidr.family, value: this.cidr.value + BigInt(ordinal) };
  }

  ipToOrdinal(ip: IpAddress): number | undefined {
    if (!cidrContainsIp(this.cidr, ip)) return undefined;
    return Number(ip.value - this.cidr.value);
  }

  affinityMatches(a: Affinity): boolean {
    return this.spec.affinity === affinityString(a);
  }

  numFree(reservations: AddressFilter): number {
    if (reservations.coversCidr(this.cidr)) return 0;
    if (!reservations.overlapsCidr(this.cidr)) return this.spec.unallocated.length;
    let n = 0;
    for (const ord of this.spec.unallocated) if (!reservations.matchesIp(this.ordinalToIp(ord))) n++;
    return n;
  }

  /** No addresses in use (Windows-reserved addresses do not count, as in Calico). */
  isEmpty(): boolean {
    for (const idx of this.spec.allocations) {
      if (idx === null) continue;
      if (this.spec.attributes[idx]?.handle_id?.toLowerCase() !== "windows-reserved-ipam-handle")
        return false;
    }
    return true;
  }

  inUse(): number {
    return this.size - this.spec.unallocated.length;
  }

  /**
   * Takes up to `num` addresses from the front of the free list, skipping reserved ones (which keep their
   * place). With `affinityCheck`, only a block affine to `affinity` may be used.
   */
  autoAssign(
    num: number,
    handleId: string | undefined,
    attrs: Record<string, string> | undefined,
    affinity: Affinity,
    affinityCheck: boolean,
    reservations: AddressFilter,
  ): IpAddress[] {
    if (affinityCheck && this.spec.affinity !== undefined && !this.affinityMatches(affinity))
      throw new Error(
        `Block affinity (${this.spec.affinity}) does not match provided (${affinity.host}:${affinity.type})`,
      );
    if (affinityCheck && this.spec.affinity === undefined)
      throw new Error(`Attempt to assign from block ${this.spec.cidr} with no affinity`);
    const ips: IpAddress[] = [];
    const free = this.spec.unallocated;
    if (reservations.isEmpty) {
      // Nothing reserved: the first `num` free ordinals, exactly what the loop below picks when no address matches.
      const take = Math.min(num, free.length);
      if (take === 0) return ips;
      const attrIndex = this.findOrAddAttribute(handleId, attrs);
      for (let i = 0; i < take; i++) {
        const ordinal = free[i]!;
        this.spec.allocations[ordinal] = attrIndex;
        this.spec.sequenceNumberForAllocation[String(ordinal)] = this.spec.sequenceNumber;
        ips.push(this.ordinalToIp(ordinal));
      }
      this.spec.unallocated = free.slice(take);
      return ips;
    }
    const keep: number[] = [];
    let attrIndex: number | undefined;
    for (let i = 0; i < free.length; i++) {
      const ordinal = free[i]!;
      if (ips.length >= num) {
        for (let j = i; j < free.length; j++) keep.push(free[j]!);
        break;
      }
      const ip = this.ordinalToIp(ordinal);
      if (reservations.matchesIp(ip)) {
        keep.push(ordinal);
        continue;
      }
      attrIndex ??= this.findOrAddAttribute(handleId, attrs);
      this.spec.allocations[ordinal] = attrIndex;
      this.spec.sequenceNumberForAllocation[String(ordinal)] = this.spec.sequenceNumber;
      ips.push(ip);
    }
    this.spec.unallocated = keep;
    return ips;
  }

  /** Assigns one given address; throws "Address already assigned in block" if it is taken. */
  assign(
    ip: IpAddress,
    handleId: string | undefined,
    attrs: Record<string, string> | undefined,
    affinity: Affinity,
    affinityCheck: boolean,
  ): void {
    if (affinityCheck && this.spec.affinity !== undefined && !this.affinityMatches(affinity))
      throw new Error("Block host affinity does not match");
    if (affinityCheck && this.spec.affinity === undefined)
      throw new Error(`Attempt to assign from block ${this.spec.cidr} with no affinity`);
    const ordinal = this.ipToOrdinal(ip);
    if (ordinal === undefined) throw new Error(`IP ${formatIp(ip)} is not in block ${this.spec.cidr}`);
    if (this.spec.allocations[ordinal] !== null) throw new AddressInUse(formatIp(ip));
    this.spec.sequenceNumberForAllocation[String(ordinal)] = this.spec.sequenceNumber;
    this.spec.allocations[ordinal] = this.findOrAddAttribute(handleId, attrs);
    const at = this.spec.unallocated.indexOf(ordinal);
    if (at !== -1) this.spec.unallocated.splice(at, 1);
  }

  /**
   * Releases addresses. Preconditions (handle, sequence number) are checked for every address first; if any
   * fails, nothing changes. Released ordinals go to the back of the free list, so reuse is FIFO. Returns the
   * addresses that were not allocated and how many addresses each handle gave back.
   */
  release(requests: ReleaseRequest[]): { unallocated: string[]; countByHandle: Map<string, number> } {
    const unallocated: string[] = [];
    const countByHandle = new Map<string, number>();
    const byAddress = new Map<string, { req: ReleaseRequest; ordinal: number }>();
    for (const req of requests) {
      const ip = parseIpOrThrow(req.address);
      const ordinal = this.ipToOrdinal(ip);
      if (ordinal === undefined) throw new Error(`IP ${req.address} is not in block ${this.spec.cidr}`);
      byAddress.set(formatIp(ip), { req, ordinal });
    }
    const ordinals: number[] = [];
    const releasedPerAttr = new Map<number, number>();
    for (const [address, { req, ordinal }] of byAddress) {
      const seq = this.spec.sequenceNumberForAllocation[String(ordinal)] ?? 0;
      if (req.sequenceNumber !== undefined && req.sequenceNumber !== seq)
        throw new ReleaseConflict(
          `update conflict: ${req.address}: sequence number mismatch (requested ${req.sequenceNumber}, current ${seq})`,
        );
      const attrIdx = this.spec.allocations[ordinal];
      if (attrIdx === null || attrIdx === undefined) {
        unallocated.push(address);
        continue;
      }
      const handle = sanitizeHandle(this.spec.attributes[attrIdx]?.handle_id ?? "");
      if (req.handle && handle !== req.handle)
        throw new ReleaseConflict(
          `update conflict: ${req.address}: handle mismatch (requested ${req.handle}, current ${handle || "<none>"})`,
        );
      ordinals.push(ordinal);
      releasedPerAttr.set(attrIdx, (releasedPerAttr.get(attrIdx) ?? 0) + 1);
      if (handle) countByHandle.set(handle, (countByHandle.get(handle) ?? 0) + 1);
    }
    this.dropAttributesReleasedEntirely(releasedPerAttr);
    for (const ordinal of ordinals) {
      this.spec.allocations[ordinal] = null;
      this.spec.unallocated.push(ordinal);
      delete this.spec.sequenceNumberForAllocation[String(ordinal)];
    }
    return { unallocated, countByHandle };
  }

  /** Releases every address held by `handleId` (optionally only those with `sequenceNumber`); returns the count. */
  releaseByHandle(handleId: string, sequenceNumber?: number): number {
    const attrs = new Set<number>();
    this.spec.attributes.forEach((a, i) => {
      if (a.handle_id !== undefined && sanitizeHandle(a.handle_id) === handleId) attrs.add(i);
    });
    if (attrs.size === 0) return 0;
    const ordinals: number[] = [];
    const releasedPerAttr = new Map<number, number>();
    this.spec.allocations.forEach((idx, ordinal) => {
      if (idx === null || !attrs.has(idx)) return;
      const seq = this.spec.sequenceNumberForAllocation[String(ordinal)] ?? 0;
      if (sequenceNumber !== undefined && sequenceNumber !== seq) return;
      ordinals.push(ordinal);
      releasedPerAttr.set(idx, (releasedPerAttr.get(idx) ?? 0) + 1);
    });
    this.dropAttributesReleasedEntirely(releasedPerAttr);
    for (const ordinal of ordinals) {
      this.spec.allocations[ordinal] = null;
      this.spec.unallocated.push(ordinal);
      delete this.spec.sequenceNumberForAllocation[String(ordinal)];
    }
    return ordinals.length;
  }

  /** The addresses `handleId` holds in this block, in ordinal order (Calico's IPsByHandle, one block). */
  addressesOf(handleId: string): string[] {
    const ips: string[] = [];
    this.spec.allocations.forEach((idx, ordinal) => {
      const h = idx === null ? undefined : this.spec.attributes[idx]?.handle_id;
      if (h !== undefined && sanitizeHandle(h) === handleId) ips.push(ipText(this.ordinalToIp(ordinal)));
    });
    return ips;
  }

  /** The attribute of an allocated address, or undefined if the address is free or outside the block. */
  attributeOf(ip: IpAddress): AllocationAttribute | undefined {
    const ordinal = this.ipToOrdinal(ip);
    if (ordinal === undefined) return undefined;
    const idx = this.spec.allocations[ordinal];
    return idx === null || idx === undefined ? undefined : (this.spec.attributes[idx] ?? {});
  }

  sequenceNumberOf(ordinal: number): number {
    return this.spec.sequenceNumberForAllocation[String(ordinal)] ?? 0;
  }

  private findOrAddAttribute(
    handleId: string | undefined,
    attrs: Record<string, string> | undefined,
  ): number {
    const wanted: AllocationAttribute = {};
    if (handleId !== undefined) wanted.handle_id = handleId;
    if (attrs && Object.keys(attrs).length > 0) wanted.secondary = { ...attrs };
    const found = this.spec.attributes.findIndex(
      (a) => a.handle_id === wanted.handle_id && sameAttrs(a.secondary, wanted.secondary),
    );
    if (found !== -1) return found;
    this.spec.attributes.push(wanted);
    return this.spec.attributes.length - 1;
  }

  /** Deletes attributes whose every allocation is being released and renumbers the rest, as Calico does. */
  private dropAttributesReleasedEntirely(releasedPerAttr: Map<number, number>): void {
    const refs = new Map<number, number>();
    for (const idx of this.spec.allocations) if (idx !== null) refs.set(idx, (refs.get(idx) ?? 0) + 1);
    const drop = new Set<number>();
    for (const [idx, n] of releasedPerAttr) if (refs.get(idx) === n) drop.add(idx);
    if (drop.size === 0) return;
    const newIndex = new Map<number, number>();
    const kept: AllocationAttribute[] = [];
    this.spec.attributes.forEach((a, i) => {
      if (drop.has(i)) return;
      newIndex.set(i, kept.length);
      kept.push(a);
    });
    this.spec.attributes = kept;
    this.spec.allocations = this.spec.allocations.map((idx) =>
      idx === null ? null : (newIndex.get(idx) ?? null),
    );
  }
}

export class AddressInUse extends Error {
  constructor(readonly address: string) {
    super("Address already assigned in block");
  }
}

function sameAttrs(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  const bk = Object.keys(b ?? {});
  return ak.length === bk.length && ak.every((k) => a![k] === b?.[k]);
}

function parseIpOrThrow(text: string): IpAddress {
  const cidr = parseCidr(`${text}/${text.includes(":") ? 128 : 32}`);
  if (!cidr) throw new Error(`failed to parse IP: ${text}`);
  return { family: cidr.family, value: cidr.value };
}
