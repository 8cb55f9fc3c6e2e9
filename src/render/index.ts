export * from "./confd/index.ts";
export * from "./felix/index.ts";
export * from "./kube-proxy/index.ts";
