export * from "./deep.ts";
export * from "./errors.ts";
