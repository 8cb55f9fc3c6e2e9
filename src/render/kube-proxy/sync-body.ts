/**
 * The per-service-port part of an iptables sync: every port's KUBE-SERVICES / KUBE-NODEPORTS entries and
 * filter rules in service-port-name order, and the own chains of the services being written.
 *
 * kube-proxy rewrites KUBE-SERVICES in full on every sync, even a partial one, so with 10,000 services a sync
 * that changes one endpoint still emits 10,000 entries. An `IptablesSyncCache` (one per syncer) keeps the
 * previous sync's order and the joined text of each run of `CHUNK` ports; a run whose ports are the same
 * objects as last time reuses its text. A partial sync then costs a pointer comparison per port, the joins of
 * the runs, and the rendering of what changed. Without a cache (or with a fresh one) the same code renders
 * everything, so both paths produce the same bytes by construction.
 */
import {
  type RenderSettings,
  type ServicePortRules,
  type ServicePortTop,
  servicePortRules,
  servicePortTop,
} from "./service-port-rules.ts";
import { type ProxyServicePort, serviceKeyOf, spnOf } from "./service-ports.ts";

/** Ports per cached run: small enough that a changed port re-joins little, large enough to keep runs few. */
const CHUNK = 64;

interface Chunk {
  ports: ProxyServicePort[];
  keys: string[];
  /** Service keys in the run, for finding the runs a partial sync writes chains in. */
  keySet: Set<string>;
  /** The run's non-empty filter blocks, newline-joined ("" when none). */
  filter: string;
  /** The run's non-empty KUBE-SERVICES / KUBE-NODEPORTS blocks, newline-joined. */
  natTop: string;
}

/** What one syncer remembers between syncs to make the next one proportional to what changed. */
export class IptablesSyncCache {
  input: ProxyServicePort[] = [];
  /** The sorted order of `input`, as indices into it. */
  perm: number[] = [];
  settingsKey = "";
  chunks: Chunk[] = [];
}

/** Where the per-port text goes: blocks of newline-separated lines, pushed in emission order. */
export interface SyncBodyOutput {
  filterRules: string[];
  natChainLines: string[];
  natRules: string[];
  serviceChains: Map<string, string[]>;
  writtenNatChains: Set<string>;
}

const sortKeys = new WeakMap<ProxyServicePort, string>();

function sortKey(sp: ProxyServicePort): string {
  let k = sortKeys.get(sp);
  if (k === undefined) {
    k = spnOf(sp) + sp.protocol;
    sortKeys.set(sp, k);
  }
  return k;
}

/** Indices of `ports` in service-port-name order; ties keep input order (a stable sort). */
function sortedPerm(ports: ProxyServicePort[]): number[] {
  const keys = ports.map(sortKey);
  const perm = ports.map((_, i) => i);
  perm.sort((a, b) => {
    const ka = keys[a]!;
    const kb = keys[b]!;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  return perm;
}

/** The sort depends only on the sequence of keys: if it is unchanged, so is the order. */
function sameKeySequence(a: ProxyServicePort[], b: ProxyServicePort[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && sortKey(x) !== sortKey(y)) return false;
  }
  return true;
}

function sameRun(ordered: ProxyServicePort[], start: number, chunk: Chunk | undefined): boolean {
  if (!chunk) return false;
  const ports = chunk.ports;
  const end = Math.min(ordered.length, start + CHUNK);
  if (ports.length !== end - start) return false;
  for (let i = 0; i < ports.length; i++) if (ports[i] !== ordered[start + i]) return false;
  return true;
}

function touches(chunk: Chunk, changed: ReadonlySet<string> | undefined): boolean {
  if (changed === undefined) return true;
  if (changed.size === 0) return false;
  if (changed.size <= chunk.keys.length) {
    for (const k of changed) if (chunk.keySet.has(k)) return true;
    return false;
  }
  for (const k of chunk.keys) if (changed.has(k)) return true;
  return false;
}

/** Fresh blocks are joined into pieces of about this many characters before they are kept. */
const PIECE = 256 * 1024;

/**
 * Collects a table's blocks in order. Fresh small blocks (rendered in this sync) are joined into large pieces
 * as they come: a piece that size is allocated outside the young generation, so the garbage collector never
 * copies it, and the lines it was made of die young. Cached blocks pass through without a copy.
 */
class Sink {
  private pending: string[] = [];
  private pendingLength = 0;
  constructor(private readonly out: string[]) {}

  fresh(block: string): void {
    this.pending.push(block);
    this.pendingLength += block.length + 1;
    if (this.pendingLength >= PIECE) this.flush();
  }

  /** A port's lines are joined while they are still in the cache, then copied once more into the piece. */
  freshLines(lines: string[]): void {
    if (lines.length > 0) this.fresh(lines.join("\n"));
  }

  cached(block: string): void {
    this.flush();
    this.out.push(block);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.out.push(this.pending.length === 1 ? this.pending[0]! : this.pending.join("\n"));
    this.pending = [];
    this.pendingLength = 0;
  }
}

function anyChanged(keys: string[], changed: ReadonlySet<string> | undefined): boolean {
  if (changed === undefined) return true;
  if (changed.size === 0) return false;
  for (const k of keys) if (changed.has(k)) return true;
  return false;
}

/**
 * Emits every port's entries in order and, for the ports of `changed` services (every port when undefined),
 * their chains; updates `cache` for the next sync.
 */
export function writeServicePorts(
  ports: ProxyServicePort[],
  settings: RenderSettings,
  settingsKey: string,
  changed: ReadonlySet<string> | undefined,
  out: SyncBodyOutput,
  cache: IptablesSyncCache,
): void {
  const perm = sameKeySequence(ports, cache.input) ? cache.perm : sortedPerm(ports);
  const ordered = perm.map((i) => ports[i]!);
  const reuse = cache.settingsKey === settingsKey;
  const filter = new Sink(out.filterRules);
  const chainLines = new Sink(out.natChainLines);
  const nat = new Sink(out.natRules);
  const chunks: Chunk[] = [];
  for (let start = 0; start < ordered.length; start += CHUNK) {
    const old = cache.chunks[start / CHUNK];
    if (reuse && sameRun(ordered, start, old) && !touches(old!, changed)) {
      if (old!.filter) filter.cached(old!.filter);
      if (old!.natTop) nat.cached(old!.natTop);
      chunks.push(old!);
      continue;
    }
    // A run with a new port, or with a port whose chains are written: its ports in order, rendered as needed.
    const run = ordered.slice(start, start + CHUNK);
    const keys = run.map(serviceKeyOf);
    const rendered: ServicePortTop[] = [];
    const filters: string[] = [];
    const natTops: string[] = [];
    const write = anyChanged(keys, changed);
    for (let i = 0; i < run.length; i++) {
      const sp = run[i]!;
      const key = keys[i]!;
      const full = write && (changed === undefined || changed.has(key));
      const rules = full
        ? servicePortRules(sp, settings, settingsKey)
        : servicePortTop(sp, settings, settingsKey);
      rendered.push(rules);
      if (rules.filter) filters.push(rules.filter);
      if (rules.natTop) natTops.push(rules.natTop);
      if (!full) continue;
      const list = out.serviceChains.get(key);
      if (list) list.push(...rules.chains);
      else out.serviceChains.set(key, [...rules.chains]);
      for (const c of rules.chains) out.writtenNatChains.add(c);
    }
    const chunk: Chunk = {
      ports: run,
      keys,
      keySet: new Set(keys),
      filter: filters.join("\n"),
      natTop: natTops.join("\n"),
    };
    chunks.push(chunk);
    if (chunk.filter) filter.fresh(chunk.filter);
    if (!write) {
      if (chunk.natTop) nat.fresh(chunk.natTop);
      continue;
    }
    // Each written port's chains follow its own entries.
    for (let i = 0; i < run.length; i++) {
      const top = rendered[i]!;
      if (top.natTop) nat.fresh(top.natTop);
      if (changed !== undefined && !changed.has(keys[i]!)) continue;
      const rules = top as ServicePortRules;
      chainLines.freshLines(rules.chainLines);
      nat.freshLines(rules.chainRules);
    }
  }
  filter.flush();
  chainLines.flush();
  nat.flush();
  cache.input = ports.slice();
  cache.perm = perm;
  cache.settingsKey = settingsKey;
  cache.chunks = chunks;
}
