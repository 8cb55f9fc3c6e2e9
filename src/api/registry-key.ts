import type { KindDef } from "./kind.ts";

/**
 * Where an object lives in the store: the etcd key layout of the Kubernetes API server,
 * /registry/<group|core>/<plural>/[<namespace>/]<name>. Part of the API because every layer that stores or
 * finds objects (the store, IPAM, controllers) must agree on it.
 */
export function keyFor(def: KindDef, name: string, namespace?: string): string {
  return `${prefixFor(def, def.namespaced ? namespace : undefined)}${name}`;
}

/** The prefix of every object of a kind, or of one namespace's objects of a namespaced kind. */
export function prefixFor(def: KindDef, namespace?: string): string {
  const base = `/registry/${def.group || "core"}/${def.plural}/`;
  return def.namespaced && namespace ? `${base}${namespace}/` : base;
}
