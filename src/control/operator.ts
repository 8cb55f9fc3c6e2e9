import type { ApiObject } from "../api/index.ts";
import {
  calicoNode,
  degradedTigeraStatus,
  installCalico,
  settingsFromInstallation,
  tigeraStatus,
} from "./calico-install.ts";
import { awaitsNetwork, markNetworkReady } from "./node-network.ts";
import { installationProblem } from "./operator-validation.ts";
import { type ClusterTopology, kinds, kubernetesHosts } from "./topology.ts";
import { ownerRef, timestamp, type Writer } from "./writes.ts";

/**
 * The Tigera operator (v1.23, as Calico v3.21's tigera-operator.yaml installs it), while its pod runs: given the
 * Installation `default`, it writes Calico's default resources and runs Calico's components in calico-system.
 * Calico v3.21 has no csi-node-driver (it came with v3.23), so none is created.
 */
const CALICO_VERSION = "v3.21.6";
const NAMESPACE = "calico-system";

/** The operator's pool when the Installation names none (operator v1.23's default). */
const DEFAULT_POOL = {
  name: "default-ipv4-ippool",
  cidr: "192.168.0.0/16",
  blockSize: 26,
  natOutgoing: true,
  encapsulation: "IPIP",
};

const SYSTEM_TOLERATIONS = [
  { key: "CriticalAddonsOnly", operator: "Exists" },
  { effect: "NoSchedule", operator: "Exists" },
  { effect: "NoExecute", operator: "Exists" },
];

/** Operator v1.23's GetExpectedTyphaScale: one per node up to 3 nodes, then one per 200 nodes plus one, at least 3. */
export function typhaReplicas(nodes: number): number {
  if (nodes <= 3) return nodes;
  return Math.max(3, Math.floor(nodes / 200) + 2);
}

export async function reconcileOperator(w: Writer, topology: ClusterTopology, now: Date): Promise<void> {
  const installation = await w.client.get(kinds.Installation, "default");
  await collectOwnedByGoneInstallation(w, installation);
  if (!(await operatorRunning(w))) return;
  if (!installation) {
    // statusManager.OnCRNotFound: the operator stops reporting, and its TigeraStatus goes.
    const status = await w.client.get(kinds.TigeraStatus, "calico");
    if (status) await w.remove(kinds.TigeraStatus, status);
    return;
  }
  const problem = installationProblem(installation);
  if (problem) {
    await reportDegraded(w, now, "Invalid Installation provided", problem);
    return;
  }
  // The operator's components are controlled by the Installation (SetControllerReference): deleting it lets the
  // garbage collector take them, the calico-system namespace and so everything in it.
  const owned = (o: ApiObject): ApiObject => ({
    ...o,
    metadata: { ...o.metadata, ownerReferences: [ownerRef(installation)] },
  });
  await w.ensure(
    kinds.Namespace,
    owned({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }),
  );
  await installCalico(
    w,
    settingsFromInstallation(installation, topology.asNumber) ?? {
      pool: DEFAULT_POOL,
      asNumber: topology.asNumber,
    },
  );
  const hosts = kubernetesHosts(topology);
  for (const name of ["calico-node", "calico-typha", "calico-kube-controllers"])
    await w.ensure(
      kinds.ServiceAccount,
      owned({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: NAMESPACE } }),
    );
  await w.ensure(kinds.DaemonSet, owned(calicoNodeDaemonSet()));
  await w.ensure(kinds.Deployment, owned(typhaDeployment(typhaReplicas(hosts.length))));
  await w.ensure(kinds.Deployment, owned(kubeControllersDeployment()));
  await startCalicoNodes(w, topology, now);
  await reportStatus(w, now);
}

/**
 * The garbage collector's part: the calico-system namespace an Installation controlled goes once that
 * Installation is gone (the namespace's own cascade then takes calico-node, Typha and kube-controllers). Calico's
 * resources (IPPool, FelixConfiguration, BGPConfiguration, Calico Nodes) carry no owner and stay, as they do.
 */
async function collectOwnedByGoneInstallation(w: Writer, installation: ApiObject | undefined): Promise<void> {
  const namespace = await w.client.get(kinds.Namespace, NAMESPACE);
  const owner = (namespace?.metadata.ownerReferences ?? []).find((r) => r.kind === "Installation");
  if (namespace && owner && owner.uid !== installation?.metadata.uid)
    await w.remove(kinds.Namespace, namespace);
}

/** The operator acts only while its own pod runs (`kubectl delete pod -n tigera-operator` stops it a while). */
async function operatorRunning(w: Writer): Promise<boolean> {
  const pods = await w.client.list(kinds.Pod, "tigera-operator");
  return pods.some(
    (p) => p.metadata.labels?.["k8s-app"] === "tigera-operator" && p.status?.phase === "Running",
  );
}

/** calico-node: the operator's DaemonSet, one host-networked pod per Linux node, before any node is Ready. */
function calicoNodeDaemonSet(): ApiObject {
  const labels = { "k8s-app": "calico-node" };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "calico-node", namespace: NAMESPACE, labels },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          serviceAccountName: "calico-node",
          nodeSelector: { "kubernetes.io/os": "linux" },
          tolerations: SYSTEM_TOLERATIONS,
          containers: [{ name: "calico-node", image: `docker.io/calico/node:${CALICO_VERSION}` }],
        },
      },
    },
  };
}

function systemDeployment(name: string, replicas: number, podSpec: Record<string, unknown>): ApiObject {
  const labels = { "k8s-app": name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NAMESPACE, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { serviceAccountName: name, nodeSelector: { "kubernetes.io/os": "linux" }, ...podSpec },
      },
    },
  };
}

/** Typha: host-networked (port 5473), so it runs before any node is Ready. */
function typhaDeployment(replicas: number): ApiObject {
  return systemDeployment("calico-typha", replicas, {
    hostNetwork: true,
    dnsPolicy: "ClusterFirstWithHostNet",
    tolerations: SYSTEM_TOLERATIONS,
    containers: [
      {
        name: "calico-typha",
        image: `docker.io/calico/typha:${CALICO_VERSION}`,
        ports: [{ name: "calico-typha", containerPort: 5473, protocol: "TCP" }],
      },
    ],
  });
}

/** calico-kube-controllers takes a pod address: it is scheduled once a node is Ready. */
function kubeControllersDeployment(): ApiObject {
  return systemDeployment("calico-kube-controllers", 1, {
    tolerations: [
      { key: "CriticalAddonsOnly", operator: "Exists" },
      { key: "node-role.kubernetes.io/master", effect: "NoSchedule" },
    ],
    containers: [
      { name: "calico-kube-controllers", image: `docker.io/calico/kube-controllers:${CALICO_VERSION}` },
    ],
  });
}

/**
 * calico-node started on a node: it registers the node's Calico Node, installs the CNI config, and the node
 * turns Ready (its not-ready taint lifted), so pods that take pod addresses are scheduled there.
 */
async function startCalicoNodes(w: Writer, topology: ClusterTopology, now: Date): Promise<void> {
  const running = new Set(
    (await w.client.list(kinds.Pod, NAMESPACE))
      .filter((p) => p.metadata.labels?.["k8s-app"] === "calico-node" && p.status?.phase === "Running")
      .map((p) => p.spec.nodeName as string),
  );
  for (const host of kubernetesHosts(topology)) {
    if (!running.has(host.name)) continue;
    if (!(await w.client.get(kinds.CalicoNode, host.name))) await w.create(calicoNode(host));
    const node = await w.client.get(kinds.Node, host.name);
    if (node && awaitsNetwork(node)) await markNetworkReady(w, node, now);
  }
}

/** TigeraStatus `calico`: Available once every calico-system pod runs; a transition keeps its first time. */
async function reportStatus(w: Writer, now: Date): Promise<void> {
  const waiting = (await w.client.list(kinds.Pod, NAMESPACE))
    .filter((p) => p.status?.phase !== "Running")
    .map((p) => p.metadata.name!)
    .sort();
  const available = waiting.length === 0;
  const live = await w.client.get(kinds.TigeraStatus, "calico");
  const liveAvailable = (live?.status?.conditions ?? []).find(
    (c: { type: string }) => c.type === "Available",
  );
  const since =
    liveAvailable && (liveAvailable.status === "True") === available
      ? liveAvailable.lastTransitionTime
      : timestamp(now);
  const message = available ? "" : `Waiting for calico-system pods to run: ${waiting.join(", ")}`;
  const desired = tigeraStatus(available, since, message);
  if (!live) await w.create(desired);
  else await w.setStatus(live, desired.status);
}

/** statusManager.SetDegraded: only the Degraded condition changes (its transition time kept while it holds). */
async function reportDegraded(w: Writer, now: Date, reason: string, message: string): Promise<void> {
  const live = await w.client.get(kinds.TigeraStatus, "calico");
  const desired = degradedTigeraStatus(live, timestamp(now), reason, message);
  if (!live) await w.create(desired);
  else await w.setStatus(live, desired.status);
}
