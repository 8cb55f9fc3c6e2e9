import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CommandResult,
  emptySimState,
  runSimCommand,
  SimCluster,
  type SimState,
} from "../agent/index.ts";
import { type ApiObject, findKind } from "../api/index.ts";
import { type ClusterTopology, controlKinds, readTopology } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import { installCaptureTaps } from "./capture.ts";
import type { CliContext } from "./context.ts";
import { readPolicySnapshot } from "./policy-snapshot.ts";
import { runTcpdump, tcpdumpInvocation } from "./tcpdump.ts";

const memoryStates = new WeakMap<CliContext, SimState>();

function statePath(ctx: CliContext): string | undefined {
  return ctx.stateDir === undefined ? undefined : join(ctx.stateDir, "sim-state.json");
}

function loadState(ctx: CliContext): SimState {
  const path = statePath(ctx);
  if (!path) return memoryStates.get(ctx) ?? emptySimState();
  if (!existsSync(path)) return emptySimState();
  try {
    return JSON.parse(readFileSync(path, "utf8")) as SimState;
  } catch (e) {
    throw new TortieError(
      "Invalid",
      `${path}: the sim dataplane's saved state is unreadable (${(e as Error).message}); delete the file to start the dataplane afresh`,
    );
  }
}

function saveState(ctx: CliContext, state: SimState): void {
  const path = statePath(ctx);
  if (!path) {
    memoryStates.set(ctx, state);
    return;
  }
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
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
): Promise<{ topology: ClusterTopology; objects: ApiObject[] }> {
  const store = ctx.store();
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
  return { topology, objects };
}

/**
 * The cluster on the sim dataplane as the store describes it now, with the dataplane state of earlier commands.
 * `edit` changes the objects the agents see without storing anything (`tortie bgp routes -f`).
 */
export async function openSimCluster(
  ctx: CliContext,
  edit?: (objects: ApiObject[]) => ApiObject[],
): Promise<SimCluster> {
  const { topology, objects } = await readSimInputs(ctx);
  const cluster = new SimCluster(
    edit ? edit(objects) : objects,
    topology,
    loadState(ctx),
    ctx.now().getTime(),
  );
  installCaptureTaps(ctx.stateDir, cluster);
  return cluster;
}

/** `down`: the dataplane's memory goes with the cluster (a later `up` starts its agents, and BIRD, afresh). */
export function forgetSimState(ctx: CliContext): void {
  const path = statePath(ctx);
  if (!path) memoryStates.delete(ctx);
  else rmSync(path, { force: true });
}

/** Saves what the dataplane remembers after a command that ran on it (counters, conntrack, BGP sessions). */
export function saveSimState(ctx: CliContext, cluster: SimCluster): void {
  saveState(ctx, cluster.state());
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
  const cluster = await openSimCluster(ctx);
  const k = simTarget(cluster, target);
  const r = runSimCommand(cluster, k, command);
  // What the agents could not program may explain what the command saw, so it is said first.
  for (const reason of cluster.unsupported) ctx.err(`tortie: not programmed on the sim: ${reason}\n`);
  saveState(ctx, cluster.state());
  return r;
}

/** A command run through exec finished with this exit code (not an error of tortie's own). */
export class CommandExit extends Error {
  constructor(readonly code: number) {
    super(`command exited with status ${code}`);
  }
}

/** Every pod's log lines as the sim dataplane saved them (`NS/POD` → lines), read afresh each call. */
export function simLogs(ctx: CliContext): Record<string, string[]> {
  return loadState(ctx).logs;
}
