import type { Ipam } from "../ipam/index.ts";
import { TortieError } from "../lib/index.ts";
import type { ResourceClient } from "../store/index.ts";
import { reconcileEndpoints } from "./endpoints.ts";
import { reconcileAutoHostEndpoints } from "./host-endpoints.ts";
import { runKubelets } from "./kubelet.ts";
import { reconcileLoadBalancers } from "./load-balancer.ts";
import { schedulePods } from "./scheduler.ts";
import { readTopology } from "./topology.ts";
import { collectOrphans, reconcileDeployments, reconcileReplicaSets } from "./workloads.ts";
import { Writer } from "./writes.ts";

/** A pass that still writes after this many rounds is a controller fighting itself: a bug, reported as one. */
const MAX_ROUNDS = 20;

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
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const w = new Writer(client);
    const t = now();
    await collectOrphans(w);
    await reconcileDeployments(w, t);
    await reconcileReplicaSets(w);
    await schedulePods(w, t);
    await runKubelets(w, ipam, topology, t);
    await reconcileEndpoints(w);
    await reconcileLoadBalancers(w, ipam);
    await reconcileAutoHostEndpoints(w);
    total += w.writes;
    if (w.writes === 0) return { rounds: round, writes: total };
  }
  throw new TortieError("Internal", `controllers did not settle after ${MAX_ROUNDS} rounds`);
}
