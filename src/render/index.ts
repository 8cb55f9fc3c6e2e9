export * from "./kube-proxy/index.ts";
