import type { ApiObject } from "../api/index.ts";

/** The hosts the lab's manifests pin pods to (`kubernetes.io/hostname`), in the order of the lab's workers. */
const LAB_WORKERS = ["node1", "node2"];
const HOSTNAME = "kubernetes.io/hostname";

/**
 * Re-pins a bundled app to the topology's own nodes: what the lab pins to node1 goes to the first worker, node2
 * to the second, and to the last one when there are fewer. On the lab's own topology nothing changes.
 */
export function pinToNodes(objects: ApiObject[], workers: readonly string[]): ApiObject[] {
  if (workers.length === 0) return objects;
  const target = (node: string): string => {
    const i = LAB_WORKERS.indexOf(node);
    return i < 0 ? node : (workers[Math.min(i, workers.length - 1)] ?? node);
  };
  return objects.map((o) => {
    const podSpec = o.kind === "Pod" ? o.spec : o.spec?.template?.spec;
    const pinned = podSpec?.nodeSelector?.[HOSTNAME];
    if (typeof pinned !== "string" || target(pinned) === pinned) return o;
    const copy = structuredClone(o);
    const spec = copy.kind === "Pod" ? copy.spec : copy.spec.template.spec;
    spec.nodeSelector[HOSTNAME] = target(pinned);
    return copy;
  });
}
