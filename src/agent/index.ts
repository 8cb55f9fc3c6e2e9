export { emptySimState, SimCluster, type SimState } from "./sim-cluster.ts";
export { type CommandResult, runSimCommand } from "./sim-commands.ts";
