import type { ApiObject } from "../api/index.ts";
import { HOST_BIRD_FILE, type NodeDataplane } from "../calc/index.ts";
import {
  BgpFabric,
  type BirdConfig,
  BirdConfigError,
  type BirdHostSpec,
  type BirdSavedState,
  counterEntries,
  type Kernel,
  type Network,
  parseBirdConfig,
} from "../dataplane/sim/index.ts";

/** One BIRD the sim runs: its files as written, and the parsed configuration. */
export interface BirdInstance {
  host: string;
  version: string;
  files: Record<string, string>;
  main: string;
  config: BirdConfig;
}

export interface BgpWiring {
  /** The speakers, or undefined when no host runs BIRD. */
  fabric: BgpFabric | undefined;
  /** Per host that runs BIRD, its configuration. */
  instances: Map<string, BirdInstance>;
  /** Per host whose BIRD could not start, why (it runs no BIRD, so it learns and advertises no routes). */
  failures: Map<string, string>;
}

/**
 * The configuration each host's BIRD runs, from the hosts' descriptions (calc renders confd's files, or takes an
 * external host's `bird` text). A host whose files confd would not render or BIRD would not parse runs no BIRD,
 * as calico-node's BIRD would refuse to start; the reason is returned, never replaced by routes of the sim's own.
 */
function birdInstances(nodes: readonly NodeDataplane[]): {
  instances: Map<string, BirdInstance>;
  failures: Map<string, string>;
} {
  const instances = new Map<string, BirdInstance>();
  const failures = new Map<string, string>();
  for (const n of nodes) {
    if (n.birdFailure !== undefined) {
      failures.set(n.host, n.birdFailure);
      continue;
    }
    const bird = n.bird;
    if (!bird) continue;
    try {
      const config = parseBirdConfig(bird.files, bird.main, bird.dialect);
      instances.set(n.host, {
        host: n.host,
        version: bird.version,
        files: bird.files,
        main: bird.main,
        config,
      });
    } catch (e) {
      if (!(e instanceof BirdConfigError)) throw e;
      failures.set(n.host, `BIRD refused its configuration: ${e.message}`);
    }
  }
  return { instances, failures };
}

/**
 * Starts a BGP speaker per host that has a BIRD configuration and lets the sessions and routes settle over the
 * emulated network (TCP 179 through each host's netfilter). `saved` carries session states and their
 * timestamps from earlier commands.
 */
export function startBgp(opts: {
  net: Network;
  kernels: Map<string, Kernel>;
  /** Every host's description, in the topology's order (their BIRD files or why BIRD does not run). */
  nodes: readonly NodeDataplane[];
  /** The objects, for when BGPPeers were created. */
  objects: ApiObject[];
  saved: BirdSavedState | undefined;
  clock: () => Date;
  /** The wall clock now (ms), to place objects' creation times on the virtual clock. */
  wallMs?: number;
}): BgpWiring {
  const { instances, failures } = birdInstances(opts.nodes);
  const hosts: BirdHostSpec[] = [];
  // An object created W ms of wall time ago was created W ms of virtual time before now: the virtual clock can run
  // ahead of the wall clock (simulated waits), so the wall-clock date itself is not the virtual one.
  const wallNow = opts.wallMs ?? opts.clock().getTime();
  const peerCreation = new Map<string, number>();
  for (const o of opts.objects)
    if (o.kind === "BGPPeer" && typeof o.spec?.peerIP === "string" && o.metadata.creationTimestamp) {
      const ip = o.spec.peerIP.replace(/^\[?([^\]]*?)\]?(?::\d+)?$/, "$1");
      const at = opts.net.now - Math.max(0, wallNow - Date.parse(o.metadata.creationTimestamp));
      peerCreation.set(ip, Math.max(peerCreation.get(ip) ?? at, at));
    }
  for (const i of instances.values()) {
    const kernel = opts.kernels.get(i.host);
    if (kernel)
      hosts.push({
        host: i.host,
        kernel,
        config: i.config,
        version: i.version,
        ...startTimes(i.config, opts.saved?.[i.host], peerCreation, opts.net.now),
      });
  }
  if (hosts.length === 0) return { fabric: undefined, instances, failures };
  const fabric = new BgpFabric({ net: opts.net, hosts, saved: opts.saved, clock: opts.clock });
  fabric.converge();
  return { fabric, instances, failures };
}

/**
 * When each BGP protocol of a node started, where the datastore tells: a `Global_`/`Node_` peering starts when its
 * BGPPeer was created (confd renders it and BIRD reconfigures at once), so BIRD's connect delay runs from then and a
 * `calicoctl node status` typed right after the apply shows it Idle, as on a real node. Protocols already running
 * keep their saved state; the mesh and host1's own peerings count as running since the cluster came up.
 */
function startTimes(
  config: BirdConfig,
  saved: BirdSavedState[string] | undefined,
  peerCreation: Map<string, number>,
  now: number,
): { startedAt?: Record<string, number> } {
  const startedAt: Record<string, number> = {};
  for (const p of config.protocols) {
    if (p.kind !== "bgp" || saved?.[p.name]) continue;
    const m = /^(?:Global|Node)_(\d+_\d+_\d+_\d+)(?:_port_\d+)?$/.exec(p.name);
    const created = m ? peerCreation.get(m[1]!.replaceAll("_", ".")) : undefined;
    if (created !== undefined) startedAt[p.name] = Math.min(created, now);
  }
  return Object.keys(startedAt).length ? { startedAt } : {};
}

/**
 * Forgets what packets have done to these namespaces so far: rule and chain counters (iptables and nft),
 * conntrack entries, neighbour entries and the links' resolution cache, and the ephemeral port cursor. Run after
 * the BGP sessions are established and before the saved state is restored (see SimCluster.runBgp).
 */
export function forgetSessionTraces(kernels: Iterable<Kernel>): void {
  for (const k of kernels) {
    for (const chains of k.netfilter.tables.values())
      for (const chain of chains.values()) {
        if (chain.policy) chain.packets = chain.bytes = 0;
        for (const r of chain.rules) r.packets = r.bytes = 0;
      }
    for (const [, c] of counterEntries(k.nft)) c.packets = c.bytes = 0;
    for (const e of [...k.conntrack.entries]) k.conntrack.remove(e);
    // Resolved entries are BGP's traces; permanent ones (Felix's VTEP entries) are the description's.
    for (const [key, n] of k.neighbours) if (!n.permanent) k.neighbours.delete(key);
    for (const link of k.links.values()) link.resolved = undefined;
    k.nextEphemeral = 32768;
  }
}

/** Why an external host's BIRD 2 configuration would not start (BIRD's `FILE:LINE:COL reason`), or undefined. */
export function hostBirdError(text: string): string | undefined {
  try {
    parseBirdConfig({ [HOST_BIRD_FILE]: text }, HOST_BIRD_FILE, "bird2");
    return undefined;
  } catch (e) {
    if (!(e instanceof BirdConfigError)) throw e;
    return e.message;
  }
}
