import type { ApiObject } from "../../api/index.ts";

/**
 * A local workload's endpoint status as Felix writes it under /var/run/calico/endpoint-status/<name> (JSON), the
 * part confd reads for BGPPeers with a localWorkloadSelector.
 */
export interface LocalWorkloadStatus {
  /** The status file's name. */
  name: string;
  ifaceName: string;
  ipv4Nets?: string[];
  ipv6Nets?: string[];
  /** The BGPPeer (with localWorkloadSelector) that selected this workload. */
  bgpPeerName?: string;
}

/**
 * What confd on one node reads: the datastore's objects and calico-node's environment. Everything the BIRD
 * configuration of `node` depends on is in here, so the model is a pure function of it.
 */
export interface ConfdInput {
  /** The node confd runs on (calico-node's NODENAME). */
  node: string;
  /**
   * Calico v3 Nodes (spec.bgp), Kubernetes Nodes (labels), BGPConfiguration, BGPPeer, BGPFilter, IPPool,
   * BlockAffinity (spec.node, spec.cidr, spec.state), Service, EndpointSlice and Secret objects. Other kinds are
   * ignored.
   */
  objects: ApiObject[];
  /** calico-node's environment as confd sees it (e.g. CALICO_ROUTER_ID). */
  env?: Record<string, string>;
  /** Felix's endpoint-status files of this node's workloads (for localWorkloadSelector peers). */
  localWorkloads?: LocalWorkloadStatus[];
}
