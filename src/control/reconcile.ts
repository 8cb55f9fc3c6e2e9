import type { Ipam } from "../ipam/index.ts";
import { isTortieError, TortieError } from "../lib/index.ts";
import type { ResourceClient } from "../store/index.ts";
import { reconcileDaemonSets } from "./daemonsets.ts";
import { reconcileEndpoints } from "./endpoints.ts";
import { reconcileAutoHostEndpoints } from "./host-endpoints.ts";
import { runKubelets } from "./kubelet.ts";
import { reconcileLoadBalancers } from "./load-balancer.ts";
import { reconcileOperator } from "./operator.ts";
import { reconcileOperatorDataplane } from "./operator-dataplane.ts";
import { schedulePods } from "./scheduler.ts";
import { type ClusterTopology, readTopology } from "./topology.ts";
import { reconcileTunnelAddresses } from "./tunnel-addresses.ts";
import { collectOrphans, reconcileDeployments, reconcileReplicaSets } from "./workloads.ts";
import { Writer } from "./writes.ts";

/** A pass that still writes after this many rounds is a controller fighting itself: a bug, reported as one. */
const MAX_ROUNDS = 20;
/**
 * Passes cut short by a racing writer (Conflict, AlreadyExists, NotFound: another process changed what this
 * pass read) are re-run from a fresh read, after a jittered pause; this many, on top of MAX_ROUNDS.
 */
const MAX_RACES = 50;
const RACE_CODES = new Set(["Conflict", "AlreadyExists", "NotFound"]);

/** The error a racing writer causes: re-reading and running the pass again resolves it. */
function isRace(e: unknown): boolean {
  return isTortieError(e) && RACE_CODES.has(e.code);
}

function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 + attempt * 4);
  return new Promise((r) => setTimeout(r, ms));
}

export interface ReconcileResult {
  rounds: number;
  writes: number;
}

/**
 * Runs every controller until a whole pass writes nothing: the level-triggered loop Kubernetes runs on watches,
 * run to completion after each change so every command leaves the cluster settled. No-op when no cluster is up.
 */
export async function reconcileCluster(
  client: ResourceClient,
  ipam: Ipam,
  now: () => Date,
): Promise<ReconcileResult> {
  const topology = await readTopology(client);
  if (!topology) return { rounds: 0, writes: 0 };
  let total = 0;
  let races = 0;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const w = new Writer(client);
    try {
      await pass(w, ipam, topology, now());
    } catch (e) {
      if (!isRace(e) || ++races > MAX_RACES) throw e;
      total += w.writes;
      round--;
      await jitter(races);
      continue;
    }
    total += w.writes;
    if (w.writes === 0) return { rounds: round, writes: total };
  }
  throw new TortieError("Internal", `controllers did not settle after ${MAX_ROUNDS} rounds`);
}

/** One pass of every controller. Each step reads what it acts on afresh, so a pass cut short anywhere is redone. */
async function pass(w: Writer, ipam: Ipam, topology: ClusterTopology, t: Date): Promise<void> {
  await collectOrphans(w);
  await reconcileDeployments(w, t);
  await reconcileReplicaSets(w);
  await reconcileDaemonSets(w);
  await schedulePods(w, t);
  // calico-node allocates its tunnel addresses as it starts, before the CNI plugin gives pods theirs.
  await reconcileTunnelAddresses(w, ipam, topology);
  await runKubelets(w, ipam, topology, t);
  await reconcileOperator(w, topology, t);
  await reconcileEndpoints(w);
  await reconcileLoadBalancers(w, ipam);
  await reconcileAutoHostEndpoints(w);
  await reconcileOperatorDataplane(w);
}
