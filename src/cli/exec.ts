import {
  type CommandResult,
  runSimCommand,
  SimCluster,
  type SimClusterOptions,
  type SimState,
} from "../agent/index.ts";
import { type ApiObject, findKind } from "../api/index.ts";
import { type ClusterTopology, controlKinds, readTopology } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import { installCaptureTaps } from "./capture.ts";
import type { CliContext } from "./context.ts";
import { readPolicySnapshot } from "./policy-snapshot.ts";
import { forgetSimStateFiles, loadSimState, saveSimStateUpdate } from "./sim-state-files.ts";
import { runTcpdump, tcpdumpInvocation } from "./tcpdump.ts";

function loadState(ctx: CliContext): SimState {
  return loadSimState(ctx.stateDir, ctx);
}

/** What confd reads besides the policy snapshot's kinds (calc.ConfdInput): BGP resources, Calico nodes, blocks. */
const CONFD_INPUTS = [
  controlKinds.CalicoNode,
  controlKinds.BGPConfiguration,
  controlKinds.BlockAffinity,
  findKind("projectcalico.org/v3", "BGPPeer")!,
  findKind("projectcalico.org/v3", "BGPFilter")!,
  findKind("v1", "Secret")!,
];

/** What the sim dataplane is programmed from: the topology and the objects the agents read. */
export async function readSimInputs(
  ctx: CliContext,
): Promise<{ topology: ClusterTopology; objects: ApiObject[]; revision?: number }> {
  const store = ctx.store();
  const before = await store.backend.revision();
  const topology = await readTopology(store);
  if (!topology) throw new TortieError("NotFound", "no cluster: run 'tortie up' first");
  const objects: ApiObject[] = [...(await readPolicySnapshot(store)).objects];
  for (const def of [
    controlKinds.Topology,
    controlKinds.EndpointSlice,
    controlKinds.IPPool,
    controlKinds.IPAMBlock,
    ...CONFD_INPUTS,
  ])
    objects.push(...(await store.list(def)));
  // A revision only if nothing was written while reading: then the objects are exactly that revision's.
  const after = await store.backend.revision();
  return { topology, objects, ...(before === after ? { revision: before } : {}) };
}

/**
 * The cluster on the sim dataplane as the store describes it now, with the dataplane state of earlier commands.
 * `edit` changes the objects the agents see without storing anything (`tortie bgp routes -f`).
 */
export async function openSimCluster(
  ctx: CliContext,
  edit?: (objects: ApiObject[]) => ApiObject[],
  options: SimClusterOptions = {},
): Promise<SimCluster> {
  const { topology, objects, revision } = await readSimInputs(ctx);
  // The store's revision names the objects' version (with the cluster's identity, in case the store was remade).
  const topo = objects.find((o) => o.kind === "Topology");
  // bin/tortie names the code it runs (the bundle's hash, or the sources' newest change).
  const build = process.env.TORTIE_BUILD ?? "";
  const inputsKey =
    edit || revision === undefined
      ? undefined
      : `${revision}|${topo?.metadata.uid ?? topo?.metadata.creationTimestamp}|${build}`;
  const cluster = new SimCluster(
    edit ? edit(objects) : objects,
    topology,
    loadState(ctx),
    ctx.now().getTime(),
    { ...options, build, ...(inputsKey === undefined ? {} : { inputsKey }) },
  );
  installCaptureTaps(ctx.stateDir, cluster);
  return cluster;
}

/**
 * The cluster as openSimCluster gives it, built lazily: only the namespaces the command (or its packets) reach
 * are built, and BGP's routes come from the last full run while its inputs are unchanged (agent's SimCluster).
 */
export function openLazySimCluster(ctx: CliContext): Promise<SimCluster> {
  return openSimCluster(ctx, undefined, { lazy: true });
}

/** `down`: the dataplane's memory goes with the cluster (a later `up` starts its agents, and BIRD, afresh). */
export function forgetSimState(ctx: CliContext): void {
  forgetSimStateFiles(ctx.stateDir, ctx);
}

/** Saves what the dataplane remembers after a command that ran on it (counters, conntrack, BGP sessions). */
export function saveSimState(ctx: CliContext, cluster: SimCluster): void {
  saveSimStateUpdate(ctx.stateDir, ctx, cluster.state());
}

/** TARGET's namespace (a host name or NS/POD), or a NotFound error naming it. */
export function simTarget(
  cluster: SimCluster,
  target: string,
): NonNullable<ReturnType<SimCluster["kernel"]>> {
  const k = cluster.kernel(target);
  if (k) return k;
  if (target.includes("/"))
    throw new TortieError(
      "NotFound",
      `pods "${target.split("/")[1]}" not found in namespace ${target.split("/")[0]} (or it is not running)`,
    );
  throw new TortieError("NotFound", `no host named ${target} in this cluster`);
}

/** Runs COMMAND in TARGET's namespace (a host name or NS/POD) and saves what the dataplane remembers. */
export async function execOnSim(ctx: CliContext, target: string, command: string[]): Promise<number> {
  const tcpdump = tcpdumpInvocation(command);
  if (tcpdump) return runTcpdump(ctx, target, tcpdump);
  const r = await runOnSim(ctx, target, command);
  ctx.out(r.stdout);
  ctx.err(r.stderr);
  return r.code;
}

/** execOnSim, returning the command's output instead of printing it (`tortie shell` pipes it on). */
export async function runOnSim(ctx: CliContext, target: string, command: string[]): Promise<CommandResult> {
  // BIRD's own view (birdc, also under sudo) needs every speaker: BGP runs in full for it.
  const showsBgp = command.some((word) => word === "birdc" || word === "birdcl");
  const cluster = showsBgp ? await openSimCluster(ctx) : await openLazySimCluster(ctx);
  const k = simTarget(cluster, target);
  const r = runSimCommand(cluster, k, command);
  // What the agents could not program may explain what the command saw, so it is said first.
  for (const reason of cluster.unsupported) ctx.err(`tortie: not programmed on the sim: ${reason}\n`);
  saveSimState(ctx, cluster);
  return r;
}

// A command run through exec finished with this exit code (not an error of tortie's own).
export { CommandExit } from "./command-exit.ts";
