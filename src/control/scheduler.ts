import type { ApiObject } from "../api/index.ts";
import { kinds } from "./topology.ts";
import { timestamp, type Writer } from "./writes.ts";

interface Taint {
  key: string;
  value?: string;
  effect: string;
}

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

/** The node's NoSchedule/NoExecute taints that none of the pod's tolerations tolerate (PreferNoSchedule never blocks). */
export function untoleratedTaints(node: ApiObject, pod: ApiObject): Taint[] {
  const tolerations: Toleration[] = pod.spec.tolerations ?? [];
  return ((node.spec?.taints as Taint[] | undefined) ?? []).filter(
    (t) =>
      t.effect !== "PreferNoSchedule" &&
      !tolerations.some(
        (tol) =>
          (tol.effect === undefined || tol.effect === "" || tol.effect === t.effect) &&
          (tol.operator === "Exists"
            ? tol.key === undefined || tol.key === "" || tol.key === t.key
            : tol.key === t.key && (tol.value ?? "") === (t.value ?? "")),
      ),
  );
}

/** The scheduler's FailedScheduling message: how many nodes each filter turned away, as kube-scheduler counts them. */
function unschedulableMessage(
  all: number,
  notMatching: number,
  matching: ApiObject[],
  pod: ApiObject,
): string {
  const reasons: string[] = [];
  if (notMatching > 0) reasons.push(`${notMatching} node(s) didn't match Pod's node affinity/selector`);
  const byTaint = new Map<string, number>();
  for (const n of matching)
    for (const t of untoleratedTaints(n, pod).slice(0, 1)) {
      // kube-scheduler's TaintToleration plugin names the taint's key and value; kube-scheduler 1.25 reworded it.
      const text = `{${t.key}: ${t.value ?? ""}}`;
      byTaint.set(text, (byTaint.get(text) ?? 0) + 1);
    }
  const legacy =
    Number(/^v1\.(\d+)\./.exec(matching[0]?.status?.nodeInfo?.kubeletVersion ?? "")?.[1] ?? "99") < 25;
  for (const [t, count] of byTaint)
    reasons.push(
      legacy
        ? `${count} node(s) had taint ${t}, that the pod didn't tolerate`
        : `${count} node(s) had untolerated taint ${t}`,
    );
  return reasons.length
    ? `0/${all} nodes are available: ${reasons.sort().join(", ")}.`
    : `0/${all} nodes are available.`;
}

/**
 * The scheduler: binds each unscheduled pod to a ready, schedulable node whose labels satisfy its
 * nodeSelector and whose taints the pod tolerates, spreading a workload's pods (fewest pods of the same owner, then fewest pods, then name).
 * A pod no node fits stays Pending with the scheduler's Unschedulable condition.
 */
export async function schedulePods(w: Writer, now: Date): Promise<void> {
  // NotReady nodes are not skipped: the node lifecycle controller's not-ready taint keeps off what does not
  // tolerate it, as kube-scheduler filters by taints (TaintNodesByCondition), so host-networked CNI pods still land.
  const nodes = (await w.client.list(kinds.Node)).filter((n) => !n.spec?.unschedulable);
  const pods = await w.client.list(kinds.Pod);
  const allNodes = (await w.client.list(kinds.Node)).length;
  const ownerOf = (p: ApiObject) =>
    String(p.metadata.ownerReferences?.[0]?.uid ?? `${p.metadata.namespace}/${p.metadata.name}`);
  for (const pod of pods) {
    if (pod.spec.nodeName) continue;
    const selector: Record<string, string> = pod.spec.nodeSelector ?? {};
    const matching = nodes.filter((n) =>
      Object.entries(selector).every(([k, v]) => n.metadata.labels?.[k] === v),
    );
    const fits = matching.filter((n) => untoleratedTaints(n, pod).length === 0);
    if (fits.length === 0) {
      const message = unschedulableMessage(allNodes, nodes.length - matching.length, matching, pod);
      const status = {
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            lastProbeTime: null,
            lastTransitionTime: pod.status?.conditions?.[0]?.lastTransitionTime ?? timestamp(now),
            reason: "Unschedulable",
            message,
          },
        ],
        qosClass: "BestEffort",
      };
      await w.setStatus(pod, status);
      continue;
    }
    const placed = pods.filter((p) => p.spec.nodeName);
    const score = (n: ApiObject) => [
      placed.filter((p) => p.spec.nodeName === n.metadata.name && ownerOf(p) === ownerOf(pod)).length,
      placed.filter((p) => p.spec.nodeName === n.metadata.name).length,
    ];
    const best = [...fits].sort((a, b) => {
      const [sa, sb] = [score(a), score(b)];
      return sa[0]! - sb[0]! || sa[1]! - sb[1]! || (a.metadata.name! < b.metadata.name! ? -1 : 1);
    })[0]!;
    pod.spec.nodeName = best.metadata.name;
    const bound = await w.patch(pod, { ...pod, spec: { ...pod.spec, nodeName: best.metadata.name } });
    await w.setStatus(bound, {
      phase: "Pending",
      conditions: [
        { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: timestamp(now) },
      ],
      qosClass: "BestEffort",
    });
  }
}
