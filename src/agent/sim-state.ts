import {
  type BirdSavedState,
  type ConntrackEntry,
  type CounterKey,
  counterEntries,
  type Kernel,
  type Neighbour,
  type Route,
  type TableName,
} from "../dataplane/sim/index.ts";

/**
 * What survives between two CLI invocations, split so that a command reads and writes only what it touched:
 * one small global part (the virtual clock, randomness, the BGP outcome's fingerprint) and one part per host
 * (the host and its pods' namespaces: counters, conntrack, neighbours, ephemeral ports, the routes BIRD
 * programmed). BIRD's sessions (SimState.bgpSessions) and app logs (append-only, per pod) are kept apart.
 */
export interface SimGlobalState {
  now: number;
  rngState: number;
  /** The wall clock (ms since the epoch) at which `now` was read; the next command advances `now` from it. */
  wall?: number;
  /**
   * The fingerprints of the inputs (sim-bgp-cache.ts) as of a store revision (`key`): a command that reads the
   * store at the same revision takes them rather than hashing every object again.
   */
  inputs?: { key: string; bgp: string; all: string };
  /** The last full BGP run's outcome: what it depended on, until when it holds, which hosts ran no BIRD. */
  bgp?: BgpCacheMeta;
  /** What the agents could not program (Felix's and BGP's notes) for the objects fingerprinted. */
  notes?: { fingerprint: string; unsupported: string[]; warnings: string[] };
}

export interface BgpCacheMeta {
  /** A hash of everything the BGP run depends on (see sim-bgp-cache.ts). */
  fingerprint: string;
  /** The virtual time of the earliest pending BGP timer then (connect delay, hold timer); past it, rerun. Absent: none. */
  horizon?: number;
  /** Per host whose BIRD could not start, why (in topology order). */
  failures: [string, string][];
}

/** One host's part: its own namespace's and its pods' (keyed by namespace name: `node1`, `yaobank/customer-…`). */
export interface SimHostState {
  /** `NAMESPACE|TABLE|CHAIN|RULE TEXT#N` (or `…|policy`, or `NAMESPACE|nft|…`) → [packets, bytes]. */
  counters: Record<string, [number, number]>;
  conntrack: Record<string, ConntrackEntry[]>;
  ephemeral: Record<string, number>;
  neighbours: Record<string, Neighbour[]>;
  /** The routes BIRD's kernel protocol programmed in the last full BGP run (valid under `SimGlobalState.bgp`). */
  bgpRoutes?: Route[];
  /** The port this host's BIRD listens on, when it runs one. */
  bgpPort?: number;
}

/** The saved state a cluster is opened with: the global part, and each host's part on demand. */
export interface SimState {
  global: SimGlobalState;
  host(name: string): SimHostState | undefined;
  /**
   * BIRD's protocols on a host: state and since when (so `birdc`'s Since column survives commands). Kept apart
   * from the host's part: only a full BGP run reads and writes them (a node's mesh has a session per node).
   */
  bgpSessions(name: string): BirdSavedState[string] | undefined;
}

/** What a command leaves to save: the global part, the parts of the hosts it built, and new log lines. */
export interface SimStateUpdate {
  global: SimGlobalState;
  hosts: Map<string, SimHostState>;
  /**
   * After a full BGP run, every host's BIRD sessions (undefined: the host runs no BIRD any more); without one
   * (routes replayed), undefined, and the saved sessions stay as they are.
   */
  bgpSessions?: Map<string, BirdSavedState[string] | undefined>;
  /** The saved state the cluster was opened with (the store may skip writing parts that did not change). */
  source?: SimState;
  /** Per pod (`NS/POD`), the lines its apps logged during this command, to append. */
  logs: Map<string, string[]>;
}

export function emptySimState(): SimState {
  return { global: { now: 0, rngState: 0x2545f491 }, host: () => undefined, bgpSessions: () => undefined };
}

export function emptyHostState(): SimHostState {
  return { counters: {}, conntrack: {}, ephemeral: {}, neighbours: {} };
}

/**
 * Puts saved counters back on a namespace's rules. Only chains that have saved counters have their rules'
 * texts computed (a counter is keyed by its rule's text, so a rule that stays keeps counting).
 */
export function restoreCounters(k: Kernel, counters: Record<string, [number, number]>): void {
  const byChain = new Map<string, CounterKey[]>();
  let nft: Map<string, [number, number]> | undefined;
  const prefix = `${k.name}|`;
  for (const [key, [packets, bytes]] of Object.entries(counters)) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    if (rest.startsWith("nft|")) {
      if (!nft) nft = new Map();
      nft.set(rest.slice(4), [packets, bytes]);
      continue;
    }
    const a = rest.indexOf("|");
    const b = rest.indexOf("|", a + 1);
    if (a < 0 || b < 0) continue;
    const chain = rest.slice(0, b);
    const what = rest.slice(b + 1);
    const hash = what.lastIndexOf("#");
    const entry: CounterKey =
      what === "policy"
        ? { text: undefined, occurrence: 0, packets, bytes }
        : { text: what.slice(0, hash), occurrence: Number(what.slice(hash + 1)), packets, bytes };
    if (entry.text !== undefined && (hash < 0 || !Number.isInteger(entry.occurrence))) continue;
    const list = byChain.get(chain);
    if (list) list.push(entry);
    else byChain.set(chain, [entry]);
  }
  for (const [key, entries] of byChain) {
    const i = key.indexOf("|");
    k.netfilter.setCounters(key.slice(0, i) as TableName, key.slice(i + 1), entries);
  }
  if (nft)
    for (const [key, c] of counterEntries(k.nft)) {
      const saved = nft.get(key);
      if (saved) [c.packets, c.bytes] = saved;
    }
}

/** A namespace's non-zero counters; only chains with a non-zero rule have their rules' texts computed. */
export function saveCounters(k: Kernel, out: Record<string, [number, number]>): void {
  for (const e of k.netfilter.countedRules())
    out[`${k.name}|${e.table}|${e.chain}|${e.text === undefined ? "policy" : `${e.text}#${e.occurrence}`}`] =
      [e.packets, e.bytes];
  for (const [key, c] of counterEntries(k.nft))
    if (c.packets || c.bytes) out[`${k.name}|nft|${key}`] = [c.packets, c.bytes];
}
