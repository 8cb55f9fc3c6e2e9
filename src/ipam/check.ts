import type { ApiObject } from "../api/index.ts";
import { cidrContainsIp, formatIp, parseCidr, parseCidrOrIp } from "../net/index.ts";
import type { BlockSpec } from "./block.ts";

export interface CheckInputs {
  blocks: BlockSpec[];
  pools: ApiObject[];
  /** Calico Node objects (tunnel addresses). */
  nodes: ApiObject[];
  workloadEndpoints: ApiObject[];
  pods: ApiObject[];
  /** LoadBalancer services whose status holds Calico-assigned ingress addresses. */
  services: ApiObject[];
  handles: { id: string; uid?: string; revision: string }[];
  clusterInformation?: ApiObject;
  showAllIps: boolean;
  showProblemIps: boolean;
  version: string;
}

export interface ReportAllocation {
  ip: string;
  handle?: string;
  sequenceNumber?: number;
  pod?: string;
  namespace?: string;
  node?: string;
  type?: string;
  creationTimestamp?: string;
  inUse: boolean;
  borrowed?: boolean;
  owners: string[] | null;
}

/** The machine-readable report `calicoctl ipam check -o FILE` writes (and `ipam release --from-report` reads). */
export interface CheckReport {
  version: string;
  clusterGUID: string;
  datastoreLocked: boolean;
  clusterInformationRevision: string;
  clusterType: string;
  allocations: Record<string, ReportAllocation[]>;
  leakedHandles?: { ID: string; UID: string | null; Revision: string }[];
}

/**
 * calicoctl ipam check: cross-references every IPAM allocation with what uses addresses (workloads, node
 * tunnels, LoadBalancer services) and every handle with the blocks. Prints what calicoctl prints, with the
 * lists calicoctl prints in map order sorted instead, so the output is stable.
 */
export function checkIpam(input: CheckInputs): { lines: string[]; report: CheckReport; problems: number } {
  const lines: string[] = [];
  const p = (s = "") => lines.push(s);
  const allocations = new Map<string, { alloc: ReportAllocation; attrText: string }[]>();
  const byNode = new Map<string, number>();
  const inUseIps = new Map<string, string[]>();
  const inUseHandles = new Set<string>();
  const recordInUse = (ip: string, owner: string) => {
    if (input.showAllIps) p(`  ${ip} belongs to ${owner}`);
    inUseIps.set(ip, [...(inUseIps.get(ip) ?? []), owner]);
    for (const a of allocations.get(ip) ?? []) {
      a.alloc.inUse = true;
      a.alloc.owners = [...(a.alloc.owners ?? []), owner];
    }
  };

  p("Checking IPAM for inconsistencies...");
  p();
  p("Loading all IPAM blocks...");
  p(`Found ${input.blocks.length} IPAM blocks.`);
  let numAllocs = 0;
  for (const b of input.blocks) {
    const affinity = b.affinity ?? "<none>";
    p(` IPAM block ${b.cidr} affinity=${affinity}:`);
    const cidr = parseCidr(b.cidr)!;
    const blockOwner = b.affinity?.startsWith("host:") ? b.affinity.slice(5) : "";
    b.allocations.forEach((attrIdx, ord) => {
      if (attrIdx === null) return;
      numAllocs++;
      const ip = formatIp({ family: cidr.family, value: cidr.value + BigInt(ord) });
      const alloc: ReportAllocation = { ip, inUse: false, owners: null };
      let node = blockOwner;
      const attr = b.attributes[attrIdx];
      if (attr) {
        if (attr.handle_id === "windows-reserved-ipam-handle") recordInUse(ip, "Reserved for Windows");
        else if (attr.handle_id !== undefined) {
          alloc.handle = attr.handle_id;
          inUseHandles.add(attr.handle_id);
        }
        const s = attr.secondary ?? {};
        if (s.node) node = s.node;
        if (s.pod) alloc.pod = s.pod;
        if (s.namespace) alloc.namespace = s.namespace;
        if (s.type) alloc.type = s.type;
        if (s.timestamp) alloc.creationTimestamp = s.timestamp;
      }
      alloc.sequenceNumber = b.sequenceNumberForAllocation[String(ord)] ?? 0;
      if (node) alloc.node = node;
      if (node !== blockOwner) alloc.borrowed = true;
      const attrText = formatAttrs(attr);
      allocations.set(ip, [...(allocations.get(ip) ?? []), { alloc, attrText }]);
      byNode.set(node, (byNode.get(node) ?? 0) + 1);
      if (input.showAllIps) p(`  ${ip} allocated; attrs ${attrText}`);
    });
  }
  p(`IPAM blocks record ${numAllocs} allocations.`);
  p();

  p("Loading all IPAM pools...");
  const activePools = input.pools.filter((pool) => pool.spec?.disabled !== true);
  for (const pool of activePools) p(`  ${pool.spec.cidr}`);
  p(`Found ${activePools.length} active IP pools.`);
  p();

  p("Loading all nodes.");
  let nodeIps = 0;
  for (const n of input.nodes) {
    const s = n.spec ?? {};
    for (const addr of [
      s.ipv4VXLANTunnelAddr,
      s.wireguard?.interfaceIPv4Address,
      s.bgp?.ipv4IPIPTunnelAddr,
    ]) {
      if (!addr) continue;
      recordInUse(normalise(addr), `Node(${n.metadata.name})`);
      nodeIps++;
    }
  }
  p(`Found ${nodeIps} node tunnel IPs.`);
  p();

  p("Loading all service load balancer IPs.");
  const lbs = input.services.filter((s) => s.spec?.type === "LoadBalancer");
  for (const svc of lbs)
    for (const ing of svc.status?.loadBalancer?.ingress ?? [])
      if (ing.ip) recordInUse(normalise(ing.ip), svc.metadata.name!);
  p(`Found ${lbs.length} service load balancer.`);
  p();

  p("Loading all workload endpoints.");
  let wepIps = 0;
  const podsWithEndpoints = new Set<string>();
  for (const w of input.workloadEndpoints) {
    podsWithEndpoints.add(`${w.metadata.namespace}/${w.spec?.pod}`);
    for (const net of w.spec?.ipNetworks ?? []) {
      recordInUse(normalise(net), `Workload(${w.metadata.namespace}/${w.metadata.name})`);
      wepIps++;
    }
  }
  for (const pod of input.pods) {
    if (podsWithEndpoints.has(`${pod.metadata.namespace}/${pod.metadata.name}`)) continue;
    // A host-networked pod's IP is its node's: Calico makes no workload endpoint for it (calico-node, typha, …).
    if (pod.spec?.hostNetwork) continue;
    const ips = new Set<string>((pod.status?.podIPs ?? []).map((x: { ip: string }) => x.ip).filter(Boolean));
    if (pod.status?.podIP) ips.add(pod.status.podIP);
    for (const ip of ips) {
      recordInUse(normalise(ip), `Workload(${pod.metadata.namespace}/${pod.metadata.name})`);
      wepIps++;
    }
  }
  p(`Found ${wepIps} workload IPs.`);
  p(`Workloads and nodes are using ${inUseIps.size} IPs.`);
  p();

  p("Loading all handles");
  const handles = new Map(input.handles.map((h) => [h.id, h]));
  p("Looking for top (up to 20) nodes by allocations...");
  const nodesByCount = [...byNode.keys()].sort((a, b) => byNode.get(b)! - byNode.get(a)! || (a < b ? -1 : 1));
  for (const n of nodesByCount.slice(0, 20)) p(`  ${n} has ${byNode.get(n)} allocations`);
  if (nodesByCount.length > 0)
    p(
      `Node with most allocations has ${byNode.get(nodesByCount[0]!)}; median is ${byNode.get(nodesByCount[Math.floor(nodesByCount.length / 2)]!)}`,
    );
  p();

  let problems = 0;
  p("Scanning for IPs that are allocated but not actually in use...");
  const leakedIps = [...allocations.keys()].filter((ip) => !inUseIps.has(ip)).sort(compareIps);
  if (input.showProblemIps)
    for (const ip of leakedIps)
      for (const a of allocations.get(ip)!) p(`  ${ip} leaked; attrs ${a.attrText}`);
  problems += leakedIps.length;
  p(`Found ${leakedIps.length} IPs that are allocated in IPAM but not actually in use.`);

  p("Scanning for IPs that are in use by a workload or node but not allocated in IPAM...");
  const pools = activePools.map((pool) => parseCidr(pool.spec.cidr)).filter((c) => c !== undefined);
  let notInPools = 0;
  let notAllocated = 0;
  for (const ip of [...inUseIps.keys()].sort(compareIps)) {
    const owners = inUseIps.get(ip)!;
    if (input.showProblemIps && owners.length > 1) p(`  ${ip} has multiple owners.`);
    if (allocations.has(ip)) continue;
    const addr = parseCidrOrIp(ip)!;
    const inPool = pools.some((c) => cidrContainsIp(c, addr));
    if (!inPool) {
      if (input.showProblemIps)
        for (const o of owners) p(`  ${ip} in use by ${o} is not in any active IP pool.`);
      notInPools++;
      continue;
    }
    if (input.showProblemIps)
      for (const o of owners) p(`  ${ip} in use by ${o} and in active IPAM pool but has no IPAM allocation.`);
    notAllocated++;
  }
  problems += notInPools + notAllocated;
  p(`Found ${notInPools} in-use IPs that are not in active IP pools.`);
  p(
    `Found ${notAllocated} in-use IPs that are in active IP pools but have no corresponding IPAM allocation.`,
  );
  p();

  p("Scanning for IPAM handles with no matching IPs...");
  const leakedHandles = [...handles.values()]
    .filter((h) => !inUseHandles.has(h.id))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  if (input.showAllIps) for (const h of leakedHandles) p(`  ${h.id} doesn't have any active IPs.`);
  problems += leakedHandles.length;
  p(
    `Found ${leakedHandles.length} handles with no matching IPs (and ${handles.size - leakedHandles.length} handles with matches).`,
  );

  p("Scanning for IPs with missing handle...");
  const missing = [...inUseHandles].filter((h) => !handles.has(h)).sort();
  if (input.showProblemIps) for (const h of missing) p(`  ${h} is in use in a block but doesn't exist.`);
  p(`Found ${missing.length} handles mentioned in blocks with no matching handle resource.`);
  p(`Check complete; found ${problems} problems.`);

  const ci = input.clusterInformation;
  const report: CheckReport = {
    version: input.version,
    clusterGUID: ci?.spec?.clusterGUID ?? "",
    datastoreLocked: ci?.spec?.datastoreReady === false,
    clusterInformationRevision: ci?.metadata.resourceVersion ?? "",
    clusterType: ci?.spec?.clusterType ?? "",
    allocations: Object.fromEntries([...allocations].map(([ip, as]) => [ip, as.map((a) => a.alloc)])),
  };
  if (leakedHandles.length > 0)
    report.leakedHandles = leakedHandles.map((h) => ({ ID: h.id, UID: h.uid ?? null, Revision: h.revision }));
  return { lines, report, problems };
}

function formatAttrs(attr: { handle_id?: string; secondary?: Record<string, string> } | undefined): string {
  if (!attr) return "<missing>";
  const extra = Object.keys(attr.secondary ?? {})
    .sort()
    .map((k) => `${k}=${attr.secondary![k]}`)
    .join(",");
  return `Main:${attr.handle_id ?? "<none>"} Extra:${extra}`;
}

function normalise(addr: string): string {
  const c = parseCidrOrIp(addr);
  return c ? formatIp(c) : addr;
}

function compareIps(a: string, b: string): number {
  const x = parseCidrOrIp(a)!;
  const y = parseCidrOrIp(b)!;
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}
