import type { ApiObject } from "../../api/index.ts";

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
}
