import type { ApiObject, KindDef } from "../api/index.ts";
import { humanDuration } from "./human-duration.ts";

type Column = [heading: string, value: (o: ApiObject, now: Date) => string];

const age: Column = [
  "AGE",
  (o, now) =>
    o.metadata.creationTimestamp
      ? humanDuration(now.getTime() - new Date(o.metadata.creationTimestamp).getTime())
      : "<unknown>",
];

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

function selectorText(sel: Record<string, string> | undefined): string {
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

function sinceCondition(o: ApiObject, now: Date): string {
  const times = ((o.status?.conditions ?? []) as { lastTransitionTime?: string }[])
    .map((c) => c.lastTransitionTime)
    .filter((t): t is string => !!t)
    .sort();
  const last = times[times.length - 1];
  return last ? humanDuration(now.getTime() - new Date(last).getTime()) : "<unknown>";
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

const name: Column = ["NAME", (o) => o.metadata.name ?? ""];

/** The `-o wide` columns of kinds with a pod template (Deployment, ReplicaSet). */
const templateColumns: Column[] = [
  [
    "CONTAINERS",
    (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { name: string }) => c.name).join(","),
  ],
  [
    "IMAGES",
    (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { image?: string }) => c.image ?? "").join(","),
  ],
  ["SELECTOR", (o) => labelSelectorText(o.spec?.selector)],
];

/** kubectl's default columns per kind (and the extra ones `-o wide` adds), as its table printers define them. */
const TABLES: Record<string, { columns: Column[]; wide?: Column[] }> = {
  Namespace: { columns: [name, ["STATUS", (o) => o.status?.phase ?? ""], age] },
  Node: {
    columns: [
      name,
      ["STATUS", (o) => (condition(o, "Ready") === "True" ? "Ready" : "NotReady")],
      ["ROLES", nodeRoles],
      age,
      ["VERSION", (o) => o.status?.nodeInfo?.kubeletVersion ?? ""],
    ],
    wide: [
      ["INTERNAL-IP", (o) => nodeAddress(o, "InternalIP")],
      ["EXTERNAL-IP", (o) => nodeAddress(o, "ExternalIP")],
      ["OS-IMAGE", (o) => o.status?.nodeInfo?.osImage ?? "<unknown>"],
      ["KERNEL-VERSION", (o) => o.status?.nodeInfo?.kernelVersion ?? "<unknown>"],
      ["CONTAINER-RUNTIME", (o) => o.status?.nodeInfo?.containerRuntimeVersion ?? "<unknown>"],
    ],
  },
  Pod: {
    columns: [
      name,
      ["READY", podReady],
      ["STATUS", podStatusText],
      [
        "RESTARTS",
        (o) =>
          String(
            ((o.status?.containerStatuses ?? []) as { restartCount?: number }[]).reduce(
              (n, c) => n + (c.restartCount ?? 0),
              0,
            ),
          ),
      ],
      age,
    ],
    wide: [
      ["IP", (o) => orNone(o.status?.podIP)],
      ["NODE", (o) => orNone(o.spec?.nodeName)],
      ["NOMINATED NODE", (o) => orNone(o.status?.nominatedNodeName)],
      [
        "READINESS GATES",
        (o) =>
          orNone(
            (o.spec?.readinessGates ?? []).map((g: { conditionType: string }) => g.conditionType).join(","),
          ),
      ],
    ],
  },
  Service: {
    columns: [
      name,
      ["TYPE", (o) => o.spec?.type ?? "ClusterIP"],
      ["CLUSTER-IP", (o) => orNone(o.spec?.clusterIP)],
      ["EXTERNAL-IP", serviceExternalIp],
      ["PORT(S)", servicePorts],
      age,
    ],
    wide: [["SELECTOR", (o) => selectorText(o.spec?.selector)]],
  },
  Endpoints: { columns: [name, ["ENDPOINTS", endpointsList], age] },
  EndpointSlice: {
    columns: [
      name,
      ["ADDRESSTYPE", (o) => String(o.addressType ?? "")],
      [
        "PORTS",
        (o) =>
          orNone(
            ((o.ports as { port?: number }[] | undefined) ?? []).map((p) => String(p.port ?? "")).join(","),
          ),
      ],
      [
        "ENDPOINTS",
        (o) =>
          orNone(
            ((o.endpoints as { addresses: string[] }[] | undefined) ?? [])
              .flatMap((e) => e.addresses)
              .join(","),
          ),
      ],
      age,
    ],
  },
  ServiceAccount: {
    columns: [name, ["SECRETS", (o) => String(((o.secrets as unknown[]) ?? []).length)], age],
  },
  ConfigMap: {
    columns: [
      name,
      [
        "DATA",
        (o) =>
          String(
            Object.keys((o.data as object) ?? {}).length + Object.keys((o.binaryData as object) ?? {}).length,
          ),
      ],
      age,
    ],
  },
  Secret: {
    columns: [
      name,
      ["TYPE", (o) => String(o.type ?? "Opaque")],
      ["DATA", (o) => String(Object.keys((o.data as object) ?? {}).length)],
      age,
    ],
  },
  Deployment: {
    columns: [
      name,
      ["READY", (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`],
      ["UP-TO-DATE", (o) => String(o.status?.updatedReplicas ?? 0)],
      ["AVAILABLE", (o) => String(o.status?.availableReplicas ?? 0)],
      age,
    ],
    wide: templateColumns,
  },
  ReplicaSet: {
    columns: [
      name,
      ["DESIRED", (o) => String(o.spec?.replicas ?? 0)],
      ["CURRENT", (o) => String(o.status?.replicas ?? 0)],
      ["READY", (o) => String(o.status?.readyReplicas ?? 0)],
      age,
    ],
    wide: templateColumns,
  },
  NetworkPolicy: { columns: [name, ["POD-SELECTOR", (o) => labelSelectorText(o.spec?.podSelector)], age] },
  TigeraStatus: {
    columns: [
      name,
      ["AVAILABLE", (o) => condition(o, "Available")],
      ["PROGRESSING", (o) => condition(o, "Progressing")],
      ["DEGRADED", (o) => condition(o, "Degraded")],
      ["SINCE", sinceCondition],
    ],
  },
};

/** `-L KEY`: a column headed by the key's last path segment, upper-cased; the label's value or nothing. */
function labelColumn(key: string): Column {
  return [key.split("/").pop()!.toUpperCase(), (o) => o.metadata.labels?.[key] ?? ""];
}

/** `--show-labels`: labels.FormatLabels, `k=v` sorted by key and joined by commas, `<none>` when empty. */
const labelsColumn: Column = ["LABELS", (o) => selectorText(o.metadata.labels)];

export function kubectlTable(
  def: KindDef,
  objects: ApiObject[],
  opts: { wide: boolean; withNamespace: boolean; now: Date; showLabels?: boolean; labelColumns?: string[] },
): string[][] {
  const spec = (def.group === "" ||
  def.group.endsWith("k8s.io") ||
  def.group === "apps" ||
  def.kind === "TigeraStatus"
    ? TABLES[def.kind]
    : undefined) ?? { columns: [name, age] };
  const columns = [
    ...spec.columns,
    ...(opts.wide ? (spec.wide ?? []) : []),
    ...(opts.labelColumns ?? []).map(labelColumn),
    ...(opts.showLabels ? [labelsColumn] : []),
  ];
  const rows = [columns.map(([h]) => h)];
  for (const o of objects) rows.push(columns.map(([, f]) => f(o, opts.now)));
  if (opts.withNamespace) {
    rows.forEach((r, i) => {
      r.unshift(i === 0 ? "NAMESPACE" : (objects[i - 1]!.metadata.namespace ?? ""));
    });
  }
  return rows;
}
