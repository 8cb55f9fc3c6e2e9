import type { ApiObject } from "../api/index.ts";
import { assignPodAddresses, goTimeString, type Ipam, podHandleId } from "../ipam/index.ts";
import { isTortieError } from "../lib/index.ts";
import { calicoInterfaceName, containerIdFor, podMac, workloadEndpointName } from "./names.ts";
import { type ClusterTopology, kinds } from "./topology.ts";
import { timestamp, type Writer } from "./writes.ts";

const CONTAINER_ID = "cni.projectcalico.org/containerID";
const POD_IP = "cni.projectcalico.org/podIP";
const POD_IPS = "cni.projectcalico.org/podIPs";
/**
 * Status writes of started pods in flight at once: independent of one another, so the file store commits them
 * in groups (one fdatasync for many) and etcd pipelines them; one at a time, 10k pods took 10k fdatasyncs.
 */
const STATUS_WRITES_IN_FLIGHT = 64;

/** The pod's default gateway: Calico answers ARP for it with proxy-ARP on the host side of the veth. */
export const POD_GATEWAY = "169.254.1.1";
/** The MAC of every host-side cali veth. */
export const HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee";

/**
 * The kubelet and the Calico CNI plugin: for each pod bound to a node, allocate its address (calico-ipam with
 * the pod's and namespace's annotations), write its WorkloadEndpoint, and mark it Running and Ready. Pods
 * that are gone have their addresses released and endpoints removed.
 */
export async function runKubelets(
  w: Writer,
  ipam: Ipam,
  topology: ClusterTopology,
  now: Date,
): Promise<void> {
  // Handles and endpoints are read before the pods: one made for a pod created after this read is not seen,
  // so a pod missing from the (later) pod list is really gone, not merely newer than the list.
  const handles = await w.client.list(kinds.IPAMHandle);
  const endpoints = await w.client.list(kinds.WorkloadEndpoint);
  const pods = await w.client.list(kinds.Pod);
  const hosts = new Map(topology.hosts.filter((h) => h.role !== "external").map((h) => [h.name, h]));
  const namespaces = new Map((await w.client.list(kinds.Namespace)).map((n) => [n.metadata.name!, n]));
  const started: { pod: ApiObject; status: Record<string, unknown> }[] = [];
  for (const pod of pods) {
    const nodeName: string | undefined = pod.spec.nodeName;
    const host = nodeName ? hosts.get(nodeName) : undefined;
    if (!host || pod.status?.phase === "Running") continue;
    const ns = pod.metadata.namespace!;
    const startedAt = timestamp(now);
    let ips: string[];
    let annotated = pod;
    if (pod.spec.hostNetwork) ips = [host.ip];
    else {
      const containerId = containerIdFor(pod.metadata.uid!);
      try {
        ({ ips } = await assignPodAddresses(ipam, {
          pod,
          namespace: namespaces.get(ns)!,
          node: host.name,
          containerId,
          timestamp: goTimeString(now),
        }));
      } catch (e) {
        if (!isTortieError(e)) throw e;
        await w.setStatus(
          pod,
          waitingStatus(pod, `failed to set up sandbox network: ${e.message}`, startedAt),
        );
        continue;
      }
      annotated = await w.patch(pod, {
        ...pod,
        metadata: {
          ...pod.metadata,
          annotations: {
            ...(pod.metadata.annotations ?? {}),
            [CONTAINER_ID]: containerId,
            [POD_IP]: ips.map(withPrefix).join(","),
            [POD_IPS]: ips.map(withPrefix).join(","),
          },
        },
      });
      await w.ensure(kinds.WorkloadEndpoint, workloadEndpoint(annotated, host.name, containerId, ips));
    }
    started.push({ pod: annotated, status: runningStatus(annotated, host.ip, ips, startedAt) });
  }
  await inBatches(started, STATUS_WRITES_IN_FLIGHT, ({ pod, status }) => w.setStatus(pod, status));
  await releaseVanished(w, ipam, pods, handles, endpoints);
}

/**
 * Runs `write` on every item, `inFlight` at a time. Every write ends before this does, and the first failure is
 * then thrown (a racing writer's Conflict re-runs the pass from a fresh read).
 */
async function inBatches<T>(
  items: T[],
  inFlight: number,
  write: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += inFlight) {
    const results = await Promise.allSettled(items.slice(i, i + inFlight).map(write));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
}

function withPrefix(ip: string): string {
  return ip.includes(":") ? `${ip}/128` : `${ip}/32`;
}

function workloadEndpoint(pod: ApiObject, node: string, containerId: string, ips: string[]): ApiObject {
  const ns = pod.metadata.namespace!;
  const sa: string = pod.spec.serviceAccountName ?? "default";
  const namedPorts = (
    pod.spec.containers as { ports?: { name?: string; containerPort: number; protocol?: string }[] }[]
  )
    .flatMap((c) => c.ports ?? [])
    .filter((p) => p.name)
    .map((p) => ({ name: p.name, protocol: p.protocol ?? "TCP", port: p.containerPort, hostPort: 0 }));
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "WorkloadEndpoint",
    metadata: {
      name: workloadEndpointName(node, pod.metadata.name!),
      namespace: ns,
      labels: {
        ...(pod.metadata.labels ?? {}),
        "projectcalico.org/namespace": ns,
        "projectcalico.org/orchestrator": "k8s",
        "projectcalico.org/serviceaccount": sa,
      },
    },
    spec: {
      orchestrator: "k8s",
      node,
      containerID: containerId,
      pod: pod.metadata.name,
      endpoint: "eth0",
      serviceAccountName: sa,
      ipNetworks: ips.map(withPrefix),
      profiles: [`kns.${ns}`, `ksa.${ns}.${sa}`],
      interfaceName: calicoInterfaceName(ns, pod.metadata.name!),
      mac: podMac(containerId),
      ...(namedPorts.length > 0 ? { ports: namedPorts } : {}),
    },
  };
}

function containerStatuses(pod: ApiObject, state: Record<string, unknown>, ready: boolean) {
  return (pod.spec.containers as { name: string; image?: string }[]).map((c) => ({
    name: c.name,
    image: c.image ?? "",
    imageID: "",
    ready,
    restartCount: 0,
    started: ready,
    state,
    ...(ready ? { containerID: `tortie://${containerIdFor(`${pod.metadata.uid}/${c.name}`)}` } : {}),
  }));
}

function runningStatus(
  pod: ApiObject,
  hostIP: string,
  ips: string[],
  started: string,
): Record<string, unknown> {
  const since = pod.status?.startTime ?? started;
  const cond = (type: string) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: since });
  return {
    phase: "Running",
    conditions: [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP: ips[0],
    podIPs: ips.map((ip) => ({ ip })),
    startTime: since,
    containerStatuses: containerStatuses(pod, { running: { startedAt: since } }, true),
    qosClass: "BestEffort",
  };
}

function waitingStatus(pod: ApiObject, message: string, started: string): Record<string, unknown> {
  return {
    phase: "Pending",
    conditions: [
      { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: started },
      {
        type: "Ready",
        status: "False",
        lastProbeTime: null,
        lastTransitionTime: started,
        reason: "ContainersNotReady",
        message,
      },
    ],
    startTime: pod.status?.startTime ?? started,
    containerStatuses: containerStatuses(pod, { waiting: { reason: "ContainerCreating", message } }, false),
    qosClass: "BestEffort",
  };
}

/** Pods that no longer exist: release their IPAM handles and delete their WorkloadEndpoints. */
async function releaseVanished(
  w: Writer,
  ipam: Ipam,
  pods: ApiObject[],
  handles: ApiObject[],
  endpoints: ApiObject[],
): Promise<void> {
  // Container IDs derive from pod UIDs, so a pod's handle is known even before its annotations are written.
  const live = new Set(pods.map((p) => containerIdFor(p.metadata.uid!)));
  const liveHandles = new Set([...live].map((id) => podHandleId(id).toLowerCase()));
  for (const h of handles) {
    const id: string = h.spec?.handleID ?? "";
    if (!id.startsWith("k8s-pod-network.") || liveHandles.has(id.toLowerCase())) continue;
    w.writes++;
    await ipam.releaseByHandle(id);
  }
  for (const wep of endpoints)
    if (!live.has(wep.spec?.containerID)) await w.remove(kinds.WorkloadEndpoint, wep);
}
