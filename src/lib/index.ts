export * from "./deep.ts";
export * from "./errors.ts";
export * from "./hash.ts";
export * from "./limits.ts";
export * from "./seeded-random.ts";
export { sha256 } from "./sha256.ts";
