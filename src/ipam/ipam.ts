import { randomUUID } from "node:crypto";
import { type ApiObject, apiVersionOf, findKind, type KindDef, keyFor, prefixFor } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import {
  type Cidr,
  cidrContainsIp,
  familyBits,
  formatCidr,
  formatIp,
  type IpAddress,
  type IpFamily,
  parseIp,
} from "../net/index.ts";
import type { Labels } from "../selector/index.ts";
import {
  AddressInUse,
  Block,
  type BlockSpec,
  blockCidr,
  cloneBlockSpec,
  ipText,
  newBlockSpec,
  ReleaseConflict,
  type ReleaseRequest,
} from "./block.ts";
import { blockContaining, blockWalk } from "./block-walk.ts";
import { Handles, handleKey } from "./handles.ts";
import { InputMemo } from "./inputs.ts";
import { affinityKey, blockKey } from "./keys.ts";
import {
  DATASTORE_RETRIES,
  HAND_OVER,
  type IpamKv,
  isCode,
  KindCache,
  type KvEntry,
  withSpec,
} from "./kv.ts";
import { blocksOfFamily, insidePools, type LeanCache, leanBlock } from "./lean-path.ts";
import {
  type Affinity,
  affinityName,
  affinityString,
  cidrToName,
  LOAD_BALANCER_AFFINITY,
  parseAffinity,
  sanitizeHandle,
} from "./names.ts";
import {
  type AllowedUse,
  choosePools,
  type PoolInfo,
  PoolNotUsable,
  poolContaining,
  poolInfo,
} from "./pools.ts";
import { AddressFilter } from "./reservations.ts";

const kind = (apiVersion: string, k: string): KindDef => findKind(apiVersion, k)!;
const IPAM_BLOCK = kind("projectcalico.org/v3", "IPAMBlock");
const IPAM_HANDLE_KIND = kind("projectcalico.org/v3", "IPAMHandle");
const BLOCK_AFFINITY = kind("projectcalico.org/v3", "BlockAffinity");
const IP_POOL = kind("projectcalico.org/v3", "IPPool");
const IP_RESERVATION = kind("projectcalico.org/v3", "IPReservation");
const IPAM_CONFIG = kind("projectcalico.org/v3", "IPAMConfiguration");
const NODE = kind("v1", "Node");
/** Where the lean path remembers its inputs (the keys they are read from). */
const POOLS = prefixFor(IP_POOL);
const RESERVATIONS = prefixFor(IP_RESERVATION);
const IPAM_CONFIG_KEY = keyFor(IPAM_CONFIG, "default");

/** Another host may reclaim an empty block only this long after it was claimed. */
const EMPTY_BLOCK_MIN_RECLAIM_AGE_MS = 60_000;
/** Without a configured limit, a host may claim at most this many blocks per request (Calico's safeguard). */
const DEFAULT_MAX_BLOCKS = 20;

export interface IpamConfig {
  strictAffinity: boolean;
  autoAllocateBlocks: boolean;
  maxBlocksPerHost: number;
}

export interface AutoAssignArgs {
  num4?: number;
  num6?: number;
  handleId?: string;
  attrs?: Record<string, string>;
  hostname: string;
  /** Pools named by the request (e.g. from annotations): used as given, selectors ignored. */
  ipv4Pools?: Cidr[];
  ipv6Pools?: Cidr[];
  maxBlocksPerHost?: number;
  intendedUse: AllowedUse;
  /** Labels of the pod's namespace, for pools with a namespaceSelector. */
  namespaceLabels?: Labels;
  /** The node's labels if the caller has them; otherwise IPAM reads the Node object. */
  nodeLabels?: Labels;
}

export interface Assignments {
  version: IpFamily;
  requested: number;
  ips: string[];
  messages: string[];
}

/** Calico's partial-fulfilment error: "Assigned 0 out of 1 requested IPv4 addresses; <messages>". */
export function partialFulfillmentError(a: Assignments): TortieError | undefined {
  if (a.ips.length >= a.requested) return undefined;
  const detail = a.messages.map((m) => `; ${m}`).join("");
  return new TortieError(
    "Invalid",
    `Assigned ${a.ips.length} out of ${a.requested} requested IPv${a.version} addresses${detail}`,
  );
}

export interface AssignIpArgs {
  ip: string;
  handleId?: string;
  attrs?: Record<string, string>;
  hostname: string;
  intendedUse?: AllowedUse;
}

export interface BlockUtilization {
  cidr: string;
  capacity: number;
  available: number;
}

export interface PoolUtilization {
  /** Undefined for blocks that lie in no pool (Calico groups them under a zero-length CIDR). */
  name: string | undefined;
  cidr: Cidr | undefined;
  blocks: BlockUtilization[];
}

export interface AssignmentAttributes {
  handleId: string | undefined;
  attrs: Record<string, string>;
  block: string;
  sequenceNumber: number;
}

class NoFreeBlocks extends Error {}

class AddressAlreadyAssigned extends TortieError {
  constructor(ip: string) {
    super("AlreadyExists", `Address already assigned in block: ${ip}`);
  }
}

/** Another writer got there first (a CAS lost, or the object went away): re-read and retry. */
function lostRace(e: unknown): boolean {
  return isCode(e, "Conflict") || isCode(e, "NotFound") || isCode(e, "AlreadyExists");
}
class BlockLimitReached extends Error {}
class BlockClaimConflict extends Error {}
class StaleAffinity extends Error {}
class BlockNotEmpty extends Error {}

interface Entry {
  key: string;
  modRevision: number;
  obj: ApiObject;
}

/**
 * Calico IPAM (libcalico-go/lib/ipam, v3.31 behaviour) over any store with revisions and compare-and-swap.
 * State is kept exactly as Calico keeps it: IPAMBlock, BlockAffinity and IPAMHandle objects. Every write is a
 * CAS, so several Ipam instances (several nodes, several processes) can share one store safely.
 */
export interface IpamOptions {
  now?: () => Date;
  /**
   * The lean path (default on). Between operations the Ipam keeps what it read: blocks and affinities (always),
   * and pools, reservations, the IPAMConfiguration and Node labels. When the store's revision is the one it
   * last saw, or moved only by its own writes, nothing is read again: an allocation from an affine block with
   * room is one handle write and one block write. Any other write is found in the store's history and only what
   * it touched is read again. Off, every operation reads everything, as Calico does; the results are the same
   * (test/ipam/lean-path.test.ts compares them).
   */
  lean?: boolean;
}

export class Ipam {
  private readonly kv: IpamKv;
  private readonly now: () => Date;
  private readonly blocks: KindCache;
  private readonly affinities: KindCache;
  private readonly lean: boolean;
  private readonly memo: InputMemo;
  private readonly leanCache: LeanCache;
  /** Lean path: every cache reflects the store through this revision (-1: nothing known yet). */
  private known = -1;
  private readonly handles: Handles;
  private stampSecond = Number.NaN;
  private stampText = "";

  constructor(kv: IpamKv, options: IpamOptions = {}) {
    this.kv = kv;
    this.now = options.now ?? (() => new Date());
    this.lean = options.lean ?? true;
    this.memo = new InputMemo(kv);
    // Made once: closures made per call cost a name each under tsx (keepNames).
    this.leanCache = {
      affinityState: (affinity, c) => {
        const e = this.affinities.get(affinityKey(affinity, c));
        return e ? (e.value as ApiObject).spec.state : null;
      },
      block: (c) => this.blockEntry(c)?.obj.spec,
    };
    this.handles = new Handles(
      kv,
      this.lean,
      (name, spec) => this.newObject(IPAM_HANDLE_KIND, name, spec),
      (e) => this.wrote(e),
    );
    this.blocks = new KindCache(kv, prefixFor(IPAM_BLOCK));
    this.affinities = new KindCache(kv, prefixFor(BLOCK_AFFINITY), (v) => {
      const s = (v as ApiObject).spec;
      return `${s.type ?? "host"}:${s.node}`;
    });
  }

  // ---------------------------------------------------------------- reads

  /**
   * Brings the caches up to date. Lean: nothing to do if the store is at the revision we know; otherwise the
   * history since then updates blocks and affinities and drops the remembered inputs it touches.
   */
  private async sync(): Promise<void> {
    if (!this.lean) {
      await this.blocks.sync();
      await this.affinities.sync();
      return;
    }
    const rev = await this.kv.revision();
    if (rev === this.known) return;
    // Reads of inputs already under way may predate the writes found now: they must not be remembered.
    this.memo.generation++;
    await this.blocks.sync();
    await this.affinities.sync();
    if (this.known < 0) this.memo.clear();
    else await this.memo.invalidate(this.known);
    this.known = rev;
  }

  /** Lean path: our own write at the revision right after the known one leaves every cache current. */
  private wrote(e: KvEntry): void {
    if (e.modRevision === this.known + 1) this.known = e.modRevision;
  }

  /** A remembered input (lean path, after `sync`), or a fresh read. */
  private async input<T>(key: string, synced: boolean, read: () => Promise<T>): Promise<T> {
    if (!this.lean) return read();
    if (!synced) await this.sync();
    if (this.memo.has(key)) return this.memo.get(key) as T;
    const generation = this.memo.generation;
    const value = await read();
    if (this.memo.generation === generation) this.memo.set(key, value);
    return value;
  }

  /** (Copies: what the lean path remembers must not change under it.) */
  async getIpamConfig(): Promise<IpamConfig> {
    return { ...(await this.ipamConfig(false)) };
  }

  /** Every IP pool, enabled or not. */
  async allPools(): Promise<PoolInfo[]> {
    return (await this.pools(false)).slice();
  }

  private async ipamConfig(synced: boolean): Promise<IpamConfig> {
    const key = keyFor(IPAM_CONFIG, "default");
    return this.input(key, synced, async () => {
      const e = await this.kv.get(key);
      const spec = (e?.value as ApiObject | undefined)?.spec ?? {};
      return {
        strictAffinity: spec.strictAffinity === true,
        autoAllocateBlocks: spec.autoAllocateBlocks !== false,
        maxBlocksPerHost: spec.maxBlocksPerHost ?? 0,
      };
    });
  }

  private async pools(synced: boolean): Promise<PoolInfo[]> {
    const prefix = prefixFor(IP_POOL);
    return this.input(prefix, synced, async () => {
      const { items } = await this.kv.list(prefix);
      return items.map((i) => poolInfo(i.value as ApiObject));
    });
  }

  private async enabledPools(family?: IpFamily, synced = false): Promise<PoolInfo[]> {
    return (await this.pools(synced)).filter(
      (p) => !p.disabled && (family === undefined || p.cidr.family === family),
    );
  }

  private async reservations(synced = false): Promise<AddressFilter> {
    const prefix = prefixFor(IP_RESERVATION);
    return this.input(prefix, synced, async () => {
      const { items } = await this.kv.list(prefix);
      return AddressFilter.fromReservations(items.map((i) => i.value as ApiObject));
    });
  }

  private async nodeLabels(host: string, synced = false): Promise<Labels> {
    const key = keyFor(NODE, host);
    const labels = await this.input(key, synced, async () => {
      const e = await this.kv.get(key);
      return e && ((e.value as ApiObject).metadata.labels ?? {});
    });
    if (!labels)
      throw new TortieError(
        "NotFound",
        `nodes "${host}" not found: IPAM needs the node's labels to choose pools`,
      );
    return labels;
  }

  private blockEntry(cidr: Cidr): Entry | undefined {
    const key = blockKey(cidr);
    const e = this.blocks.get(key);
    return e && { key, modRevision: e.modRevision, obj: e.value as ApiObject };
  }

  private allBlocks(): Entry[] {
    return [...this.blocks.values()]
      .map((e) => ({ key: e.key, modRevision: e.modRevision, obj: e.value as ApiObject }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private blockContainingIp(pools: PoolInfo[], ip: IpAddress): Entry | undefined {
    const pool = poolContaining(pools, ip);
    if (pool) return this.blockEntry(blockContaining(pool.cidr, pool.blockSize, ip.value));
    // Not in any pool (it was deleted or resized): find the block by a full scan, as Calico does.
    for (const e of this.allBlocks()) {
      const c = blockCidr(e.obj.spec.cidr);
      if (c && cidrContainsIp(c, ip)) return e;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- object helpers

  /** RFC 3339 to the second; the text is made once per second of the clock, not once per object. */
  private timestamp(): string {
    const second = Math.floor(this.now().getTime() / 1000);
    if (second !== this.stampSecond) {
      this.stampSecond = second;
      this.stampText = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
    }
    return this.stampText;
  }

  private newObject(def: KindDef, name: string, spec: unknown): ApiObject {
    return {
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      metadata: { name, uid: randomUUID(), creationTimestamp: this.timestamp(), generation: 1 },
      spec,
    };
  }

  private toEntry(e: KvEntry): Entry {
    return { key: e.key, modRevision: e.modRevision, obj: e.value as ApiObject };
  }

  /** Writes a changed block with CAS. Like Calico, every write moves the block's sequence number on. */
  /** A block spec to change: always a copy, since the cached object may be the store's own. */
  private mutableSpec(entry: Entry): BlockSpec {
    return cloneBlockSpec(entry.obj.spec);
  }

  private async updateBlock(entry: Entry, spec: BlockSpec): Promise<Entry> {
    spec.sequenceNumber++;
    const written = await this.kv.update(entry.key, withSpec(entry.obj, spec), entry.modRevision, HAND_OVER);
    this.blocks.set(written.key, written.modRevision, written.value);
    this.wrote(written);
    return this.toEntry(written);
  }

  /**
   * Writes a block after a release: an empty block nobody owns is deleted, any other is updated. False when
   * the block changed or went away meanwhile (the caller re-reads and tries again).
   */
  private async writeReleased(entry: Entry, block: Block): Promise<boolean> {
    try {
      if (block.isEmpty() && block.spec.affinity === undefined) await this.deleteBlock(entry);
      else await this.updateBlock(entry, block.spec);
      return true;
    } catch (e) {
      if (!isCode(e, "Conflict") && !isCode(e, "NotFound")) throw e;
      await this.refreshBlock(block.cidr);
      return false;
    }
  }

  private async deleteBlock(entry: Entry): Promise<void> {
    const deleted = await this.kv.delete(entry.key, entry.modRevision);
    this.blocks.set(entry.key, deleted.modRevision, undefined);
    this.wrote(deleted);
  }

  private async updateAffinity(entry: Entry, state: string): Promise<Entry> {
    const written = await this.kv.update(
      entry.key,
      withSpec(entry.obj, { ...entry.obj.spec, state }),
      entry.modRevision,
      HAND_OVER,
    );
    this.affinities.set(written.key, written.modRevision, written.value);
    this.wrote(written);
    return this.toEntry(written);
  }

  private async deleteAffinity(entry: Entry): Promise<void> {
    const deleted = await this.kv.delete(entry.key, entry.modRevision);
    this.affinities.set(entry.key, deleted.modRevision, undefined);
    this.wrote(deleted);
  }

  // ---------------------------------------------------------------- block claiming

  /** Creates a pending affinity for (host, block), or returns the existing one (re-marked pending unless confirmed). */
  private async getPendingAffinity(affinity: Affinity, cidr: Cidr): Promise<Entry> {
    const key = affinityKey(affinity, cidr);
    const spec = {
      state: "pending",
      node: affinity.host,
      type: affinity.type,
      cidr: formatCidr(cidr),
      deleted: "false",
    };
    try {
      const created = await this.kv.create(
        key,
        this.newObject(BLOCK_AFFINITY, affinityName(affinity, cidr), spec),
        HAND_OVER,
      );
      this.affinities.set(key, created.modRevision, created.value);
      this.wrote(created);
      return this.toEntry(created);
    } catch (e) {
      if (!isCode(e, "AlreadyExists")) throw e;
    }
    const existing = await this.affinities.refresh(key);
    if (!existing) throw new TortieError("Conflict", `block affinity ${key} vanished while being claimed`);
    const entry = this.toEntry(existing);
    return entry.obj.spec.state === "confirmed" ? entry : this.updateAffinity(entry, "pending");
  }

  private async confirmAffinity(aff: Entry): Promise<void> {
    try {
      await this.updateAffinity(aff, "confirmed");
    } catch (e) {
      const cur = await this.affinities.refresh(aff.key);
      if ((cur?.value as ApiObject | undefined)?.spec.state === "confirmed") return;
      throw e;
    }
  }

  /** Creates the block for a pending affinity and confirms the affinity; loses cleanly to another host. */
  private async claimAffineBlock(aff: Entry, affinity: Affinity): Promise<Entry> {
    const cidr = blockCidr(aff.obj.spec.cidr)!;
    const key = blockKey(cidr);
    const spec = newBlockSpec(cidr, affinity, this.timestamp(), this.now().getTime() * 1000);
    try {
      const created = await this.kv.create(
        key,
        this.newObject(IPAM_BLOCK, cidrToName(cidr), spec),
        HAND_OVER,
      );
      this.blocks.set(key, created.modRevision, created.value);
      this.wrote(created);
      await this.confirmAffinity(aff);
      return this.toEntry(created);
    } catch (e) {
      if (!isCode(e, "AlreadyExists")) throw e;
    }
    const existing = await this.blocks.refresh(key);
    if (!existing)
      throw new TortieError("Conflict", `block ${formatCidr(cidr)} vanished while being claimed`);
    if ((existing.value as ApiObject).spec.affinity === affinityString(affinity)) {
      await this.confirmAffinity(aff);
      return this.toEntry(existing);
    }
    await this.deleteAffinity(aff).catch(() => undefined);
    throw new BlockClaimConflict(`block ${formatCidr(cidr)} was claimed by another host`);
  }

  /** The block an affinity refers to, creating it if needed; removes the affinity if the block is someone else's. */
  private async getBlockFromAffinity(aff: Entry, affinity: Affinity): Promise<Entry> {
    const cidr = blockCidr(aff.obj.spec.cidr)!;
    const block = this.blockEntry(cidr) ?? (await this.refreshBlock(cidr));
    if (!block) {
      const pending = await this.updateAffinity(aff, "pending");
      return this.claimAffineBlock(pending, affinity);
    }
    if (block.obj.spec.affinity !== affinityString(affinity)) {
      await this.deleteAffinity(aff);
      throw new StaleAffinity(`affinity ${aff.key} is stale`);
    }
    const state = aff.obj.spec.state;
    if (state !== "confirmed" && state !== "") {
      const pending = await this.updateAffinity(aff, "pending");
      const rewritten = await this.updateBlock(block, this.mutableSpec(block));
      await this.updateAffinity(pending, "confirmed");
      return rewritten;
    }
    return block;
  }

  private async refreshBlock(cidr: Cidr): Promise<Entry | undefined> {
    const e = await this.blocks.refresh(blockKey(cidr));
    return e && this.toEntry(e);
  }

  /**
   * A block for this host to claim: the first block in the host's walk of each pool that does not exist yet
   * (or is already this host's and has room). Failing that, an empty block another host claimed over a
   * minute ago is reclaimed.
   */
  private async findUsableBlock(
    affinity: Affinity,
    pools: PoolInfo[],
    reservations: AddressFilter,
  ): Promise<Cidr> {
    if (pools.length === 0)
      throw new TortieError("Invalid", `no configured Calico pools for ${affinityString(affinity)}`);
    const empty: { cidr: Cidr; entry: Entry; owner: Affinity }[] = [];
    const nowMs = this.now().getTime();
    for (const pool of pools) {
      for (const subnet of blockWalk(
        pool.cidr,
        pool.blockSize,
        affinity.host,
        () => BigInt(nowMs) * 1_000_000n,
      )) {
        if (reservations.coversCidr(subnet)) continue;
        const entry = this.blockEntry(subnet);
        if (!entry) return subnet;
        const block = new Block(entry.obj.spec);
        const free = block.numFree(reservations);
        if (block.affinityMatches(affinity) && free !== 0) return subnet;
        const owner = parseAffinity(entry.obj.spec.affinity);
        if (owner && block.isEmpty() && free !== 0) empty.push({ cidr: subnet, entry, owner });
      }
    }
    for (const { cidr, entry, owner } of empty) {
      const claimed = Date.parse(entry.obj.spec.affinityClaimTime ?? "");
      if (Number.isFinite(claimed) && nowMs - claimed < EMPTY_BLOCK_MIN_RECLAIM_AGE_MS) continue;
      try {
        await this.releaseBlockAffinity(owner, cidr, {
          requireEmpty: true,
          requiredSequenceNumber: entry.obj.spec.sequenceNumber,
        });
        return cidr;
      } catch {
        // Someone else changed or reclaimed it first: try the next one.
      }
    }
    throw new NoFreeBlocks("No Free Blocks");
  }

  /** Drops a host's affinity to a block: deletes the block if empty, otherwise leaves it unowned. */
  private async releaseBlockAffinity(
    affinity: Affinity,
    cidr: Cidr,
    opts: { requireEmpty: boolean; requiredSequenceNumber?: number },
  ): Promise<void> {
    const affKey = affinityKey(affinity, cidr);
    const affE = await this.affinities.refresh(affKey);
    if (!affE) throw new TortieError("NotFound", `block affinity ${affKey} not found`);
    const block = await this.refreshBlock(cidr);
    if (!block) throw new TortieError("NotFound", `block ${formatCidr(cidr)} not found`);
    if (
      opts.requiredSequenceNumber !== undefined &&
      opts.requiredSequenceNumber !== block.obj.spec.sequenceNumber
    )
      throw new TortieError("Conflict", "IPAM block updated since we last read it");
    const aff = this.toEntry(affE);
    if (block.obj.spec.affinity !== undefined && block.obj.spec.affinity !== affinityString(affinity)) {
      await this.deleteAffinity(aff).catch(() => undefined);
      throw new BlockClaimConflict(`block ${formatCidr(cidr)} belongs to ${block.obj.spec.affinity}`);
    }
    const b = new Block(block.obj.spec);
    if (opts.requireEmpty && !b.isEmpty()) throw new BlockNotEmpty(`block ${formatCidr(cidr)} is not empty`);
    const marked = await this.updateAffinity(aff, "pendingDeletion");
    if (b.isEmpty()) {
      await this.deleteBlock(block).catch((e) => {
        if (!isCode(e, "NotFound")) throw e;
      });
    } else {
      const spec = this.mutableSpec(block);
      delete spec.affinity;
      delete spec.affinityClaimTime;
      await this.updateBlock(block, spec);
    }
    await this.deleteAffinity(marked).catch((e) => {
      if (!isCode(e, "NotFound")) throw e;
    });
  }

  // ---------------------------------------------------------------- handles

  // ---------------------------------------------------------------- assignment

  /** Assigns addresses from the host's blocks, claiming and (unless strict affinity) borrowing as Calico does. */
  async autoAssign(args: AutoAssignArgs): Promise<{ v4?: Assignments; v6?: Assignments }> {
    const out: { v4?: Assignments; v6?: Assignments } = {};
    for (const p of args.ipv4Pools ?? [])
      if (p.family !== 4)
        throw new TortieError("Invalid", "provided IPv4 IPPools list contains one or more IPv6 IPPools");
    for (const p of args.ipv6Pools ?? [])
      if (p.family !== 6)
        throw new TortieError("Invalid", "provided IPv6 IPPools list contains one or more IPv4 IPPools");
    if (args.num4) out.v4 = await this.autoAssignFamily(args, 4, args.num4, args.ipv4Pools ?? []);
    if (args.num6) out.v6 = await this.autoAssignFamily(args, 6, args.num6, args.ipv6Pools ?? []);
    return out;
  }

  /** CIDR texts of the host's block affinities, in the order the datastore lists them (by name). */
  private affinityCidrs(affinity: Affinity): string[] {
    const keys = this.affinities.keysIndexedBy(affinityString(affinity)).sort();
    const out: string[] = [];
    for (const k of keys) out.push((this.affinities.get(k)!.value as ApiObject).spec.cidr);
    return out;
  }

  /**
   * The lean path (IpamOptions.lean), right after `sync`: when the remembered inputs and the cached blocks show
   * that the full path would take all `num` addresses from one affine block, take them with one handle write and
   * one block write. Undefined, having written nothing, whenever the full path must decide.
   */
  private async leanAssign(
    args: AutoAssignArgs,
    affinity: Affinity,
    version: IpFamily,
    num: number,
    requested: Cidr[],
  ): Promise<Assignments | undefined> {
    const reservations = this.memo.get(RESERVATIONS) as AddressFilter | undefined;
    const pools = this.memo.get(POOLS) as PoolInfo[] | undefined;
    const config = this.memo.get(IPAM_CONFIG_KEY) as IpamConfig | undefined;
    const nodeLabels =
      args.intendedUse === "LoadBalancer"
        ? {}
        : (args.nodeLabels ?? (this.memo.get(keyFor(NODE, args.hostname)) as Labels | undefined));
    if (!reservations || !pools || !config || !nodeLabels) return undefined;
    const cidr = leanBlock(
      { reservations, pools, nodeLabels },
      {
        affinity,
        version,
        num,
        requested,
        use: args.intendedUse,
        namespaceLabels: args.namespaceLabels,
        affinityCidrs: this.affinityCidrs(affinity),
      },
      this.leanCache,
    );
    if (!cidr) return undefined;
    let ips: string[];
    try {
      ips = await this.assignFromBlock(
        this.blockEntry(cidr)!,
        num,
        args,
        affinity,
        config.strictAffinity,
        reservations,
      );
    } catch {
      // A lost race (or a failed write): assignFromBlock took its handle count back; the full path re-reads.
      return undefined;
    }
    if (ips.length !== num)
      throw new TortieError("Internal", `lean IPAM path took ${ips.length} of ${num} addresses`);
    return { version, requested: num, ips, messages: [] };
  }

  private async autoAssignFamily(
    args: AutoAssignArgs,
    version: IpFamily,
    num: number,
    requested: Cidr[],
  ): Promise<Assignments> {
    const use = args.intendedUse;
    const lb = use === "LoadBalancer";
    const affinity: Affinity = lb ? LOAD_BALANCER_AFFINITY : { type: "host", host: args.hostname };
    await this.sync();
    if (this.lean) {
      const done = await this.leanAssign(args, affinity, version, num, requested);
      if (done) return done;
    }
    const reservations = await this.reservations(true);
    const nodeLabels = lb ? {} : (args.nodeLabels ?? (await this.nodeLabels(args.hostname, true)));
    const enabled = await this.enabledPools(version, true);
    let matching: PoolInfo[];
    try {
      matching = choosePools(enabled, requested, nodeLabels, args.namespaceLabels);
    } catch (e) {
      if (e instanceof PoolNotUsable) throw new TortieError("Invalid", e.message);
      throw e;
    }
    if (matching.length === 0)
      throw new TortieError("Invalid", `no configured Calico pools for node ${affinity.host}`);
    const pools = matching.filter((p) => p.allowedUses.includes(use));
    if (pools.length === 0)
      throw new TortieError(
        "Invalid",
        `cannot find a qualified ippool, no pools match the required use (${use})`,
      );

    // The host's affine blocks in this family, in the order the datastore lists them (by name).
    const affBlocks = blocksOfFamily(this.affinityCidrs(affinity), version);
    const inAllowed = (c: Cidr) => insidePools(pools, c);
    const allowedAff = affBlocks.filter(inAllowed);
    // Empty blocks of pools that no longer select this node are given up.
    for (const c of affBlocks) {
      if (inAllowed(c) || insidePools(matching, c)) continue;
      await this.releaseBlockAffinity(affinity, c, { requireEmpty: true }).catch(() => undefined);
    }

    const config = await this.ipamConfig(true);
    let maxBlocks = args.maxBlocksPerHost ?? 0;
    if (config.maxBlocksPerHost > 0 && maxBlocks > 0 && maxBlocks > config.maxBlocksPerHost)
      maxBlocks = config.maxBlocksPerHost;
    else if (maxBlocks === 0) maxBlocks = config.maxBlocksPerHost;
    if (maxBlocks === 0) maxBlocks = DEFAULT_MAX_BLOCKS;

    const result: Assignments = { version, requested: num, ips: [], messages: [] };
    const addMsg = (m: string) => {
      if (!result.messages.includes(m)) result.messages.push(m);
    };
    const remaining = [...allowedAff];
    let owned = allowedAff.length;
    while (result.ips.length < num) {
      let claimed: { block: Entry; fresh: boolean };
      try {
        claimed = await this.findOrClaimBlock(
          affinity,
          remaining,
          pools,
          reservations,
          config,
          owned < maxBlocks,
        );
      } catch (e) {
        if (e instanceof NoFreeBlocks) {
          if (config.strictAffinity) addMsg("No more free affine blocks and strict affinity enabled");
          break;
        }
        if (e instanceof BlockLimitReached) {
          // Calico returns what it has with this message; the caller reports the partial fulfilment.
          addMsg(
            `Need to allocate an IPAM block but could not - limit of ${maxBlocks} blocks reached for this node`,
          );
          return result;
        }
        throw e;
      }
      if (claimed.fresh) owned++;
      const ips = await this.assignWithRetry(
        claimed.block,
        num - result.ips.length,
        args,
        affinity,
        config.strictAffinity,
        reservations,
      );
      if (ips === undefined) {
        addMsg("Failed to assign IPs in newly allocated block");
        break;
      }
      result.ips.push(...ips);
    }

    // Borrowing: without strict affinity, any block of the chosen pools with room will do.
    if (!config.strictAffinity && result.ips.length < num) {
      const exhausted: string[] = [];
      for (const pool of pools) {
        const walk = blockWalk(
          pool.cidr,
          pool.blockSize,
          affinity.host,
          () => BigInt(this.now().getTime()) * 1_000_000n,
        );
        let done = false;
        while (result.ips.length < num) {
          const next = walk.next();
          if (next.done) {
            done = true;
            break;
          }
          const subnet = next.value;
          if (reservations.coversCidr(subnet)) continue;
          const entry = this.blockEntry(subnet);
          if (!entry) continue;
          const ips = await this.assignWithRetry(
            entry,
            num - result.ips.length,
            args,
            affinity,
            false,
            reservations,
          );
          if (ips) result.ips.push(...ips);
        }
        if (done) exhausted.push(pool.cidrText);
      }
      if (exhausted.length > 0) addMsg(`No IPs available in pools: [${exhausted.join(" ")}]`);
    }
    return result;
  }

  /** Assigns from one block, re-reading it after a lost CAS; undefined if the block cannot be used. */
  private async assignWithRetry(
    block: Entry,
    num: number,
    args: AutoAssignArgs,
    affinity: Affinity,
    affinityCheck: boolean,
    reservations: AddressFilter,
  ): Promise<string[] | undefined> {
    let entry: Entry | undefined = block;
    for (let i = 0; i < DATASTORE_RETRIES && entry; i++) {
      try {
        return await this.assignFromBlock(entry, num, args, affinity, affinityCheck, reservations);
      } catch (e) {
        if (!lostRace(e)) return undefined;
        entry = await this.refreshBlock(blockCidr(entry.obj.spec.cidr)!);
      }
    }
    return undefined;
  }

  private async assignFromBlock(
    entry: Entry,
    num: number,
    args: AutoAssignArgs,
    affinity: Affinity,
    affinityCheck: boolean,
    reservations: AddressFilter,
  ): Promise<string[]> {
    const spec = this.mutableSpec(entry);
    const ips = new Block(spec).autoAssign(
      num,
      args.handleId,
      args.attrs,
      affinity,
      affinityCheck,
      reservations,
    );
    if (ips.length === 0) return [];
    // The handle is counted first: a crash in between leaves a handle without addresses, which `ipam check`
    // reports, never an address without a handle.
    if (args.handleId !== undefined) await this.handles.increment(args.handleId, spec.cidr, ips.length);
    try {
      await this.updateBlock(entry, spec);
    } catch (e) {
      if (args.handleId !== undefined)
        await this.handles.decrement(args.handleId, spec.cidr, ips.length).catch(() => undefined);
      throw e;
    }
    return ips.map(ipText);
  }

  private async findOrClaimBlock(
    affinity: Affinity,
    remaining: Cidr[],
    pools: PoolInfo[],
    reservations: AddressFilter,
    config: IpamConfig,
    allowNewClaim: boolean,
  ): Promise<{ block: Entry; fresh: boolean }> {
    while (remaining.length > 0) {
      const cidr = remaining.shift()!;
      if (reservations.coversCidr(cidr)) continue;
      for (let i = 0; i < DATASTORE_RETRIES; i++) {
        const affE = this.affinities.get(affinityKey(affinity, cidr));
        if (!affE) break;
        let block: Entry;
        try {
          block = await this.getBlockFromAffinity(
            {
              key: affinityKey(affinity, cidr),
              modRevision: affE.modRevision,
              obj: affE.value as ApiObject,
            },
            affinity,
          );
        } catch (e) {
          if (lostRace(e)) {
            await this.sync();
            continue;
          }
          break;
        }
        if (new Block(block.obj.spec).numFree(reservations) >= 1) return { block, fresh: false };
        break;
      }
    }
    if (!allowNewClaim) throw new BlockLimitReached("cannot allocate new block due to per host block limit");
    if (!config.autoAllocateBlocks) throw new TortieError("Invalid", "failed to find or claim a block");
    for (let i = 0; i < DATASTORE_RETRIES; i++) {
      const subnet = await this.findUsableBlock(affinity, pools, reservations);
      for (let j = 0; j < DATASTORE_RETRIES; j++) {
        let block: Entry;
        try {
          const pending = await this.getPendingAffinity(affinity, subnet);
          block = await this.getBlockFromAffinity(pending, affinity);
        } catch (e) {
          if (lostRace(e)) {
            await this.sync();
            continue;
          }
          if (e instanceof BlockClaimConflict || e instanceof StaleAffinity) break;
          throw e;
        }
        if (new Block(block.obj.spec).numFree(reservations) >= 1) return { block, fresh: true };
        // Another process of this host filled the block after our (stale) look. Calico gives up here with
        // "Block has 0 free ips"; re-reading and looking again serves the request instead.
        break;
      }
      await this.sync();
    }
    throw new TortieError("Conflict", "Max retries hit - excessive concurrent IPAM requests");
  }

  /** Assigns one given address (the ipAddrs annotation, a tunnel address), claiming its block if needed. */
  async assignIp(args: AssignIpArgs): Promise<void> {
    const ip = parseIp(args.ip);
    if (!ip) throw new TortieError("Invalid", `failed to parse IP: ${args.ip}`);
    const affinity: Affinity =
      args.intendedUse === "LoadBalancer" ? LOAD_BALANCER_AFFINITY : { type: "host", host: args.hostname };
    const pool = poolContaining(await this.enabledPools(), ip);
    if (!pool) throw new TortieError("Invalid", "The provided IP address is not in a configured pool");
    const config = await this.getIpamConfig();
    const cidr = blockContaining(pool.cidr, pool.blockSize, ip.value);
    for (let i = 0; i < DATASTORE_RETRIES; i++) {
      await this.sync();
      let entry = this.blockEntry(cidr);
      try {
        if (!entry)
          entry = await this.claimAffineBlock(await this.getPendingAffinity(affinity, cidr), affinity);
        const spec = this.mutableSpec(entry);
        try {
          new Block(spec).assign(ip, args.handleId, args.attrs, affinity, config.strictAffinity);
        } catch (e) {
          if (e instanceof AddressInUse) throw new AddressAlreadyAssigned(formatIp(ip));
          throw new TortieError("Invalid", (e as Error).message);
        }
        if (args.handleId !== undefined) await this.handles.increment(args.handleId, spec.cidr, 1);
        try {
          await this.updateBlock(entry, spec);
        } catch (e) {
          if (args.handleId !== undefined)
            await this.handles.decrement(args.handleId, spec.cidr, 1).catch(() => undefined);
          throw e;
        }
        return;
      } catch (e) {
        if ((lostRace(e) && !(e instanceof AddressAlreadyAssigned)) || e instanceof BlockClaimConflict)
          continue;
        throw e;
      }
    }
    throw new TortieError("Conflict", "Max retries hit - excessive concurrent IPAM requests");
  }

  // ---------------------------------------------------------------- release

  /**
   * Releases addresses (grouped by block, one CAS per block). Returns the addresses that were not allocated.
   * A failed handle or sequence-number precondition releases nothing in that block and is an error.
   */
  async releaseIps(requests: ReleaseRequest[]): Promise<{ unallocated: string[] }> {
    await this.sync();
    const pools = await this.allPools();
    const unallocated: string[] = [];
    const byBlock = new Map<string, { cidr: Cidr; reqs: ReleaseRequest[] }>();
    for (const r of requests) {
      const ip = parseIp(r.address);
      if (!ip) throw new TortieError("Invalid", `failed to parse IP: ${r.address}`);
      const req = { ...r, address: formatIp(ip), handle: r.handle ? sanitizeHandle(r.handle) : undefined };
      const pool = poolContaining(pools, ip);
      const cidr = pool
        ? blockContaining(pool.cidr, pool.blockSize, ip.value)
        : blockCidr(this.blockContainingIp(pools, ip)?.obj.spec.cidr ?? "");
      if (!cidr) {
        unallocated.push(req.address);
        continue;
      }
      const k = formatCidr(cidr);
      if (!byBlock.has(k)) byBlock.set(k, { cidr, reqs: [] });
      byBlock.get(k)!.reqs.push(req);
    }
    for (const { cidr, reqs } of byBlock.values())
      unallocated.push(...(await this.releaseFromBlock(cidr, reqs)));
    return { unallocated };
  }

  private async releaseFromBlock(cidr: Cidr, reqs: ReleaseRequest[]): Promise<string[]> {
    for (let i = 0; i < DATASTORE_RETRIES; i++) {
      const entry = this.blockEntry(cidr) ?? (await this.refreshBlock(cidr));
      if (!entry) return reqs.map((r) => r.address);
      const spec = this.mutableSpec(entry);
      const block = new Block(spec);
      let released: ReturnType<Block["release"]>;
      try {
        released = block.release(reqs);
      } catch (e) {
        if (e instanceof ReleaseConflict) throw new TortieError("Conflict", e.message);
        throw e;
      }
      if (released.unallocated.length === new Set(reqs.map((r) => r.address)).size)
        return released.unallocated;
      if (!(await this.writeReleased(entry, block))) continue;
      for (const [handle, n] of released.countByHandle) await this.handles.decrement(handle, spec.cidr, n);
      return released.unallocated;
    }
    throw new TortieError("Conflict", "Max retries hit - excessive concurrent IPAM requests");
  }

  /** Releases every address held by a handle (optionally only those with the given sequence number). */
  async releaseByHandle(handleId: string, sequenceNumber?: number): Promise<number> {
    const id = sanitizeHandle(handleId);
    const handle = await this.kv.get(handleKey(id));
    if (!handle) return 0;
    await this.sync();
    let total = 0;
    for (const cidrText of Object.keys((handle.value as ApiObject).spec.block ?? {})) {
      const cidr = blockCidr(cidrText);
      if (!cidr) continue;
      for (let i = 0; i < DATASTORE_RETRIES; i++) {
        const entry = this.blockEntry(cidr) ?? (await this.refreshBlock(cidr));
        if (!entry) {
          // The block is gone, so nothing of this handle is left in it: drop the handle's count for it.
          await this.handles.decrement(id, cidrText, Number.MAX_SAFE_INTEGER);
          break;
        }
        const spec = this.mutableSpec(entry);
        const block = new Block(spec);
        const n = block.releaseByHandle(id, sequenceNumber);
        if (n === 0) {
          // Nothing of this handle is left in the block: a release or an assignment killed between its block
          // and handle writes (the handle is written first). Drop the stale count, or the handle leaks for good.
          if (sequenceNumber === undefined)
            await this.handles.decrement(id, cidrText, Number.MAX_SAFE_INTEGER);
          break;
        }
        if (!(await this.writeReleased(entry, block))) continue;
        await this.handles.decrement(id, cidrText, n);
        total += n;
        break;
      }
    }
    return total;
  }

  /**
   * The addresses a handle holds, read from the blocks its handle names (Calico's IPsByHandle); undefined when
   * there is no such handle.
   */
  async ipsByHandle(handleId: string): Promise<string[] | undefined> {
    const id = sanitizeHandle(handleId);
    const handle = await this.kv.get(handleKey(id));
    if (!handle) return undefined;
    await this.sync();
    const ips: string[] = [];
    for (const cidrText of Object.keys((handle.value as ApiObject).spec.block ?? {})) {
      const cidr = blockCidr(cidrText);
      const entry = cidr && (await this.refreshBlock(cidr));
      if (entry) ips.push(...new Block(entry.obj.spec).addressesOf(id));
    }
    return ips;
  }

  /** Gives up all of a host's block affinities (a node was removed); with `mustBeEmpty`, only empty blocks. */
  async releaseHostAffinities(host: string, mustBeEmpty: boolean): Promise<void> {
    await this.sync();
    const affinity: Affinity = { type: "host", host };
    // In the datastore's order (by name), as Calico lists them; the cache's own order depends on its history.
    for (const key of this.affinities.keysIndexedBy(affinityString(affinity)).sort()) {
      const cidr = blockCidr((this.affinities.get(key)!.value as ApiObject).spec.cidr);
      if (!cidr) continue;
      try {
        await this.releaseBlockAffinity(affinity, cidr, { requireEmpty: mustBeEmpty });
      } catch (e) {
        if (!(e instanceof BlockNotEmpty)) throw e;
      }
    }
  }

  // ---------------------------------------------------------------- reports

  /** Per-pool block usage, pools in name order; blocks outside every pool come last, in a group of their own. */
  async getUtilization(): Promise<PoolUtilization[]> {
    await this.sync();
    const pools = (await this.allPools()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const groups: PoolUtilization[] = pools.map((p) => ({ name: p.name, cidr: p.cidr, blocks: [] }));
    const orphans: PoolUtilization = { name: undefined, cidr: undefined, blocks: [] };
    for (const e of this.allBlocks()) {
      const c = blockCidr(e.obj.spec.cidr);
      if (!c) continue;
      const at = pools.findIndex((p) => cidrContainsIp(p.cidr, c));
      const use: BlockUtilization = {
        cidr: e.obj.spec.cidr,
        capacity: 2 ** (familyBits(c.family) - c.prefix),
        available: e.obj.spec.unallocated.length,
      };
      (at === -1 ? orphans : groups[at]!).blocks.push(use);
    }
    if (orphans.blocks.length > 0) groups.push(orphans);
    return groups;
  }

  /** Who holds an address, or undefined if it is not assigned. */
  async getAssignmentAttributes(address: string): Promise<AssignmentAttributes | undefined> {
    const ip = parseIp(address);
    if (!ip) throw new TortieError("Invalid", `invalid IP address ${JSON.stringify(address)}`);
    await this.sync();
    const entry = this.blockContainingIp(await this.allPools(), ip);
    if (!entry) return undefined;
    const block = new Block(entry.obj.spec);
    const attr = block.attributeOf(ip);
    if (!attr) return undefined;
    return {
      handleId: attr.handle_id,
      attrs: { ...(attr.secondary ?? {}) },
      block: entry.obj.spec.cidr,
      sequenceNumber: block.sequenceNumberOf(block.ipToOrdinal(ip)!),
    };
  }
}
