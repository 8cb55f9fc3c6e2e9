/**
 * Calico's eBPF dataplane as plain data (reference §6; felix/bpf/proxy, felix/bpf/nat): what Felix's BPF programs
 * on one node consult. Felix's proxy fills NAT frontend and backend maps from Services and EndpointSlices; the
 * programs on the host's uplink (tc) and on each workload's cali device do the NAT lookup before netfilter sees
 * the packet. Only the sim runs it; the linux dataplane refuses a description that has it.
 */

/** One service frontend: what a packet's destination is matched on. */
export interface BpfFrontendSpec {
  /** The service address; for a NodePort, every address of the node answers (`nodePort` kind, `ip` is ""). */
  ip: string;
  port: number;
  protocol: "TCP" | "UDP" | "SCTP";
  kind: "ClusterIP" | "NodePort" | "ExternalIP" | "LoadBalancer";
}

/** One backend of a service port. */
export interface BpfBackendSpec {
  ip: string;
  port: number;
  /** The node the backend pod runs on, and its underlay address (where a remote backend's packets are tunnelled). */
  node: string;
  nodeIP: string;
}

/** One service port as Felix's proxy programs it. */
export interface BpfServiceSpec {
  /** `NS/NAME:PORTNAME` (kube-proxy's service port name). */
  id: string;
  frontends: BpfFrontendSpec[];
  /** Ready backends, in a stable order (the lookup picks by hash, or by Maglev when Felix uses it). */
  backends: BpfBackendSpec[];
  /** externalTrafficPolicy: Local (external frontends use only this node's backends and keep no fallback). */
  externalLocal: boolean;
  /** internalTrafficPolicy: Local. */
  internalLocal: boolean;
  /** sessionAffinity: ClientIP timeout in seconds, if set. */
  affinitySeconds?: number;
}

/** Felix's eBPF dataplane on one node. */
export interface BpfDataplaneSpec {
  /** FelixConfiguration `bpfExternalServiceMode`: replies to tunnelled NodePort traffic go back via the ingress node (`Tunnel`) or straight to the client (`DSR`). */
  externalServiceMode: "Tunnel" | "DSR";
  /** The node's underlay address (the source of its tunnelled packets). */
  nodeIP: string;
  /** The VXLAN port and the special VNI (CALI_VXLAN_VNI, 0xca11c0) that carry NodePort traffic to a remote backend. */
  tunnelPort: number;
  tunnelVni: number;
  /** FelixConfiguration `bpfConnectTimeLoadBalancing`: `TCP` (default), `Enabled` or `Disabled`. */
  connectTimeLoadBalancing: "TCP" | "Enabled" | "Disabled";
  services: BpfServiceSpec[];
  /**
   * The policy Felix compiles into the programs (felix/bpf/polprog), as plain data: the `iptables-restore` text of
   * the filter table Felix renders in iptables mode (cali-tw-/cali-fw-/cali-pi-/cali-po- and host endpoint
   * chains). The sim's program runs it in a netfilter of its own; it is never loaded into the node's iptables.
   */
  policyProgram?: string;
  /** NAT outgoing as the programs decide it: a workload's packet from a natOutgoing pool to outside every pool. */
  natOutgoing?: { masqueradePools: string[]; allPools: string[] };
}
