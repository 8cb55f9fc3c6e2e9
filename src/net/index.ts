export * from "./cidr.ts";
export * from "./ip.ts";
export * from "./ip-protocols.ts";
