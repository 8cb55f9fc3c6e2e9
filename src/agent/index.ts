export { type BgpWiring, type BirdInstance, hostBirdError } from "./sim-bgp.ts";
export {
  emptySimState,
  SimCluster,
  type SimClusterOptions,
  type SimGlobalState,
  type SimHostState,
  type SimState,
  type SimStateUpdate,
} from "./sim-cluster.ts";
export { type CommandResult, runSimCommand } from "./sim-commands.ts";
export { SimDataplaneKernel } from "./sim-dataplane-kernel.ts";
export {
  type ProbeVia,
  type SimMatrixOptions,
  serveProbedPorts,
  simMatrixCells,
  simProbe,
} from "./sim-matrix.ts";
export { runFilter } from "./text-filters.ts";
export {
  type CalicoPolicyHit,
  type TraceFlowLog,
  type TraceHopOut,
  type TraceNatOut,
  type TracePolicyOut,
  type TraceReport,
  type TraceRequest,
  type TraceRuleOut,
  type TraceWhere,
  traceConnection,
} from "./trace.ts";
