import type { ApiObject } from "../api/index.ts";
import { timestamp, type Writer } from "./writes.ts";

/**
 * A node's network readiness: the kubelet reports NotReady until a CNI plugin is installed, and the node lifecycle
 * controller taints such a node so only pods that tolerate it (host-networked system pods) are scheduled there.
 */
export const NOT_READY_TAINT = { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" } as const;

interface Taint {
  key: string;
  value?: string;
  effect: string;
}

/** The kubelet's reason for NotReady without a CNI config; kubelet 1.24 prefixed it with "container". */
function networkNotReadyMessage(kubeletVersion: string): string {
  const minor = Number(/^v1\.(\d+)\./.exec(kubeletVersion)?.[1] ?? "0");
  const prefix = minor >= 24 ? "container runtime network not ready" : "runtime network not ready";
  return `${prefix}: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized`;
}

/** The Ready condition (and, once Calico runs, the NetworkUnavailable condition calico-node sets). */
export interface NodeCondition {
  type: string;
  status: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** A kubelet node condition that has held since `since`. */
export function nodeCondition(
  since: string,
  type: string,
  status: string,
  reason: string,
  message: string,
): NodeCondition {
  return { type, status, lastHeartbeatTime: since, lastTransitionTime: since, reason, message };
}

export function networkConditions(kubeletVersion: string, ready: boolean, since: string): NodeCondition[] {
  const condition = (type: string, status: string, reason: string, message: string) =>
    nodeCondition(since, type, status, reason, message);
  return ready
    ? [
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        condition("NetworkUnavailable", "False", "CalicoIsUp", "Calico is running on this node"),
      ]
    : [condition("Ready", "False", "KubeletNotReady", networkNotReadyMessage(kubeletVersion))];
}

export function nodeSpec(taints: Taint[]): Record<string, unknown> {
  return taints.length ? { taints } : {};
}

/** Whether the node still waits for a CNI: its kubelet reports the network plugin not ready. */
export function awaitsNetwork(node: ApiObject): boolean {
  const conditions = (node.status?.conditions ?? []) as { type: string; reason?: string }[];
  return conditions.some((c) => c.type === "Ready" && c.reason === "KubeletNotReady");
}

/**
 * calico-node has started on the node: the kubelet finds the CNI config and reports Ready, calico-node sets
 * NetworkUnavailable False, and the node lifecycle controller lifts the not-ready taint.
 */
export async function markNetworkReady(w: Writer, node: ApiObject, now: Date): Promise<void> {
  const since = timestamp(now);
  const version = String(node.status?.nodeInfo?.kubeletVersion ?? "");
  const taints = ((node.spec?.taints ?? []) as Taint[]).filter((t) => t.key !== NOT_READY_TAINT.key);
  let live = node;
  if (taints.length !== (node.spec?.taints ?? []).length) {
    // Writer.patch only adds fields; dropping the taint is a full update of the spec.
    const { taints: _dropped, ...spec } = node.spec ?? {};
    w.writes++;
    live = await w.client.update({ ...node, spec: { ...spec, ...nodeSpec(taints) } }, { asController: true });
  }
  const kept = ((live.status?.conditions ?? []) as NodeCondition[]).filter(
    (c) => c.type !== "Ready" && c.type !== "NetworkUnavailable",
  );
  await w.setStatus(live, {
    ...live.status,
    conditions: [...kept, ...networkConditions(version, true, since)],
  });
}
