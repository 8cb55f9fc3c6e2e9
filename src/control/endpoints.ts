import type { ApiObject } from "../api/index.ts";
import { parseIp } from "../net/index.ts";
import { matchesMap } from "./label-selector.ts";
import { nameSuffix } from "./names.ts";
import { kinds } from "./topology.ts";
import { isPodReady } from "./workloads.ts";
import { isOwnedBy, ownerRef, type Writer } from "./writes.ts";

interface ResolvedPort {
  name?: string;
  port: number;
  protocol: string;
}

interface Backend {
  pod: ApiObject;
  ip: string;
  ready: boolean;
  ports: ResolvedPort[];
}

const MANAGED_BY = "endpointslice-controller.k8s.io";

/** A service port's targetPort on one pod: a number, or the container port with that name (FindPort). */
function resolveTargetPort(pod: ApiObject, sp: Record<string, unknown>): number | undefined {
  const target = sp.targetPort ?? sp.port;
  if (typeof target === "number") return target;
  const protocol = sp.protocol ?? "TCP";
  for (const c of pod.spec.containers as {
    ports?: { name?: string; containerPort: number; protocol?: string }[];
  }[])
    for (const p of c.ports ?? [])
      if (p.name === target && (p.protocol ?? "TCP") === protocol) return p.containerPort;
  return /^\d+$/.test(String(target)) ? Number(target) : undefined;
}

function targetRef(pod: ApiObject): Record<string, unknown> {
  return { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The endpoints and endpoint-slice controllers: for every Service with a selector, the pods it selects that
 * have an address, split into ready and not-ready, with named targetPorts resolved per pod.
 */
export async function reconcileEndpoints(w: Writer): Promise<void> {
  const services = await w.client.list(kinds.Service);
  const pods = (await w.client.list(kinds.Pod)).filter(
    (p) => p.status?.podIP && p.status.phase !== "Succeeded" && p.status.phase !== "Failed",
  );
  const endpoints = await w.client.list(kinds.Endpoints);
  const slices = await w.client.list(kinds.EndpointSlice);
  const wanted = new Set<string>();
  for (const svc of services) {
    if (!svc.spec?.selector || Object.keys(svc.spec.selector).length === 0) continue;
    if (svc.spec.type === "ExternalName") continue;
    const ns = svc.metadata.namespace!;
    wanted.add(`${ns}/${svc.metadata.name}`);
    const backends: Backend[] = [];
    for (const pod of pods) {
      if (pod.metadata.namespace !== ns || !matchesMap(svc.spec.selector, pod.metadata.labels ?? {}))
        continue;
      const ports: ResolvedPort[] = [];
      for (const sp of svc.spec.ports as Record<string, unknown>[]) {
        const port = resolveTargetPort(pod, sp);
        if (port !== undefined)
          ports.push({
            ...(sp.name ? { name: String(sp.name) } : {}),
            port,
            protocol: String(sp.protocol ?? "TCP"),
          });
      }
      const ready = isPodReady(pod) || svc.spec.publishNotReadyAddresses === true;
      backends.push({ pod, ip: pod.status.podIP, ready, ports });
    }
    await writeEndpoints(w, svc, backends, endpoints);
    await writeSlices(w, svc, backends, slices);
  }
  // Endpoints of deleted services (slices go with their owner through garbage collection).
  for (const ep of endpoints) {
    const key = `${ep.metadata.namespace}/${ep.metadata.name}`;
    const svc = services.find((s) => `${s.metadata.namespace}/${s.metadata.name}` === key);
    if (!svc) await w.remove(kinds.Endpoints, ep);
  }
}

async function writeEndpoints(
  w: Writer,
  svc: ApiObject,
  backends: Backend[],
  existing: ApiObject[],
): Promise<void> {
  const groups = new Map<string, { ports: ResolvedPort[]; ready: Backend[]; notReady: Backend[] }>();
  for (const b of backends) {
    if (b.ports.length === 0) continue;
    const key = JSON.stringify(b.ports);
    const g = groups.get(key) ?? { ports: b.ports, ready: [], notReady: [] };
    (b.ready ? g.ready : g.notReady).push(b);
    groups.set(key, g);
  }
  const address = (b: Backend) => ({ ip: b.ip, nodeName: b.pod.spec.nodeName, targetRef: targetRef(b.pod) });
  const subsets = [...groups.values()].map((g) => {
    const subset: Record<string, unknown> = {};
    if (g.ready.length > 0) subset.addresses = g.ready.sort((a, b) => cmp(a.ip, b.ip)).map(address);
    if (g.notReady.length > 0)
      subset.notReadyAddresses = g.notReady.sort((a, b) => cmp(a.ip, b.ip)).map(address);
    subset.ports = g.ports;
    return subset;
  });
  const desired: ApiObject = {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: {
      name: svc.metadata.name,
      namespace: svc.metadata.namespace,
      labels: { ...(svc.metadata.labels ?? {}) },
    },
    subsets,
  };
  const live = existing.find(
    (e) => e.metadata.namespace === svc.metadata.namespace && e.metadata.name === svc.metadata.name,
  );
  if (!live) await w.create(desired);
  else await w.patch(live, desired);
}

async function writeSlices(
  w: Writer,
  svc: ApiObject,
  backends: Backend[],
  existing: ApiObject[],
): Promise<void> {
  const ns = svc.metadata.namespace!;
  const mine = existing.filter((s) => s.metadata.namespace === ns && isOwnedBy(s, svc));
  const groups = new Map<string, { ports: ResolvedPort[]; family: 4 | 6; members: Backend[] }>();
  for (const b of backends) {
    const family = parseIp(b.ip)?.family ?? 4;
    const key = `${family}|${JSON.stringify(b.ports)}`;
    const g = groups.get(key) ?? { ports: b.ports, family, members: [] };
    g.members.push(b);
    groups.set(key, g);
  }
  // A service with no backends still has one (empty) slice, as the controller keeps a placeholder.
  if (groups.size === 0) groups.set("4|[]", { ports: [], family: 4, members: [] });
  const keep = new Set<string>();
  for (const [key, g] of groups) {
    const live = mine.find((s) => s.metadata.annotations?.["tortie.dev/port-mapping"] === key);
    const name =
      live?.metadata.name ?? `${svc.metadata.name}-${nameSuffix(`slice/${ns}/${svc.metadata.name}/${key}`)}`;
    keep.add(name);
    await w.ensure(kinds.EndpointSlice, {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name,
        generateName: `${svc.metadata.name}-`,
        namespace: ns,
        labels: {
          ...(svc.metadata.labels ?? {}),
          "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
          "kubernetes.io/service-name": svc.metadata.name!,
        },
        annotations: { "tortie.dev/port-mapping": key },
        ownerReferences: [ownerRef(svc)],
      },
      addressType: g.family === 4 ? "IPv4" : "IPv6",
      endpoints: g.members.map((b) => ({
        addresses: [b.ip],
        conditions: { ready: b.ready, serving: b.ready, terminating: false },
        nodeName: b.pod.spec.nodeName,
        targetRef: targetRef(b.pod),
      })),
      ports: g.ports.map((p) => ({ name: p.name ?? "", port: p.port, protocol: p.protocol })),
    });
  }
  for (const s of mine) if (!keep.has(s.metadata.name!)) await w.remove(kinds.EndpointSlice, s);
}
