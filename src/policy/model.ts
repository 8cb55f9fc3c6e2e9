/**
 * The policy engine's view of a cluster: Calico's v1 (Felix) data model. Policies carry their v1 selectors
 * (namespace scoping, `pcns.`/`pcsa.` prefixes already applied), endpoints carry the labels Felix matches
 * (their own plus those inherited from their profiles), so evaluation is one set of rules for every kind.
 */
import type { Cidr, IpAddress } from "../net/index.ts";
import type { Labels, Selector } from "../selector/index.ts";

export type RuleAction = "Allow" | "Deny" | "Log" | "Pass";
export type Direction = "ingress" | "egress";
export type PolicyKind = "NetworkPolicy" | "GlobalNetworkPolicy" | "KubernetesNetworkPolicy";

/** A port match: a range of numbers, or a named port resolved against the endpoint that owns the address. */
export type PortSpec = { kind: "range"; min: number; max: number } | { kind: "name"; name: string };

export interface EntityMatch {
  nets?: Cidr[];
  notNets?: Cidr[];
  /** The v1 selector: the rule's selector, namespace selector and service accounts combined, as Felix sees it. */
  selector?: Selector;
  notSelector?: Selector;
  ports?: PortSpec[];
  notPorts?: PortSpec[];
  services?: { name: string; namespace: string };
}

export interface IcmpMatch {
  type?: number;
  code?: number;
}

export interface PolicyRule {
  index: number;
  action: RuleAction;
  ipVersion?: 4 | 6;
  /** IANA protocol numbers. */
  protocol?: number;
  notProtocol?: number;
  icmp?: IcmpMatch;
  notICMP?: IcmpMatch;
  source: EntityMatch;
  destination: EntityMatch;
  /** Rules with an HTTP match need an L7 proxy; Felix cannot enforce them in iptables and they never match. */
  http?: boolean;
}

export interface Policy {
  kind: PolicyKind;
  /** The name Calico v3.31 shows: `knp.default.<name>` for Kubernetes policies. */
  name: string;
  namespace?: string;
  tier: string;
  order?: number;
  selector: Selector;
  /** Rules per governed direction; absent when the policy's types leave that direction alone. */
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
  preDNAT: boolean;
  doNotTrack: boolean;
  applyOnForward: boolean;
}

export interface Tier {
  name: string;
  order?: number;
  defaultAction: "Deny" | "Pass";
  /** False for a tier that policies name but that does not exist; Felix sorts those last. */
  exists: boolean;
}

export interface Profile {
  name: string;
  ingress: PolicyRule[];
  egress: PolicyRule[];
  labelsToApply: Labels;
}

export interface NamedPort {
  name: string;
  protocol: number;
  port: number;
}

export interface Endpoint {
  /** `wep:<ns>/<name>` or `hep:<name>`. */
  id: string;
  kind: "workload" | "host";
  name: string;
  namespace?: string;
  /** The pod a workload endpoint belongs to. */
  pod?: string;
  node: string;
  /** The HEP's interface (a name or `*`), or the workload's host-side veth. */
  interfaceName?: string;
  /** What selectors see: own labels over the labels the endpoint's profiles apply. */
  labels: Labels;
  ips: IpAddress[];
  ports: NamedPort[];
  profiles: string[];
}

export interface NetworkSet {
  id: string;
  name: string;
  namespace?: string;
  labels: Labels;
  nets: Cidr[];
}

export interface ServicePort {
  name: string;
  protocol: number;
  port: number;
  nodePort?: number;
  /** Ready backends after DNAT. */
  backends: { ip: IpAddress; port: number }[];
}

export interface Service {
  namespace: string;
  name: string;
  clusterIPs: IpAddress[];
  externalIPs: IpAddress[];
  /** externalTrafficPolicy: Local — node ports keep the client's address and use only local backends. */
  externalLocal: boolean;
  ports: ServicePort[];
}

export interface FailsafePort {
  protocol: number;
  port: number;
  net?: Cidr;
}

export interface HostSettings {
  failsafeInbound: FailsafePort[];
  failsafeOutbound: FailsafePort[];
  defaultEndpointToHostAction: "Drop" | "Accept" | "Return";
  /** Felix's eBPF dataplane (FelixConfiguration `bpfEnabled`): NodePort traffic keeps the client's address. */
  bpfEnabled?: boolean;
}

export interface ClusterNode {
  name: string;
  ips: IpAddress[];
}

export interface PolicyModel {
  endpoints: Endpoint[];
  policies: Policy[];
  tiers: Tier[];
  profiles: Map<string, Profile>;
  networkSets: NetworkSet[];
  services: Service[];
  nodes: ClusterNode[];
  host: HostSettings;
}
