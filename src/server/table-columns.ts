import type { ApiObject } from "../api/index.ts";
import { humanDuration } from "./human-duration.ts";

/** A cell as the API server types it: strings, or integers for counts (kubectl prints both with %v). */
export type Cell = string | number;

/** One column of a kind's table, as the API server's printers (pkg/printers/internalversion) define it. */
export interface Column {
  /** The API server's column name ("Nominated Node"); kubectl upper-cases it for the header. */
  name: string;
  type: "string" | "integer" | "date";
  /** 1 for the columns kubectl shows only with `-o wide`. */
  priority: 0 | 1;
  description: string;
  cell: (o: ApiObject, now: Date) => Cell;
}

const NAME_DOC =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC =
  "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

const column = (
  name: string,
  cell: Column["cell"],
  description: string,
  more: { type?: Column["type"]; priority?: 0 | 1 } = {},
): Column => ({ name, type: more.type ?? "string", priority: more.priority ?? 0, description, cell });
const wide = (name: string, cell: Column["cell"], description: string): Column =>
  column(name, cell, description, { priority: 1 });
const count = (name: string, cell: Column["cell"], description: string): Column =>
  column(name, cell, description, { type: "integer" });

/** The time since a timestamp as kubectl's AGE shows it; `<unknown>` when there is none. */
export function sinceText(timestamp: string | undefined, now: Date): string {
  return timestamp ? humanDuration(now.getTime() - new Date(timestamp).getTime()) : "<unknown>";
}

export const nameColumn: Column = {
  name: "Name",
  type: "string",
  priority: 0,
  description: NAME_DOC,
  cell: (o) => o.metadata.name ?? "",
};
export const ageColumn: Column = column(
  "Age",
  (o, now) => sinceText(o.metadata.creationTimestamp, now),
  AGE_DOC,
);

const orNone = (s: string | undefined) => (s === undefined || s === "" ? "<none>" : s);

function servicePorts(o: ApiObject): string {
  const ports: Record<string, unknown>[] = o.spec?.ports ?? [];
  if (ports.length === 0) return "<none>";
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",");
}

function serviceExternalIp(o: ApiObject): string {
  const s = o.spec ?? {};
  const external: string[] = [...(s.externalIPs ?? [])];
  if (s.type === "LoadBalancer") {
    const ingress: { ip?: string; hostname?: string }[] = o.status?.loadBalancer?.ingress ?? [];
    const lb = ingress.map((i) => i.ip ?? i.hostname ?? "").filter(Boolean);
    if (lb.length === 0 && external.length === 0) return "<pending>";
    external.push(...lb);
  }
  if (s.type === "ExternalName") return s.externalName ?? "<none>";
  return external.length > 0 ? external.join(",") : "<none>";
}

function endpointsList(o: ApiObject): string {
  const all: string[] = [];
  for (const subset of (o.subsets as
    | { addresses?: { ip: string }[]; ports?: { port: number }[] }[]
    | undefined) ?? []) {
    for (const a of subset.addresses ?? []) {
      const ports = subset.ports ?? [];
      if (ports.length === 0) all.push(a.ip);
      for (const p of ports) all.push(`${a.ip}:${p.port}`);
    }
  }
  if (all.length === 0) return "<none>";
  return all.length > 3 ? `${all.slice(0, 3).join(",")} + ${all.length - 3} more...` : all.join(",");
}

/** labels.FormatLabels: `k=v` sorted by key and joined by commas, `<none>` when empty. */
export function formatLabels(sel: Record<string, string> | undefined): string {
  const entries = Object.entries(sel ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? "<none>" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** kubectl's pod STATUS: the phase, unless the pod or a container says why it is not running. */
function podStatusText(o: ApiObject): string {
  let reason: string = o.status?.reason ?? o.status?.phase ?? "Pending";
  for (const c of (o.status?.containerStatuses ?? []) as { state?: { waiting?: { reason?: string } } }[])
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
  return reason;
}

function podReady(o: ApiObject): string {
  const statuses: { ready?: boolean }[] = o.status?.containerStatuses ?? [];
  const total = (o.spec?.containers ?? []).length;
  return `${statuses.filter((s) => s.ready).length}/${total}`;
}

function podRestarts(o: ApiObject): string {
  const statuses = (o.status?.containerStatuses ?? []) as { restartCount?: number }[];
  return String(statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0));
}

function condition(o: ApiObject, type: string): string {
  const c = ((o.status?.conditions ?? []) as { type: string; status: string }[]).find((x) => x.type === type);
  return c?.status ?? "Unknown";
}

function nodeRoles(o: ApiObject): string {
  const roles = Object.keys(o.metadata.labels ?? {})
    .filter((k) => k.startsWith("node-role.kubernetes.io/"))
    .map((k) => k.slice("node-role.kubernetes.io/".length))
    .sort();
  return roles.length > 0 ? roles.join(",") : "<none>";
}

function nodeAddress(o: ApiObject, type: string): string {
  const a = ((o.status?.addresses ?? []) as { type: string; address: string }[]).find((x) => x.type === type);
  return orNone(a?.address);
}

function lastTransition(o: ApiObject): string | undefined {
  const times = ((o.status?.conditions ?? []) as { lastTransitionTime?: string }[])
    .map((c) => c.lastTransitionTime)
    .filter((t): t is string => !!t)
    .sort();
  return times[times.length - 1];
}

function labelSelectorText(
  sel:
    | {
        matchLabels?: Record<string, string>;
        matchExpressions?: { key: string; operator: string; values?: string[] }[];
      }
    | undefined,
): string {
  const parts = Object.entries(sel?.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(",")})`);
  }
  return parts.length === 0 ? "<none>" : parts.join(",");
}

/** The `-o wide` columns of kinds with a pod template (Deployment, ReplicaSet; DaemonSet takes the first two). */
const templateColumns: Column[] = [
  wide(
    "Containers",
    (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { name: string }) => c.name).join(","),
    "Names of each container in the template.",
  ),
  wide(
    "Images",
    (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { image?: string }) => c.image ?? "").join(","),
    "Images referenced by each container in the template.",
  ),
  wide("Selector", (o) => labelSelectorText(o.spec?.selector), "Label selector for pods."),
];

/**
 * The columns per kind, in the API server's order and names (priority-1 columns are the `-o wide` ones). The
 * cells are what tortie's kubectl has always printed; test/golden pins them.
 */
export const BUILT_IN_TABLES: Record<string, Column[]> = {
  Namespace: [
    nameColumn,
    column("Status", (o) => o.status?.phase ?? "", "The status of the namespace"),
    ageColumn,
  ],
  Node: [
    nameColumn,
    column(
      "Status",
      (o) => (condition(o, "Ready") === "True" ? "Ready" : "NotReady"),
      "The status of the node",
    ),
    column("Roles", nodeRoles, "The roles of the node"),
    ageColumn,
    column(
      "Version",
      (o) => o.status?.nodeInfo?.kubeletVersion ?? "",
      "Kubelet Version reported by the node.",
    ),
    wide("Internal-IP", (o) => nodeAddress(o, "InternalIP"), "List of addresses reachable to the node."),
    wide("External-IP", (o) => nodeAddress(o, "ExternalIP"), "List of addresses reachable to the node."),
    wide("OS-Image", (o) => o.status?.nodeInfo?.osImage ?? "<unknown>", "OS Image reported by the node."),
    wide(
      "Kernel-Version",
      (o) => o.status?.nodeInfo?.kernelVersion ?? "<unknown>",
      "Kernel Version reported by the node.",
    ),
    wide(
      "Container-Runtime",
      (o) => o.status?.nodeInfo?.containerRuntimeVersion ?? "<unknown>",
      "ContainerRuntime Version reported by the node.",
    ),
  ],
  Pod: [
    nameColumn,
    column("Ready", podReady, "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", podStatusText, "The aggregate status of the containers in this pod."),
    column("Restarts", podRestarts, "The number of times the containers in this pod have been restarted."),
    ageColumn,
    wide("IP", (o) => orNone(o.status?.podIP), "IP address allocated to the pod."),
    wide("Node", (o) => orNone(o.spec?.nodeName), "The node the pod is scheduled onto."),
    wide(
      "Nominated Node",
      (o) => orNone(o.status?.nominatedNodeName),
      "The node the scheduler nominated for this pod while preempting others.",
    ),
    wide(
      "Readiness Gates",
      (o) =>
        orNone(
          (o.spec?.readinessGates ?? []).map((g: { conditionType: string }) => g.conditionType).join(","),
        ),
      "The readiness gates of the pod.",
    ),
  ],
  Service: [
    nameColumn,
    column("Type", (o) => o.spec?.type ?? "ClusterIP", "How the service is exposed."),
    column("Cluster-IP", (o) => orNone(o.spec?.clusterIP), "The IP address assigned to the service."),
    column("External-IP", serviceExternalIp, "IP addresses outside the cluster that reach the service."),
    column("Port(s)", servicePorts, "The ports the service exposes."),
    ageColumn,
    wide("Selector", (o) => formatLabels(o.spec?.selector), "The pods the service routes traffic to."),
  ],
  Endpoints: [nameColumn, column("Endpoints", endpointsList, "The set of addresses and ports."), ageColumn],
  EndpointSlice: [
    nameColumn,
    column("AddressType", (o) => String(o.addressType ?? ""), "The type of address carried by this slice."),
    column(
      "Ports",
      (o) =>
        orNone(
          ((o.ports as { port?: number }[] | undefined) ?? []).map((p) => String(p.port ?? "")).join(","),
        ),
      "The network ports exposed by each endpoint.",
    ),
    column(
      "Endpoints",
      (o) =>
        orNone(
          ((o.endpoints as { addresses: string[] }[] | undefined) ?? [])
            .flatMap((e) => e.addresses)
            .join(","),
        ),
      "The endpoints of this slice.",
    ),
    ageColumn,
  ],
  ServiceAccount: [
    nameColumn,
    count("Secrets", (o) => ((o.secrets as unknown[]) ?? []).length, "The secrets of this service account."),
    ageColumn,
  ],
  ConfigMap: [
    nameColumn,
    count(
      "Data",
      (o) =>
        Object.keys((o.data as object) ?? {}).length + Object.keys((o.binaryData as object) ?? {}).length,
      "The number of keys in data and binaryData.",
    ),
    ageColumn,
  ],
  Secret: [
    nameColumn,
    column("Type", (o) => String(o.type ?? "Opaque"), "The type of the secret."),
    count("Data", (o) => Object.keys((o.data as object) ?? {}).length, "The number of keys in data."),
    ageColumn,
  ],
  Deployment: [
    nameColumn,
    column(
      "Ready",
      (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`,
      "Number of the pod with ready state",
    ),
    count("Up-to-date", (o) => o.status?.updatedReplicas ?? 0, "Total number of updated pods."),
    count("Available", (o) => o.status?.availableReplicas ?? 0, "Total number of available pods."),
    ageColumn,
    ...templateColumns,
  ],
  ReplicaSet: [
    nameColumn,
    count("Desired", (o) => o.spec?.replicas ?? 0, "Number of desired pods."),
    count("Current", (o) => o.status?.replicas ?? 0, "The most recently observed number of replicas."),
    count("Ready", (o) => o.status?.readyReplicas ?? 0, "The number of pods targeted by this ReplicaSet."),
    ageColumn,
    ...templateColumns,
  ],
  DaemonSet: [
    nameColumn,
    count(
      "Desired",
      (o) => o.status?.desiredNumberScheduled ?? 0,
      "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    count(
      "Current",
      (o) => o.status?.currentNumberScheduled ?? 0,
      "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    count(
      "Ready",
      (o) => o.status?.numberReady ?? 0,
      "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    count(
      "Up-to-date",
      (o) => o.status?.updatedNumberScheduled ?? 0,
      "The total number of nodes that are running updated daemon pod",
    ),
    count(
      "Available",
      (o) => o.status?.numberAvailable ?? 0,
      "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    column(
      "Node Selector",
      (o) => formatLabels(o.spec?.template?.spec?.nodeSelector),
      "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    ageColumn,
    ...templateColumns.slice(0, 2),
    wide(
      "Selector",
      (o) => labelSelectorText(o.spec?.selector),
      "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    ),
  ],
  NetworkPolicy: [
    nameColumn,
    column("Pod-Selector", (o) => labelSelectorText(o.spec?.podSelector), "The pods the policy applies to."),
    ageColumn,
  ],
};

/**
 * TigeraStatus is a CRD; these are its additionalPrinterColumns. The CRD table convertor prints `date` columns as
 * the time since, as for Age.
 */
export const TIGERA_STATUS_TABLE: Column[] = [
  nameColumn,
  column("Available", (o) => condition(o, "Available"), "Whether the component is running and stable."),
  column("Progressing", (o) => condition(o, "Progressing"), "Whether the component is processing changes."),
  column("Degraded", (o) => condition(o, "Degraded"), "Whether the component is degraded."),
  column(
    "Since",
    (o, now) => sinceText(lastTransition(o), now),
    "The time the component's status last changed.",
    {
      type: "date",
    },
  ),
];
