import type { ApiObject } from "../api/index.ts";
import { deepClone } from "../lib/index.ts";
import { matchesLabelSelector } from "./label-selector.ts";
import { nameSuffix, podTemplateHash } from "./names.ts";
import { untoleratedTaints } from "./scheduler.ts";
import { kinds } from "./topology.ts";
import { isPodReady } from "./workloads.ts";
import { isOwnedBy, ownerRef, type Writer } from "./writes.ts";

/**
 * The tolerations the DaemonSet controller adds to every pod it makes (Kubernetes' AddOrUpdateDaemonPodTolerations):
 * a node's conditions must not evict or keep out a per-node daemon. The not-ready NoSchedule taint is not among
 * them: a daemon that must run before the network is up tolerates it itself (calico-node does).
 */
const DAEMON_TOLERATIONS = [
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" },
  { key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule" },
  { key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" },
];
/** Added for host-networked daemons only: they run while the node's pod network is still unavailable. */
const HOST_NETWORK_TOLERATION = {
  key: "node.kubernetes.io/network-unavailable",
  operator: "Exists",
  effect: "NoSchedule",
};

interface Toleration {
  key?: string;
  operator?: string;
  effect?: string;
}

/** The template's pod spec with the controller's tolerations added (those the template already has kept once). */
function daemonPodSpec(template: ApiObject["spec"]): Record<string, unknown> {
  const spec = deepClone(template.spec ?? {});
  const tolerations: Toleration[] = [...(spec.tolerations ?? [])];
  const extra = spec.hostNetwork ? [...DAEMON_TOLERATIONS, HOST_NETWORK_TOLERATION] : DAEMON_TOLERATIONS;
  for (const t of extra)
    if (!tolerations.some((x) => x.key === t.key && x.effect === t.effect && x.operator === t.operator))
      tolerations.push(t);
  return { ...spec, tolerations };
}

/** The nodes a DaemonSet runs a pod on: its nodeSelector matches and its pods tolerate every NoSchedule/NoExecute taint. */
function eligibleNodes(nodes: ApiObject[], podSpec: Record<string, unknown>): ApiObject[] {
  const selector = (podSpec.nodeSelector ?? {}) as Record<string, string>;
  const probe = { spec: podSpec } as ApiObject;
  return nodes.filter(
    (n) =>
      Object.entries(selector).every(([k, v]) => n.metadata.labels?.[k] === v) &&
      untoleratedTaints(n, probe).length === 0,
  );
}

/**
 * The DaemonSet controller: one pod per eligible node (`<daemonset>-<5 chars>`, a new name each time one is
 * made), bound to its node by name as the controller's node affinity would bind it; pods on nodes no longer
 * eligible, duplicates and pods of an older template are deleted (tortie replaces them in one step, not one node
 * at a time); and the DaemonSet's status counts.
 */
export async function reconcileDaemonSets(w: Writer): Promise<void> {
  const daemonSets = await w.client.list(kinds.DaemonSet);
  if (daemonSets.length === 0) return;
  const nodes = await w.client.list(kinds.Node);
  const pods = await w.client.list(kinds.Pod);
  const names = new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
  for (const ds of daemonSets) {
    const ns = ds.metadata.namespace!;
    const spec = daemonPodSpec(ds.spec.template);
    const hash = podTemplateHash(ds.spec.template);
    const eligible = eligibleNodes(nodes, spec);
    const eligibleNames = new Set(eligible.map((n) => n.metadata.name));
    const mine = pods.filter((p) => p.metadata.namespace === ns && isOwnedBy(p, ds));
    const kept = new Map<string, ApiObject>();
    const oldestFirst = [...mine].sort(
      (a, b) =>
        cmp(a.metadata.creationTimestamp, b.metadata.creationTimestamp) ||
        cmp(a.metadata.name, b.metadata.name),
    );
    for (const p of oldestFirst) {
      const node = String(p.spec.nodeName ?? "");
      const current = p.metadata.labels?.["controller-revision-hash"] === hash;
      if (!eligibleNames.has(node) || kept.has(node) || !current) await w.remove(kinds.Pod, p);
      else kept.set(node, p);
    }
    const missing = eligible.filter((n) => !kept.has(n.metadata.name!));
    // Seeded with the store revision: a re-created pod gets a new name, and the same history the same names.
    const revision = missing.length ? await w.client.backend.revision() : 0;
    for (const node of missing) {
      let name = "";
      for (let attempt = 0; !name || names.has(`${ns}/${name}`); attempt++)
        name = `${ds.metadata.name}-${nameSuffix(`${ns}/${ds.metadata.name}/${revision}/${node.metadata.name}/${attempt}`)}`;
      names.add(`${ns}/${name}`);
      kept.set(node.metadata.name!, await w.create(daemonPod(ds, name, hash, spec, node.metadata.name!)));
    }
    await w.setStatus(ds, daemonSetStatus(ds, eligible.length, [...kept.values()]));
  }
}

function daemonPod(
  ds: ApiObject,
  name: string,
  hash: string,
  spec: Record<string, unknown>,
  node: string,
): ApiObject {
  const template = ds.spec.template;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      generateName: `${ds.metadata.name}-`,
      namespace: ds.metadata.namespace,
      labels: {
        ...(template.metadata?.labels ?? {}),
        "controller-revision-hash": hash,
        "pod-template-generation": String(ds.metadata.generation ?? 1),
      },
      ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [ownerRef(ds)],
    },
    spec: {
      ...spec,
      nodeName: node,
      // What the controller writes so the scheduler binds the pod to its node (kept, as on a real pod).
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: "metadata.name", operator: "In", values: [node] }] }],
          },
        },
      },
    },
  };
}

/** DaemonSetStatus: the four counts without omitempty always written, the others only when not zero. */
function daemonSetStatus(ds: ApiObject, desired: number, pods: ApiObject[]): Record<string, unknown> {
  const ready = pods.filter(isPodReady).length;
  const selected = pods.filter((p) => matchesLabelSelector(ds.spec.selector, p.metadata.labels ?? {}));
  const status: Record<string, unknown> = {
    currentNumberScheduled: selected.length,
    numberMisscheduled: 0,
    desiredNumberScheduled: desired,
    numberReady: ready,
    observedGeneration: ds.metadata.generation,
    updatedNumberScheduled: selected.length,
    numberAvailable: ready,
    numberUnavailable: Math.max(0, desired - ready),
  };
  for (const k of ["updatedNumberScheduled", "numberAvailable", "numberUnavailable"])
    if (status[k] === 0) delete status[k];
  return status;
}

function cmp(a: string | undefined, b: string | undefined): number {
  return (a ?? "") < (b ?? "") ? -1 : (a ?? "") > (b ?? "") ? 1 : 0;
}
