import { type ApiObject, findKind, type KindDef } from "../api/index.ts";
import { type Cidr, parseCidr } from "../net/index.ts";
import type { ResourceClient } from "../store/index.ts";

export const kinds = {
  Topology: kind("tortie.dev/v1", "Topology"),
  Namespace: kind("v1", "Namespace"),
  Node: kind("v1", "Node"),
  Pod: kind("v1", "Pod"),
  Service: kind("v1", "Service"),
  Endpoints: kind("v1", "Endpoints"),
  EndpointSlice: kind("discovery.k8s.io/v1", "EndpointSlice"),
  ServiceAccount: kind("v1", "ServiceAccount"),
  ConfigMap: kind("v1", "ConfigMap"),
  Deployment: kind("apps/v1", "Deployment"),
  ReplicaSet: kind("apps/v1", "ReplicaSet"),
  DaemonSet: kind("apps/v1", "DaemonSet"),
  CalicoNode: kind("projectcalico.org/v3", "Node"),
  IPPool: kind("projectcalico.org/v3", "IPPool"),
  FelixConfiguration: kind("projectcalico.org/v3", "FelixConfiguration"),
  KubeControllersConfiguration: kind("projectcalico.org/v3", "KubeControllersConfiguration"),
  HostEndpoint: kind("projectcalico.org/v3", "HostEndpoint"),
  BGPConfiguration: kind("projectcalico.org/v3", "BGPConfiguration"),
  ClusterInformation: kind("projectcalico.org/v3", "ClusterInformation"),
  WorkloadEndpoint: kind("projectcalico.org/v3", "WorkloadEndpoint"),
  IPAMHandle: kind("projectcalico.org/v3", "IPAMHandle"),
  IPAMBlock: kind("projectcalico.org/v3", "IPAMBlock"),
  BlockAffinity: kind("projectcalico.org/v3", "BlockAffinity"),
  Installation: kind("operator.tigera.io/v1", "Installation"),
  TigeraStatus: kind("operator.tigera.io/v1", "TigeraStatus"),
};

function kind(apiVersion: string, name: string): KindDef {
  const def = findKind(apiVersion, name);
  if (!def) throw new Error(`kind ${apiVersion} ${name} is not registered`);
  return def;
}

export interface TopologyHost {
  name: string;
  address: string;
  ip: string;
  prefix: number;
  role: "control-plane" | "worker" | "external";
  interface: string;
  labels: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  /** An external host's BIRD 2 configuration (bird.conf), if it runs BIRD. */
  bird?: string;
}

/** The stored Topology, typed: what the controllers need to know about the cluster they run. */
export interface ClusterTopology {
  name: string;
  clusterCIDR: Cidr;
  serviceCIDR: Cidr;
  nodePortMin: number;
  nodePortMax: number;
  clusterDomain: string;
  dnsServiceIP: string;
  asNumber: number;
  kubernetesVersion: string;
  defaultPool: { name: string; cidr: string; blockSize: number; natOutgoing: boolean; encapsulation: string };
  hosts: TopologyHost[];
  /** kube-proxy's mode on every node (spec.kubeProxyMode); iptables when absent. */
  kubeProxyMode?: "iptables" | "nftables";
  /** Which kernel runs the cluster (spec.dataplane); sim when absent. */
  dataplane?: "sim" | "linux";
}

export function toClusterTopology(o: ApiObject): ClusterTopology {
  const s = o.spec;
  const [min, max] = String(s.nodePortRange).split("-").map(Number);
  return {
    name: o.metadata.name ?? "",
    clusterCIDR: parseCidr(s.clusterCIDR)!,
    serviceCIDR: parseCidr(s.serviceCIDR)!,
    nodePortMin: min!,
    nodePortMax: max!,
    clusterDomain: s.clusterDomain,
    dnsServiceIP: s.dnsServiceIP,
    asNumber: s.asNumber,
    kubernetesVersion: s.kubernetesVersion,
    defaultPool: s.defaultPool,
    kubeProxyMode: s.kubeProxyMode ?? "iptables",
    dataplane: s.dataplane ?? "sim",
    hosts: (s.hosts as Record<string, unknown>[]).map((h) => {
      const [ip, prefix] = String(h.address).split("/");
      return {
        name: String(h.name),
        address: String(h.address),
        ip: ip!,
        prefix: Number(prefix),
        role: h.role as TopologyHost["role"],
        interface: String(h.interface),
        labels: (h.labels as Record<string, string> | undefined) ?? {},
        taints: (h.taints as TopologyHost["taints"] | undefined) ?? [],
        ...(typeof h.bird === "string" ? { bird: h.bird } : {}),
      };
    }),
  };
}

/** The cluster's topology, or undefined when no cluster is up in this store. */
export async function readTopology(client: ResourceClient): Promise<ClusterTopology | undefined> {
  const [o] = await client.list(kinds.Topology);
  return o && toClusterTopology(o);
}

export function kubernetesHosts(t: ClusterTopology): TopologyHost[] {
  return t.hosts.filter((h) => h.role !== "external");
}
