export * from "./deep.ts";
export * from "./errors.ts";
export * from "./hash.ts";
