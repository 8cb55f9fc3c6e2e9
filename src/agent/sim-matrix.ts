/**
 * `tortie policy matrix --engine sim`: reachability measured by sending packets through the emulated kernels,
 * the way the Kubernetes e2e NetworkPolicy suite measures it on a real cluster. Every destination pod serves
 * the probed ports (as the suite's agnhost pods do), every pod gets a probe Service (the suite's `s-<ns>-<pod>`),
 * and each cell is one connection attempt: a TCP connect, a UDP datagram and its reply, an SCTP association.
 */
import type { ApiObject } from "../api/index.ts";
import type { ClusterTopology } from "../control/index.ts";
import {
  type ExchangeResult,
  formatIpv4,
  type Kernel,
  parseIpv4,
  sctpExchange,
  tcpExchange,
  udpExchange,
} from "../dataplane/sim/index.ts";
import { TortieError, UnsupportedError } from "../lib/index.ts";
import { type MatrixCell, type MatrixPort, protocolName } from "../policy/index.ts";
import { emptySimState, SimCluster } from "./sim-cluster.ts";

/** How a probe addresses its destination. */
export type ProbeVia =
  /** The destination pod's IP; a pod probing itself goes through its probe Service (its own IP never leaves it). */
  | "pod"
  /** The destination's probe Service cluster IP, for every cell (the e2e suite's way). */
  | "service";

export interface SimMatrixOptions {
  /** Pods of the matrix as `<namespace>/<pod>`. */
  pods: string[];
  ports: MatrixPort[];
  via?: ProbeVia;
  /** Connect timeout per probe, in virtual milliseconds (short, like the e2e suite's `agnhost connect --timeout`). */
  timeoutMs?: number;
}

const TCP = 6;
const UDP = 17;
const SCTP = 132;
/** Name prefix of the probe Services: Service names are DNS labels, so no stored Service has a dot in its name. */
const PROBE_SERVICE_PREFIX = "tortie.probe.";

function compareLabels(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function portName(p: MatrixPort): string {
  return `p${p.port}-${protocolName(p.protocol).toLowerCase()}`;
}

/**
 * Free cluster IPs for the probe Services: from the top of the service CIDR down, skipping the allocated ones.
 * The probe cluster is thrown away after the matrix, so nothing is written to the store.
 */
function freeClusterIps(topology: ClusterTopology, objects: ApiObject[], count: number): string[] {
  const cidr = topology.serviceCIDR;
  if (cidr.family !== 4)
    throw new TortieError("Invalid", "policy matrix --engine sim needs an IPv4 service CIDR");
  const used = new Set<string>([topology.dnsServiceIP]);
  for (const s of objects)
    if (s.kind === "Service")
      for (const ip of [s.spec?.clusterIP, ...((s.spec?.clusterIPs as string[] | undefined) ?? [])])
        if (ip) used.add(String(ip));
  const base = Number(cidr.value);
  const size = 2 ** (32 - cidr.prefix);
  const out: string[] = [];
  for (let i = size - 2; i >= 1 && out.length < count; i--) {
    const ip = formatIpv4((base + i) >>> 0);
    if (!used.has(ip)) out.push(ip);
  }
  if (out.length < count)
    throw new TortieError(
      "Invalid",
      "policy matrix --engine sim: the service CIDR has no room for probe services",
    );
  return out;
}

/** One probe Service per pod (ClusterIP, every probed port) and its EndpointSlice, as the e2e suite creates them. */
function probeServices(
  topology: ClusterTopology,
  objects: ApiObject[],
  pods: ApiObject[],
  ports: MatrixPort[],
): { objects: ApiObject[]; ipOf: Map<string, string> } {
  const ips = freeClusterIps(topology, objects, pods.length);
  const out: ApiObject[] = [];
  const ipOf = new Map<string, string>();
  pods.forEach((pod, i) => {
    const ns = pod.metadata.namespace!;
    const name = `${PROBE_SERVICE_PREFIX}${pod.metadata.name}`;
    const clusterIP = ips[i]!;
    ipOf.set(`${ns}/${pod.metadata.name}`, clusterIP);
    out.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: ns },
      spec: {
        type: "ClusterIP",
        clusterIP,
        clusterIPs: [clusterIP],
        ports: ports.map((p) => ({
          name: portName(p),
          protocol: protocolName(p.protocol),
          port: p.port,
          targetPort: p.port,
        })),
      },
    });
    out.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-probe`, namespace: ns, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: [
        {
          addresses: [pod.status.podIP],
          nodeName: pod.spec.nodeName,
          conditions: { ready: true, serving: true, terminating: false },
        },
      ],
      ports: ports.map((p) => ({ name: portName(p), protocol: protocolName(p.protocol), port: p.port })),
    });
  });
  return { objects: out, ipOf };
}

/** agnhost serve-hostname: every probed port answers with the pod's name, over TCP, UDP and SCTP. */
export function serveProbedPorts(k: Kernel, hostname: string, ports: MatrixPort[]): void {
  for (const p of ports) {
    const protocol = p.protocol === TCP ? "tcp" : p.protocol === UDP ? "udp" : "sctp";
    k.listen({ protocol, port: p.port, handle: () => hostname });
  }
}

/** Forgets every connection, so no probe sees another's conntrack entries. */
function flushConntrack(kernels: Iterable<Kernel>): void {
  for (const k of kernels) for (const e of [...k.conntrack.entries]) k.conntrack.remove(e);
}

/**
 * One probe as agnhost connect makes it: from `client`'s namespace to `dst`, after forgetting every connection
 * of the cluster (no probe sees another's conntrack entries). TCP, UDP or SCTP.
 */
export function simProbe(
  cluster: SimCluster,
  client: Kernel,
  dst: number,
  p: MatrixPort,
  timeoutMs = 1000,
): ExchangeResult {
  flushConntrack(cluster.kernels.values());
  const payload = "echo hostname";
  if (p.protocol === TCP)
    return tcpExchange(cluster.net, client, dst, p.port, payload, { connectTimeoutMs: timeoutMs });
  if (p.protocol === UDP) return udpExchange(cluster.net, client, dst, p.port, payload, { timeoutMs });
  if (p.protocol === SCTP)
    return sctpExchange(cluster.net, client, dst, p.port, payload, { connectTimeoutMs: timeoutMs });
  throw new TortieError("Usage", `the sim probes TCP, UDP and SCTP only, not ${protocolName(p.protocol)}`);
}

/**
 * The matrix on the sim dataplane: a cluster programmed from `objects` (fresh state, never saved), probe
 * listeners and Services added, then one probe per (source, destination, port), in `PolicyMatrix.cellsList`
 * order. Only TCP, UDP and SCTP ports can be probed.
 */
export function simMatrixCells(
  objects: ApiObject[],
  topology: ClusterTopology,
  options: SimMatrixOptions,
): MatrixCell[] {
  const { ports } = options;
  const via = options.via ?? "pod";
  const timeoutMs = options.timeoutMs ?? 1000;
  for (const p of ports)
    if (p.protocol !== TCP && p.protocol !== UDP && p.protocol !== SCTP)
      throw new TortieError(
        "Usage",
        `policy matrix --engine sim probes TCP, UDP and SCTP ports only, not ${p.port}/${protocolName(p.protocol)}`,
      );
  const labels = [...options.pods].sort(compareLabels);
  const podObjects = new Map(
    objects
      .filter((o) => o.kind === "Pod" && o.status?.podIP && o.spec?.nodeName && !o.spec?.hostNetwork)
      .map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]),
  );
  const pods = labels.map((l) => {
    const pod = podObjects.get(l);
    if (!pod)
      throw new TortieError("NotFound", `policy matrix --engine sim: pod ${l} is not running on the sim`);
    if (parseIpv4(String(pod.status.podIP)) === undefined)
      throw new UnsupportedError(`policy matrix --engine sim for ${l}: the sim dataplane is IPv4 only`);
    return pod;
  });
  const probes = probeServices(topology, objects, pods, ports);
  const cluster = new SimCluster([...objects, ...probes.objects], topology, emptySimState());
  // A rule the sim left out would make its verdicts differ from the cluster's: refuse rather than guess.
  if (cluster.unsupported.length)
    throw new UnsupportedError(`policy matrix --engine sim (${cluster.unsupported[0]})`);
  const kernels = labels.map((l) => {
    const k = cluster.kernel(l);
    if (!k)
      throw new TortieError("NotFound", `policy matrix --engine sim: pod ${l} has no network namespace`);
    return k;
  });
  for (const [i, l] of labels.entries()) serveProbedPorts(kernels[i]!, l.split("/")[1]!, ports);
  const probe = (client: Kernel, dst: number, p: MatrixPort) => simProbe(cluster, client, dst, p, timeoutMs);
  const cells: MatrixCell[] = [];
  for (const [i, from] of labels.entries())
    for (const [j, to] of labels.entries()) {
      const throughService = via === "service" || i === j;
      const dst = parseIpv4(throughService ? probes.ipOf.get(to)! : String(pods[j]!.status.podIP))!;
      for (const p of ports) {
        const r = probe(kernels[i]!, dst, p);
        cells.push({ from, to, port: p.port, protocol: protocolName(p.protocol), allowed: r.ok });
      }
    }
  flushConntrack(cluster.kernels.values());
  return cells;
}
