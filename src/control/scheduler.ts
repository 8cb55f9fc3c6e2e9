import type { ApiObject } from "../api/index.ts";
import { conditionIsTrue } from "./conditions.ts";
import { kinds } from "./topology.ts";
import { timestamp, type Writer } from "./writes.ts";

function nodeReady(n: ApiObject): boolean {
  return conditionIsTrue(n, "Ready");
}

/**
 * The scheduler: binds each unscheduled pod to a ready, schedulable node whose labels satisfy its
 * nodeSelector, spreading a workload's pods (fewest pods of the same owner, then fewest pods, then name).
 * A pod no node fits stays Pending with the scheduler's Unschedulable condition.
 */
export async function schedulePods(w: Writer, now: Date): Promise<void> {
  const nodes = (await w.client.list(kinds.Node)).filter((n) => nodeReady(n) && !n.spec?.unschedulable);
  const pods = await w.client.list(kinds.Pod);
  const allNodes = (await w.client.list(kinds.Node)).length;
  const ownerOf = (p: ApiObject) =>
    String(p.metadata.ownerReferences?.[0]?.uid ?? `${p.metadata.namespace}/${p.metadata.name}`);
  for (const pod of pods) {
    if (pod.spec.nodeName) continue;
    const selector: Record<string, string> = pod.spec.nodeSelector ?? {};
    const fits = nodes.filter((n) =>
      Object.entries(selector).every(([k, v]) => n.metadata.labels?.[k] === v),
    );
    if (fits.length === 0) {
      const message =
        Object.keys(selector).length > 0
          ? `0/${allNodes} nodes are available: ${allNodes} node(s) didn't match Pod's node affinity/selector.`
          : `0/${allNodes} nodes are available.`;
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
