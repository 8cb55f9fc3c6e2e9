export type { ServerCredentials } from "./credentials.ts";
export type { CommandIO, ForwardedCommand, PodExecRequest, PodLogRequest, ServerHost } from "./host.ts";
export { kubeconfigText } from "./kubeconfig.ts";
// hono, @hono/node-server, ws and node-forge load with the server, not with `tortie kubectl`'s tables (lazy.ts).
export { ensureCredentials, startApiServer } from "./lazy.ts";
export { podLogResponse } from "./pod-log.ts";
export { toScale, withReplicas } from "./scale.ts";
export type { ApiServerOptions, RunningApiServer } from "./server.ts";
export { type Table, toTable } from "./table.ts";
export { formatLabels as formatTableLabels } from "./table-columns.ts";
