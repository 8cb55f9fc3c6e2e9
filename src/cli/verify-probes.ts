/**
 * What `tortie verify` sends on both kernels: every pod to every other pod on its app's ports and through every
 * Service's cluster IP and port, the external host to every node port on every node, seed 002's curls, and name
 * lookups. Pure: computed from the cluster's description and objects.
 */
import type { ApiObject } from "../api/index.ts";
import { appsForImage } from "../apps/index.ts";
import type { ClusterDataplane } from "../calc/index.ts";
import type { ClusterTopology } from "../control/index.ts";

/** One probe: an HTTP GET (as curl makes it) or a name lookup (as getaddrinfo makes it), from a namespace. */
export interface Probe {
  /** A host's name or `NS/POD`. */
  from: string;
  kind: "http" | "dns";
  /** The URL (http) or the name (dns). */
  target: string;
  /** Why it is sent (`pod`, `service NS/NAME`, `node port`, `seed 002`, `dns`). */
  why: string;
}

export function probeLabel(p: Probe): string {
  return p.kind === "http" ? `probe curl ${p.target} (${p.why})` : `probe resolve ${p.target} (${p.why})`;
}

/** A Service's frontends (cluster IP, node ports, external IPs) and how many ready endpoints it spreads over. */
export interface ServiceFrontend {
  service: string;
  proto: string;
  ip: string;
  port: number;
  endpoints: number;
}

const byKind = (objects: readonly ApiObject[], kind: string) => objects.filter((o) => o.kind === kind);
const keyOf = (o: ApiObject) => `${o.metadata.namespace}/${o.metadata.name}`;

/** Ready endpoints per Service (`NS/NAME`), from its EndpointSlices. */
function readyEndpoints(objects: readonly ApiObject[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of byKind(objects, "EndpointSlice")) {
    const svc = s.metadata.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    const key = `${s.metadata.namespace}/${svc}`;
    const ready = (
      (s.endpoints ?? []) as { addresses?: string[]; conditions?: { ready?: boolean } }[]
    ).filter((e) => e.conditions?.ready !== false).length;
    out.set(key, (out.get(key) ?? 0) + ready);
  }
  return out;
}

/** Every frontend of every Service: cluster IP and port, each cluster host's node port, external IPs. */
export function serviceFrontends(
  objects: readonly ApiObject[],
  topology: ClusterTopology,
): ServiceFrontend[] {
  const endpoints = readyEndpoints(objects);
  const nodes = topology.hosts.filter((h) => h.role !== "external");
  const out: ServiceFrontend[] = [];
  for (const svc of byKind(objects, "Service")) {
    const service = keyOf(svc);
    const n = endpoints.get(service) ?? 0;
    for (const p of (svc.spec?.ports ?? []) as { port: number; nodePort?: number; protocol?: string }[]) {
      const proto = String(p.protocol ?? "TCP").toLowerCase();
      const add = (ip: string, port: number) => out.push({ service, proto, ip, port, endpoints: n });
      const ip = svc.spec?.clusterIP;
      if (ip && ip !== "None") add(String(ip), p.port);
      if (p.nodePort) for (const h of nodes) add(h.ip, p.nodePort);
      for (const e of (svc.spec?.externalIPs ?? []) as string[]) add(e, p.port);
    }
  }
  return out;
}

/** Frontends whose Service has more than one endpoint: kube-proxy picks one at random, on each kernel. */
export function randomFrontends(frontends: ServiceFrontend[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of frontends) if (f.endpoints > 1) out.set(`${f.proto}|${f.ip}|${f.port}`, f.service);
  return out;
}

/** The probes, in a fixed order (the sim runs them in this order). */
export function planProbes(
  desc: ClusterDataplane,
  objects: readonly ApiObject[],
  topology: ClusterTopology,
): Probe[] {
  const pods: { name: string; ip: string; ports: number[] }[] = [];
  for (const host of desc.hosts)
    for (const ns of host.namespaces) {
      if (ns.kind !== "pod") continue;
      const ip = ns.addresses.find((a) => a.dev === "eth0")?.cidr.split("/")[0];
      if (!ip) continue;
      const ports = host.processes
        .filter((p) => p.namespace === ns.name)
        .flatMap((p) => appsForImage(p.image) ?? [])
        .filter((l) => l.protocol === "tcp")
        .map((l) => l.port);
      pods.push({ name: ns.name, ip, ports: [...new Set(ports)].sort((a, b) => a - b) });
    }
  const probes: Probe[] = [];
  const seen = new Set<string>();
  const add = (p: Probe) => {
    const key = `${p.from} ${p.kind} ${p.target}`;
    if (seen.has(key)) return;
    seen.add(key);
    probes.push(p);
  };
  for (const from of pods)
    for (const to of pods) {
      if (to === from) continue;
      for (const port of to.ports)
        add({ from: from.name, kind: "http", target: `http://${to.ip}:${port}/`, why: `pod ${to.name}` });
    }
  // Through each Service's cluster IP and port (TCP; DNS's port 53 is probed by name lookups below).
  const frontends = serviceFrontends(objects, topology);
  const clusterIps = new Set(byKind(objects, "Service").map((s) => String(s.spec?.clusterIP)));
  for (const from of pods)
    for (const f of frontends)
      if (f.proto === "tcp" && f.port !== 53 && clusterIps.has(f.ip))
        add({
          from: from.name,
          kind: "http",
          target: `http://${f.ip}:${f.port}/`,
          why: `service ${f.service}`,
        });
  // The external host(s) to every node port on every node.
  const external = topology.hosts.filter((h) => h.role === "external");
  for (const h of external)
    for (const f of frontends)
      if (f.proto === "tcp" && !clusterIps.has(f.ip) && topology.hosts.some((n) => n.ip === f.ip))
        add({
          from: h.name,
          kind: "http",
          target: `http://${f.ip}:${f.port}/`,
          why: `node port of ${f.service}`,
        });
  // Seed 002's curls: the customer's page fetches summary; the attack on the database from the customer pod.
  for (const pod of pods.filter((p) => /^yaobank\/customer/.test(p.name))) {
    add({ from: pod.name, kind: "http", target: "http://summary/", why: "seed 002 customer → summary" });
    add({
      from: pod.name,
      kind: "http",
      target: "http://database:2379/v2/keys?recursive=true",
      why: "seed 002 customer → database (database-policy)",
    });
  }
  // Name lookups: each pod resolves each Service of its namespace by its short name, and the API server's.
  const services = byKind(objects, "Service");
  for (const from of pods) {
    const ns = from.name.split("/")[0];
    for (const s of services.filter((s) => s.metadata.namespace === ns))
      add({ from: from.name, kind: "dns", target: String(s.metadata.name), why: "dns" });
    add({ from: from.name, kind: "dns", target: "kubernetes.default", why: "dns" });
  }
  return probes;
}

/** Per pod namespace, the ports its apps listen on (`tcp:80`, `udp:53`): the kernel's processes must be up first. */
export function appListeners(desc: ClusterDataplane): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const host of desc.hosts)
    for (const p of host.processes) {
      const ns = host.namespaces.find((n) => n.name === p.namespace);
      if (ns?.kind !== "pod") continue;
      const ports = p.image.includes("coredns")
        ? ["udp:53", "tcp:53"]
        : (appsForImage(p.image) ?? []).map((l) => `${l.protocol}:${l.port}`);
      if (ports.length) out.set(ns.name, [...new Set([...(out.get(ns.name) ?? []), ...ports])]);
    }
  return out;
}
