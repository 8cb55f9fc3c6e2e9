import type { FieldProblem } from "../../lib/index.ts";
import type { ApiObject } from "../object.ts";

/**
 * tortie's replica limit, a quota-like cap on `spec.replicas` of a Deployment or ReplicaSet. One machine emulates
 * every pod (a network namespace, an address, endpoint and rule updates on every write), so a workload's size is
 * bounded where the settle after each write stays in seconds. Kubernetes itself stops at int32.
 */
const MAX_REPLICAS = 1000;

const INT32_MAX = 2 ** 31 - 1;

/** spec.replicas: an int32 as the API server decodes it, then tortie's cap. */
export function checkReplicas(o: ApiObject, out: FieldProblem[]): void {
  const n = o.spec?.replicas;
  if (typeof n !== "number") return;
  if (n > INT32_MAX)
    out.push({
      path: "spec.replicas",
      message: `${o.kind} in version "v1" cannot be handled as a ${o.kind}: json: cannot unmarshal number ${n} into Go struct field ${o.kind}Spec.spec.replicas of type int32`,
    });
  else if (n > MAX_REPLICAS)
    out.push({
      path: "spec.replicas",
      message: `Invalid value: ${n}: must be no greater than ${MAX_REPLICAS} (tortie's replica limit: one machine emulates every pod)`,
    });
}
