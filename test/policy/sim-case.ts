/**
 * Builds a whole sim cluster for a NetworkPolicy test model: the objects the analysis tests use (namespaces,
 * WorkloadEndpoints, policies) plus what the sim dataplane needs to program kernels (a topology, nodes, Pods with
 * their addresses, IPAM blocks for the routes between nodes).
 */
import type { SimCluster } from "../../src/agent/index.ts";
import type { ApiObject } from "../../src/api/index.ts";
import { type ClusterTopology, calicoInterfaceName } from "../../src/control/index.ts";
import { joinSegment, Kernel, maskOf, parseIpv4, parseIpv4Prefix } from "../../src/dataplane/sim/index.ts";
import { parseCidr } from "../../src/net/index.ts";
import { type ModelPod, namespaceObject, podEndpoint } from "./netpol-model.ts";

export const AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47";

/** Three workers and the lab's external router on one underlay; pods in 10.0.0.0/8, services in 172.30.0.0/16. */
export function modelTopology(workers = ["node1", "node2", "node3"]): ClusterTopology {
  return {
    name: "netpol",
    clusterCIDR: parseCidr("10.0.0.0/8")!,
    serviceCIDR: parseCidr("172.30.0.0/16")!,
    nodePortMin: 30000,
    nodePortMax: 32767,
    clusterDomain: "cluster.local",
    dnsServiceIP: "172.30.0.10",
    asNumber: 64512,
    kubernetesVersion: "v1.29.0",
    defaultPool: {
      name: "default-ipv4-ippool",
      cidr: "10.0.0.0/8",
      blockSize: 24,
      natOutgoing: false,
      encapsulation: "None",
    },
    hosts: [
      ...workers.map((name, i) => ({
        name,
        address: `172.31.0.${i + 11}/24`,
        ip: `172.31.0.${i + 11}`,
        prefix: 24,
        role: "worker" as const,
        interface: "eth0",
        labels: {},
      })),
      {
        name: "router",
        address: "172.31.0.254/24",
        ip: "172.31.0.254",
        prefix: 24,
        role: "external" as const,
        interface: "eth0",
        labels: {},
      },
    ],
  };
}

function podObject(p: ModelPod & { node: string }): ApiObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
    spec: {
      nodeName: p.node,
      serviceAccountName: p.serviceAccount ?? "default",
      containers: [
        {
          name: "agnhost",
          image: AGNHOST,
          ports: p.containerPorts.map((c) => ({ ...c, protocol: c.protocol.toUpperCase() })),
        },
      ],
    },
    status: { phase: "Running", podIP: p.ip, podIPs: [{ ip: p.ip }] },
  };
}

function nodeObject(h: ClusterTopology["hosts"][number]): ApiObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: h.name, labels: { "kubernetes.io/hostname": h.name } },
    status: { addresses: [{ type: "InternalIP", address: h.ip }] },
  };
}

function calicoNodeObject(h: ClusterTopology["hosts"][number]): ApiObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "Node",
    metadata: { name: h.name, labels: { "kubernetes.io/hostname": h.name } },
    spec: { bgp: { ipv4Address: h.address } },
  };
}

/**
 * The objects of one model. Pods are spread over the workers by the /24 their address is in (so a case's
 * namespaces land on different nodes and probes cross the underlay as well as stay on one node); each /24 is an
 * IPAM block affine to that node.
 */
export function modelObjects(
  topology: ClusterTopology,
  namespaces: { name: string; labels: Record<string, string> }[],
  pods: ModelPod[],
  policies: ApiObject[],
): ApiObject[] {
  const workers = topology.hosts.filter((h) => h.role !== "external");
  const blocks = new Map<string, string>();
  const placed = pods.map((p) => {
    const block = `${p.ip.split(".").slice(0, 3).join(".")}.0/24`;
    if (!blocks.has(block)) blocks.set(block, workers[blocks.size % workers.length]!.name);
    return { ...p, node: p.node ?? blocks.get(block)! };
  });
  return [
    ...namespaces.map((n) => namespaceObject(n.name, n.labels)),
    ...workers.map(nodeObject),
    ...placed.map(podObject),
    ...placed.map((p) => {
      const wep = podEndpoint(p);
      wep.spec.interfaceName = calicoInterfaceName(p.namespace, p.name);
      return wep;
    }),
    ...[...blocks].map(([cidr, node]) => ({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "IPAMBlock",
      metadata: { name: cidr.replace(/[./]/g, "-") },
      spec: { cidr, affinity: `host:${node}` },
    })),
    // What BIRD needs to carry the blocks between nodes (the routes come from BGP, as on Calico): the nodes'
    // BGP addresses, the blocks' affinities and the pool they belong to (the export filter accepts its blocks).
    ...workers.map(calicoNodeObject),
    ...[...blocks].map(([cidr, node]) => ({
      apiVersion: "projectcalico.org/v3",
      kind: "BlockAffinity",
      metadata: { name: `${node}-${cidr.replace(/[./]/g, "-")}` },
      spec: { node, cidr, state: "confirmed", type: "host", deleted: "false" },
    })),
    {
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: topology.defaultPool.name },
      spec: {
        cidr: topology.defaultPool.cidr,
        blockSize: topology.defaultPool.blockSize,
        ipipMode: "Never",
        vxlanMode: "Never",
        natOutgoing: topology.defaultPool.natOutgoing,
        nodeSelector: "all()",
      },
    },
    ...policies,
  ];
}

/**
 * An address outside the cluster, as a namespace on the underlay behind the router: the router forwards, knows
 * the pod blocks through their nodes (as the lab's router would learn them by BGP) and the address on its link.
 */
export function externalPeer(
  cluster: SimCluster,
  topology: ClusterTopology,
  objects: ApiObject[],
  ip: string,
): Kernel {
  const existing = cluster.kernel(`external/${ip}`);
  if (existing) return existing;
  const router = topology.hosts.find((h) => h.role === "external")!;
  const r = cluster.kernel(router.name)!;
  const addr = parseIpv4(ip)!;
  if (!r.sysctl.ipForward) {
    r.sysctl.ipForward = true;
    const hostIp = new Map(topology.hosts.map((h) => [h.name, parseIpv4(h.ip)!]));
    for (const b of objects.filter((o) => o.kind === "IPAMBlock"))
      r.addRoute({
        type: "unicast",
        dst: parseIpv4Prefix(b.spec.cidr)!,
        nexthops: [
          {
            via: hostIp.get(String(b.spec.affinity).replace(/^host:/, ""))!,
            dev: router.interface,
            weight: 1,
          },
        ],
        proto: "static",
        scope: "global",
        metric: 0,
      });
  }
  const k = new Kernel(`external/${ip}`);
  const link = k.addLink({ name: "eth0", kind: "ether", mac: "02:00:00:00:00:02", mtu: 1500 });
  joinSegment(r.links.get(router.interface)!.segment!, k, link);
  k.addAddress("eth0", { addr, len: 32, mask: maskOf(32) }, addr);
  k.addRoute({
    type: "unicast",
    dst: { addr: 0, len: 0, mask: 0 },
    nexthops: [{ via: parseIpv4(router.ip)!, dev: "eth0", weight: 1 }],
    proto: "static",
    scope: "global",
    metric: 0,
  });
  r.addRoute({
    type: "unicast",
    dst: { addr, len: 32, mask: maskOf(32) },
    nexthops: [{ dev: router.interface, weight: 1 }],
    proto: "static",
    scope: "link",
    metric: 0,
  });
  // The vectors' outside addresses may share a /24 with pods (1.2.3.4 next to a pod on 1.2.3.5); a /32 via the
  // router on every node keeps the address outside that pod's block.
  for (const h of topology.hosts)
    if (h.role !== "external")
      cluster.kernel(h.name)!.addRoute({
        type: "unicast",
        dst: { addr, len: 32, mask: maskOf(32) },
        nexthops: [{ via: parseIpv4(router.ip)!, dev: h.interface, weight: 1 }],
        proto: "static",
        scope: "global",
        metric: 0,
      });
  cluster.kernels.set(k.name, k);
  return k;
}
