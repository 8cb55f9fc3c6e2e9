import { type ApiObject, describeObject, type KindDef } from "../api/index.ts";
import { type FieldProblem, ValidationError } from "../lib/index.ts";
import { cidrContainsIp, cidrSize, formatCidr, formatIp, parseIp } from "../net/index.ts";
import type { AdmissionPlugin, ResourceClient } from "../store/index.ts";
import { seededOffset } from "./names.ts";
import { type ClusterTopology, kinds, readTopology } from "./topology.ts";

/**
 * The API server's service allocators: a cluster IP from the service CIDR and node ports from the node-port
 * range, honouring explicit values and rejecting ones already taken, as kube-apiserver does at admission.
 * Picks are "random" from a seed of the service's name, so the same cluster gets the same addresses.
 */
export const serviceAllocation: AdmissionPlugin = {
  async admit(def: KindDef, o: ApiObject, existing: ApiObject | undefined, client: ResourceClient) {
    if (def !== kinds.Service) return;
    const topology = await readTopology(client);
    if (!topology) return;
    const others = (await client.list(kinds.Service)).filter(
      (s) => !(s.metadata.namespace === o.metadata.namespace && s.metadata.name === o.metadata.name),
    );
    const problems: FieldProblem[] = [];
    allocateClusterIP(topology, o, existing, others, problems);
    allocateNodePorts(topology, o, existing, others, problems);
    if (problems.length > 0) throw new ValidationError(describeObject(def, o), problems);
  },
};

function allocateClusterIP(
  t: ClusterTopology,
  o: ApiObject,
  existing: ApiObject | undefined,
  others: ApiObject[],
  problems: FieldProblem[],
): void {
  const spec = o.spec;
  if (spec.type === "ExternalName") return;
  const previous: string | undefined = existing?.spec?.clusterIP;
  if (previous && (spec.clusterIP === undefined || spec.clusterIP === "")) spec.clusterIP = previous;
  if (previous && spec.clusterIP !== previous) {
    problems.push({
      path: "spec.clusterIP",
      message: `Invalid value: "${spec.clusterIP}": field is immutable`,
    });
    return;
  }
  if (spec.clusterIP === "None") {
    spec.clusterIPs = ["None"];
  } else {
    const used = new Set(others.map((s) => s.spec?.clusterIP).filter(Boolean));
    const range = t.serviceCIDR;
    if (spec.clusterIP && !previous) {
      const ip = parseIp(spec.clusterIP);
      if (!ip || ip.family !== range.family || !cidrContainsIp(range, ip)) {
        problems.push({
          path: "spec.clusterIPs",
          message: `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is not in the valid range. The range of valid IPs is ${formatCidr(t.serviceCIDR)}`,
        });
        return;
      }
      if (used.has(spec.clusterIP)) {
        problems.push({
          path: "spec.clusterIPs",
          message: `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
        });
        return;
      }
    } else if (!spec.clusterIP) {
      const ip = pickClusterIP(t, `${o.metadata.namespace}/${o.metadata.name}`, used);
      if (!ip) {
        problems.push({
          path: "spec.clusterIPs",
          message: "Internal error: failed to allocate a serviceIP: range is full",
        });
        return;
      }
      spec.clusterIP = ip;
    }
    spec.clusterIPs = [spec.clusterIP];
  }
  spec.ipFamilies ??= [t.serviceCIDR.family === 4 ? "IPv4" : "IPv6"];
  spec.ipFamilyPolicy ??= "SingleStack";
}

/** The first free value in [lo, hi], starting at a seeded point and wrapping around. */
function probe(seed: string, lo: bigint, hi: bigint, free: (n: bigint) => boolean): bigint | undefined {
  if (hi < lo) return undefined;
  const span = hi - lo + 1n;
  const start = seededOffset(seed, span);
  for (let i = 0n; i < span; i++) {
    const n = lo + ((start + i) % span);
    if (free(n)) return n;
  }
  return undefined;
}

/**
 * kube-apiserver hands out dynamic cluster IPs from the upper part of the range first, keeping the lower
 * band (min(max(16, size/16), 256) addresses) for static picks; the network and broadcast are never used.
 */
function pickClusterIP(t: ClusterTopology, seed: string, used: Set<string>): string | undefined {
  const range = t.serviceCIDR;
  const size = cidrSize(range);
  const first = 1n;
  const last = range.family === 4 ? size - 2n : size - 1n;
  if (last < first) return undefined;
  const band = size / 16n < 16n ? 16n : size / 16n > 256n ? 256n : size / 16n;
  const free = (offset: bigint) => !used.has(formatIp({ family: range.family, value: range.value + offset }));
  const lowTop = band < last ? band : last;
  const offset =
    probe(`clusterIP/${seed}`, lowTop + 1n, last, free) ?? probe(`clusterIP/${seed}`, first, lowTop, free);
  return offset === undefined ? undefined : formatIp({ family: range.family, value: range.value + offset });
}

function allocateNodePorts(
  t: ClusterTopology,
  o: ApiObject,
  existing: ApiObject | undefined,
  others: ApiObject[],
  problems: FieldProblem[],
): void {
  const spec = o.spec;
  const ports: Record<string, unknown>[] = spec.ports ?? [];
  const wantsNodePorts =
    spec.type === "NodePort" ||
    (spec.type === "LoadBalancer" && spec.allocateLoadBalancerNodePorts !== false);
  const used = new Set<string>();
  for (const s of others) {
    for (const p of (s.spec?.ports as Record<string, unknown>[] | undefined) ?? [])
      if (p.nodePort) used.add(`${p.protocol ?? "TCP"}/${p.nodePort}`);
    if (s.spec?.healthCheckNodePort) used.add(`TCP/${s.spec.healthCheckNodePort}`);
  }
  const previousPorts: Record<string, unknown>[] = existing?.spec?.ports ?? [];
  const inRange = (n: number) => n >= t.nodePortMin && n <= t.nodePortMax;
  const rangeText = `${t.nodePortMin}-${t.nodePortMax}`;
  const seed = `${o.metadata.namespace}/${o.metadata.name}`;
  for (const [i, p] of ports.entries()) {
    if (!wantsNodePorts) {
      if (spec.type === "ClusterIP") delete p.nodePort;
      continue;
    }
    const protocol = String(p.protocol ?? "TCP");
    const before = previousPorts.find((q) => q.port === p.port && (q.protocol ?? "TCP") === protocol);
    if ((p.nodePort === undefined || p.nodePort === 0) && before?.nodePort) p.nodePort = before.nodePort;
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      const n = Number(p.nodePort);
      if (!inRange(n))
        problems.push({
          path: `spec.ports[${i}].nodePort`,
          message: `Invalid value: ${n}: provided port is not in the valid range. The range of valid ports is ${rangeText}`,
        });
      else if (used.has(`${protocol}/${n}`))
        problems.push({
          path: `spec.ports[${i}].nodePort`,
          message: `Invalid value: ${n}: provided port is already allocated`,
        });
      used.add(`${protocol}/${n}`);
      continue;
    }
    const port = pickNodePort(t, `${seed}/${i}`, (n) => used.has(`${protocol}/${n}`));
    if (port === undefined) {
      problems.push({ path: `spec.ports[${i}].nodePort`, message: "Internal error: range is full" });
      continue;
    }
    p.nodePort = port;
    used.add(`${protocol}/${port}`);
  }
  if (spec.type === "LoadBalancer" && spec.externalTrafficPolicy === "Local") {
    if (!spec.healthCheckNodePort && existing?.spec?.healthCheckNodePort)
      spec.healthCheckNodePort = existing.spec.healthCheckNodePort;
    if (!spec.healthCheckNodePort)
      spec.healthCheckNodePort = pickNodePort(t, `${seed}/hc`, (n) => used.has(`TCP/${n}`));
  } else delete spec.healthCheckNodePort;
}

/** Dynamic node ports come from above the static band (min(max(16, size/16), 128) ports), like the API server. */
function pickNodePort(t: ClusterTopology, seed: string, taken: (n: number) => boolean): number | undefined {
  const size = t.nodePortMax - t.nodePortMin + 1;
  const band = Math.min(Math.max(16, Math.floor(size / 16)), 128);
  const free = (n: bigint) => !taken(Number(n));
  const split = Math.min(t.nodePortMin + band, t.nodePortMax);
  const n =
    probe(`nodePort/${seed}`, BigInt(split), BigInt(t.nodePortMax), free) ??
    probe(`nodePort/${seed}`, BigInt(t.nodePortMin), BigInt(split - 1), free);
  return n === undefined ? undefined : Number(n);
}
