import type { KindDef } from "../api/index.ts";

/**
 * Kinds clients list as a matter of course that tortie does not model: `kubectl cluster-info dump` lists every
 * namespace's events and replication controllers and stops at the first 404, and `kubectl describe` lists a
 * object's events. They are served as real, store-backed resources (get, list and watch answer from the
 * store like any kind's), read-only through the API: nothing in tortie writes them, so their lists are truly
 * empty, and a client's write is refused with the reason instead of being stored where no controller would act
 * on it. Kept out of the api registry, so tortie's own commands, calicoctl and the OpenAPI documents do not
 * offer them.
 */
export const unmodelledKinds: readonly KindDef[] = [
  {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    shortNames: ["ev"],
    namespaced: true,
    body: () => ({}),
    managedBy: "not supported yet: events (tortie's controllers record none)",
  },
  {
    group: "",
    version: "v1",
    kind: "ReplicationController",
    plural: "replicationcontrollers",
    shortNames: ["rc"],
    namespaced: true,
    body: () => ({}),
    managedBy: "not supported yet: replication controllers (tortie runs Deployments and ReplicaSets)",
  },
];
