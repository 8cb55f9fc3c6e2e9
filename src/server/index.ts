export type { CommandIO, ForwardedCommand, PodExecRequest, PodLogRequest, ServerHost } from "./host.ts";
