import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptySimState, runSimCommand, SimCluster, type SimState } from "../agent/index.ts";
import type { ApiObject } from "../api/index.ts";
import { controlKinds, readTopology } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import { readPolicySnapshot } from "./policy-snapshot.ts";

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

/** The cluster on the sim dataplane as the store describes it now, with the dataplane state of earlier commands. */
export async function openSimCluster(ctx: CliContext): Promise<SimCluster> {
  const store = ctx.store();
  const topology = await readTopology(store);
  if (!topology) throw new TortieError("NotFound", "no cluster: run 'tortie up' first");
  const objects: ApiObject[] = [...(await readPolicySnapshot(store)).objects];
  for (const def of [
    controlKinds.Topology,
    controlKinds.EndpointSlice,
    controlKinds.IPPool,
    controlKinds.IPAMBlock,
  ])
    objects.push(...(await store.list(def)));
  return new SimCluster(objects, topology, loadState(ctx));
}

/** Runs COMMAND in TARGET's namespace (a host name or NS/POD) and saves what the dataplane remembers. */
export async function execOnSim(ctx: CliContext, target: string, command: string[]): Promise<number> {
  const cluster = await openSimCluster(ctx);
  const k = cluster.kernel(target);
  if (!k) {
    if (target.includes("/"))
      throw new TortieError(
        "NotFound",
        `pods "${target.split("/")[1]}" not found in namespace ${target.split("/")[0]} (or it is not running)`,
      );
    throw new TortieError("NotFound", `no host named ${target} in this cluster`);
  }
  const r = runSimCommand(cluster, k, command);
  ctx.out(r.stdout);
  ctx.err(r.stderr);
  saveState(ctx, cluster.state());
  return r.code;
}

/** A command run through exec finished with this exit code (not an error of tortie's own). */
export class CommandExit extends Error {
  constructor(readonly code: number) {
    super(`command exited with status ${code}`);
  }
}

/** `kubectl logs`: what the pod's app logged, in order. */
export async function podLogs(ctx: CliContext, namespace: string, pod: string): Promise<string> {
  const exists = await ctx.store().get(controlKinds.Pod, pod, namespace);
  if (!exists) throw new TortieError("NotFound", `pods "${pod}" not found`);
  const lines = loadState(ctx).logs[`${namespace}/${pod}`] ?? [];
  return lines.map((l) => `${l}\n`).join("");
}
