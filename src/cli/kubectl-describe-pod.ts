/**
 * `kubectl describe pod`: kubectl's PodDescriber (k8s.io/kubectl/pkg/describe), for the fields tortie's pods
 * carry, laid out by the same tab-aligned writer so the two kubectls print the same text. tortie records no
 * events, so the section says `<none>`, as kubectl says when the API server's event list is empty.
 */
import type { ApiObject } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { goTabwriter } from "./go-tabwriter.ts";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
/** kubectl's maxAnnotationLen: longer annotations are printed on lines of their own, shortened. */
const MAX_ANNOTATION_LEN = 140;

type Json = Record<string, unknown>;

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Go's time.RFC1123Z in UTC, the zone kubectl prints API timestamps in (they are decoded as UTC). */
function rfc1123z(timestamp: string): string {
  const d = new Date(timestamp);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

function labelsMultiline(title: string, labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return `${title}:\t<none>\n`;
  return keys.map((k, i) => `${i === 0 ? `${title}:` : ""}\t${k}=${labels![k]}\n`).join("");
}

function annotationsMultiline(title: string, annotations: Record<string, string> | undefined): string {
  const keys = Object.keys(annotations ?? {})
    .filter((k) => k !== LAST_APPLIED)
    .sort();
  if (keys.length === 0) return `${title}:\t<none>\n`;
  let out = `${title}:\t`;
  keys.forEach((key, i) => {
    if (i !== 0) out += "\t";
    const value = annotations![key]!.replace(/\n$/, "");
    if (value.length + key.length + 2 > MAX_ANNOTATION_LEN || value.includes("\n")) {
      out += `${key}:\n`;
      for (const s of value.split("\n")) out += `\t  ${shorten(s, MAX_ANNOTATION_LEN - 2)}\n`;
    } else out += `${key}: ${value}\n`;
  });
  return out;
}

function shorten(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

function tolerationsMultiline(title: string, tolerations: Json[] | undefined): string {
  if (!tolerations?.length) return `${title}:\t<none>\n`;
  return tolerations
    .map((t, i) => {
      let line = `${i === 0 ? `${title}:` : ""}\t${t.key ?? ""}`;
      if (t.value) line += `=${t.value}`;
      if (t.effect) line += `:${t.effect}`;
      if (t.operator === "Exists" && !t.value) line += t.key || t.effect ? " op=Exists" : "op=Exists";
      if (t.tolerationSeconds !== undefined) line += ` for ${t.tolerationSeconds}s`;
      return `${line}\n`;
    })
    .join("");
}

function containerState(name: string, state: Json | undefined): string {
  const running = state?.running as Json | undefined;
  const waiting = state?.waiting as Json | undefined;
  const terminated = state?.terminated as Json | undefined;
  if (running) return `    ${name}:\tRunning\n      Started:\t${rfc1123z(String(running.startedAt))}\n`;
  if (terminated) {
    let out = `    ${name}:\tTerminated\n`;
    if (terminated.reason) out += `      Reason:\t${terminated.reason}\n`;
    if (terminated.message) out += `      Message:\t${terminated.message}\n`;
    out += `      Exit Code:\t${terminated.exitCode ?? 0}\n`;
    if (Number(terminated.signal ?? 0) > 0) out += `      Signal:\t${terminated.signal}\n`;
    out += `      Started:\t${rfc1123z(String(terminated.startedAt))}\n`;
    return `${out}      Finished:\t${rfc1123z(String(terminated.finishedAt))}\n`;
  }
  if (waiting?.reason) return `    ${name}:\tWaiting\n      Reason:\t${waiting.reason}\n`;
  return `    ${name}:\tWaiting\n`;
}

function ports(list: Json[] | undefined, which: "containerPort" | "hostPort"): string {
  return (list ?? []).map((p) => `${p[which] ?? 0}/${p.protocol ?? "TCP"}`).join(", ");
}

function resources(r: Json | undefined): string {
  let out = "";
  for (const [title, key] of [
    ["Limits", "limits"],
    ["Requests", "requests"],
  ] as const) {
    const values = (r?.[key] ?? {}) as Record<string, string>;
    const names = Object.keys(values).sort();
    if (names.length > 0) out += `    ${title}:\n`;
    for (const n of names) out += `      ${n}:\t${values[n]}\n`;
  }
  return out;
}

function containers(pod: ApiObject, label: string, specs: Json[], statuses: Json[] | undefined): string {
  let out = `${label}:${specs.length === 0 ? " <none>" : ""}\n`;
  for (const c of specs) {
    const status = statuses?.find((s) => s.name === c.name);
    out += `  ${c.name}:\n`;
    if (status) out += `    Container ID:\t${status.containerID ?? ""}\n`;
    out += `    Image:\t${c.image ?? ""}\n`;
    if (status) out += `    Image ID:\t${status.imageID ?? ""}\n`;
    const p = ports(c.ports as Json[] | undefined, "containerPort");
    out += p.includes(",") ? `    Ports:\t${p}\n` : `    Port:\t${p || "<none>"}\n`;
    const h = ports(c.ports as Json[] | undefined, "hostPort");
    out += h.includes(",") ? `    Host Ports:\t${h}\n` : `    Host Port:\t${h || "<none>"}\n`;
    for (const [title, key] of [
      ["Command", "command"],
      ["Args", "args"],
    ] as const) {
      const words = (c[key] ?? []) as string[];
      if (words.length > 0) out += `    ${title}:\n`;
      for (const w of words) for (const s of w.split("\n")) out += `      ${s}\n`;
    }
    if (status) {
      out += containerState("State", status.state as Json | undefined);
      if ((status.lastState as Json | undefined)?.terminated)
        out += containerState("Last State", status.lastState as Json);
      out += `    Ready:\t${status.ready ? "True" : "False"}\n`;
      out += `    Restart Count:\t${status.restartCount ?? 0}\n`;
    }
    out += resources(c.resources as Json | undefined);
    const env = (c.env ?? []) as Json[];
    out += `    Environment:${env.length === 0 ? "\t<none>" : ""}\n`;
    for (const e of env) {
      if (e.valueFrom === undefined)
        String(e.value ?? "")
          .split("\n")
          .forEach((s, i) => {
            out += i === 0 ? `      ${e.name}:\t${s}\n` : `      \t${s}\n`;
          });
      else out += `      ${e.name}:\t${envSource(pod, e.valueFrom as Json)}\n`;
    }
    const mounts = [...((c.volumeMounts ?? []) as Json[])].sort((a, b) =>
      String(a.mountPath) < String(b.mountPath) ? -1 : 1,
    );
    out += `    Mounts:${mounts.length === 0 ? "\t<none>" : ""}\n`;
    for (const m of mounts) {
      const flags = [m.readOnly ? "ro" : "rw", ...(m.subPath ? [`path=${JSON.stringify(m.subPath)}`] : [])];
      out += `      ${m.mountPath} from ${m.name} (${flags.join(",")})\n`;
    }
  }
  return out;
}

/** An environment variable's `valueFrom`, in kubectl's words (a field reference with the pod's value). */
function envSource(pod: ApiObject, from: Json): string {
  const ref = (from.secretKeyRef ?? from.configMapKeyRef) as Json | undefined;
  if (ref) {
    const where = from.secretKeyRef ? `in secret '${ref.name}'` : `of config map '${ref.name}'`;
    return `<set to the key '${ref.key}' ${where}>\tOptional: ${ref.optional === true}`;
  }
  const field = from.fieldRef as Json | undefined;
  if (field) {
    // Plain dotted paths (metadata.name, status.podIP); kubectl shows "" for what it cannot resolve.
    let value: unknown = pod;
    for (const part of String(field.fieldPath).split(".")) value = (value as Json | undefined)?.[part];
    const shown = typeof value === "string" ? value : "";
    return `${shown} (${field.apiVersion ?? "v1"}:${field.fieldPath})`;
  }
  const resource = from.resourceFieldRef as Json | undefined;
  return `(${resource?.resource ?? ""})`;
}

function volumes(list: Json[] | undefined): string {
  if (!list?.length) return "Volumes:\t<none>\n";
  let out = "Volumes:\n";
  for (const v of list) {
    out += `  ${v.name}:\n`;
    if (v.emptyDir !== undefined) {
      const e = (v.emptyDir ?? {}) as Json;
      out += `    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t${e.medium ?? ""}\n    SizeLimit:\t${e.sizeLimit ?? "<unset>"}\n`;
    } else if (v.configMap !== undefined) {
      const m = v.configMap as Json;
      out += `    Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t${m.name ?? ""}\n    Optional:\t${m.optional === true}\n`;
    } else if (v.secret !== undefined) {
      const s = v.secret as Json;
      out += `    Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t${s.secretName ?? ""}\n    Optional:\t${s.optional === true}\n`;
    } else if (v.hostPath !== undefined) {
      const h = v.hostPath as Json;
      out += `    Type:\tHostPath (bare host directory volume)\n    Path:\t${h.path ?? ""}\n    HostPathType:\t${h.type ?? "<none>"}\n`;
    } else out += "    <unknown>\n";
  }
  return out;
}

/** kubectl describe's text for one pod. */
export function describePodText(pod: ApiObject): string {
  const spec = (pod.spec ?? {}) as Json;
  const status = (pod.status ?? {}) as Json;
  const meta = pod.metadata;
  let out = `Name:\t${meta.name}\nNamespace:\t${meta.namespace}\n`;
  if (spec.priority !== undefined) out += `Priority:\t${spec.priority}\n`;
  if (spec.priorityClassName) out += `Priority Class Name:\t${spec.priorityClassName}\n`;
  if (spec.runtimeClassName) out += `Runtime Class Name:\t${spec.runtimeClassName}\n`;
  if (spec.serviceAccountName) out += `Service Account:\t${spec.serviceAccountName}\n`;
  out += spec.nodeName ? `Node:\t${spec.nodeName}/${status.hostIP ?? ""}\n` : "Node:\t<none>\n";
  if (status.startTime) out += `Start Time:\t${rfc1123z(String(status.startTime))}\n`;
  out += labelsMultiline("Labels", meta.labels);
  out += annotationsMultiline("Annotations", meta.annotations);
  if (meta.deletionTimestamp && status.phase !== "Failed" && status.phase !== "Succeeded")
    throw new TortieError("Unsupported", "not supported yet: describing a terminating pod");
  out += `Status:\t${status.phase ?? ""}\n`;
  if (status.reason) out += `Reason:\t${status.reason}\n`;
  if (status.message) out += `Message:\t${status.message}\n`;
  out += `IP:\t${status.podIP ?? ""}\n`;
  const ips = (status.podIPs ?? []) as Json[];
  out += ips.length === 0 ? "IPs:\t<none>\n" : `IPs:\n${ips.map((i) => `  IP:\t${i.ip}\n`).join("")}`;
  const owner = meta.ownerReferences?.find((r) => r.controller === true);
  if (owner) out += `Controlled By:\t${owner.kind}/${owner.name}\n`;
  if (status.nominatedNodeName) out += `NominatedNodeName:\t${status.nominatedNodeName}\n`;
  const initContainers = (spec.initContainers ?? []) as Json[];
  if (initContainers.length > 0)
    out += containers(pod, "Init Containers", initContainers, status.initContainerStatuses as Json[]);
  out += containers(pod, "Containers", (spec.containers ?? []) as Json[], status.containerStatuses as Json[]);
  const conditions = (status.conditions ?? []) as Json[];
  if (conditions.length > 0)
    out += `Conditions:\n  Type\tStatus\n${conditions.map((c) => `  ${c.type} \t${c.status} \n`).join("")}`;
  out += volumes(spec.volumes as Json[] | undefined);
  out += `QoS Class:\t${status.qosClass ?? "BestEffort"}\n`;
  out += labelsMultiline("Node-Selectors", spec.nodeSelector as Record<string, string> | undefined);
  out += tolerationsMultiline("Tolerations", spec.tolerations as Json[] | undefined);
  out += "Events:\t<none>\n";
  return goTabwriter(out);
}
