/**
 * One node's eBPF dataplane (bpf-dataplane-types.ts) from the stored objects: Felix's proxy in BPF mode reads the
 * same Services and EndpointSlices kube-proxy does (render's buildServicePorts) and programs NAT frontends and
 * backends instead of KUBE-* chains. Also the FelixConfiguration settings the eBPF programs read, and a note for
 * each bpf* setting the sim does not model.
 * In eBPF mode the node's iptables hold only what Felix keeps there (render's renderFelixBpfIptables) and the
 * policy moves into the programs (`policyProgram`, see bpfModeFelix).
 */
import type { ApiObject } from "../api/index.ts";
import type { PolicyModel } from "../policy/index.ts";
import {
  buildServicePorts,
  type FelixIptables,
  type FelixTunnels,
  felixPolicyProgram,
  type ProxyServicePort,
  renderFelixBpfIptables,
} from "../render/index.ts";
import type { BpfBackendSpec, BpfDataplaneSpec, BpfFrontendSpec } from "./bpf-dataplane-types.ts";

/** Calico's VNI for NodePort traffic tunnelled to a remote backend's node (felix/bpf/ut, CALI_VXLAN_VNI). */
export const BPF_TUNNEL_VNI = 0xca11c0;
/** FelixConfiguration vxlanPort's default, which the NodePort tunnel shares. */
const DEFAULT_VXLAN_PORT = 4789;

/** The bpf* settings the sim models (the rest get a "not supported yet" note when set to a non-default value). */
const MODELLED_BPF_FIELDS = new Set([
  "bpfEnabled",
  "bpfExternalServiceMode",
  "bpfKubeProxyIptablesCleanupEnabled",
  "bpfConnectTimeLoadBalancing",
  // Log levels and map sizes change nothing a lab shows; bpfLogLevel "" is what the installer writes.
  "bpfLogLevel",
]);

/** The FelixConfiguration `default` spec (empty when there is none). */
export function felixDefaultSpec(objects: readonly ApiObject[]): Record<string, unknown> {
  const fc = objects.find((o) => o.kind === "FelixConfiguration" && o.metadata.name === "default");
  return (fc?.spec as Record<string, unknown> | undefined) ?? {};
}

/** Felix runs its eBPF dataplane (FelixConfiguration default `bpfEnabled: true`). */
export function bpfEnabled(felix: Record<string, unknown>): boolean {
  return felix.bpfEnabled === true;
}

/** In BPF mode Felix deletes kube-proxy's KUBE-* chains unless `bpfKubeProxyIptablesCleanupEnabled` is false. */
export function bpfCleansKubeProxy(felix: Record<string, unknown>): boolean {
  return bpfEnabled(felix) && felix.bpfKubeProxyIptablesCleanupEnabled !== false;
}

export interface NodeBpfInput {
  node: string;
  nodeIP: string;
  services: ApiObject[];
  slices: ApiObject[];
  /** Node name → underlay address, for remote backends. */
  nodeIPs: ReadonlyMap<string, string>;
  felix: Record<string, unknown>;
}

/** The node's BpfDataplaneSpec: one service per service port, its frontends and ready backends. */
export function nodeBpf(input: NodeBpfInput): BpfDataplaneSpec {
  const nodeOfEndpoint = endpointNodes(input.slices);
  const services = buildServicePorts(input.services, input.slices, input.node, 4).map((sp) => ({
    id: `${sp.namespace}/${sp.name}:${sp.portName}`,
    frontends: frontendsOf(sp),
    backends: backendsOf(sp, nodeOfEndpoint, input.nodeIPs),
    externalLocal: sp.externalPolicyLocal,
    internalLocal: sp.internalPolicyLocal,
    ...(sp.affinityTimeoutSeconds !== undefined ? { affinitySeconds: sp.affinityTimeoutSeconds } : {}),
  }));
  const f = input.felix;
  return {
    externalServiceMode: String(f.bpfExternalServiceMode).toLowerCase() === "dsr" ? "DSR" : "Tunnel",
    nodeIP: input.nodeIP,
    tunnelPort: typeof f.vxlanPort === "number" ? f.vxlanPort : DEFAULT_VXLAN_PORT,
    tunnelVni: BPF_TUNNEL_VNI,
    connectTimeLoadBalancing:
      f.bpfConnectTimeLoadBalancing === "Enabled" || f.bpfConnectTimeLoadBalancing === "Disabled"
        ? f.bpfConnectTimeLoadBalancing
        : "TCP",
    services,
  };
}

/** Services that ask Felix for Maglev backend selection (felix/bpf/proxy/proxy.go UseMaglev). */
const MAGLEV_ANNOTATION = "lb.projectcalico.org/external-traffic-strategy";

/**
 * Felix's notes for what the sim's eBPF dataplane does not model: bpf* settings set to something other than their
 * default, and services asking for Maglev (the sim picks their backends by flow hash, as for any service).
 */
export function unmodelledBpfSettings(
  felix: Record<string, unknown>,
  services: readonly ApiObject[] = [],
): string[] {
  const notes: string[] = [];
  for (const svc of services)
    if (String(svc.metadata.annotations?.[MAGLEV_ANNOTATION] ?? "").toLowerCase() === "maglev")
      notes.push(
        `not supported yet: Maglev backend selection for service ${svc.metadata.namespace}/${svc.metadata.name} (eBPF dataplane)`,
      );
  for (const [field, value] of Object.entries(felix)) {
    if (!field.startsWith("bpf") || MODELLED_BPF_FIELDS.has(field) || value === undefined) continue;
    notes.push(`not supported yet: FelixConfiguration ${field}: ${JSON.stringify(value)} (eBPF dataplane)`);
  }
  return notes;
}

function frontendsOf(sp: ProxyServicePort): BpfFrontendSpec[] {
  const out: BpfFrontendSpec[] = [
    { ip: sp.clusterIP, port: sp.port, protocol: sp.protocol, kind: "ClusterIP" },
  ];
  if (sp.nodePort) out.push({ ip: "", port: sp.nodePort, protocol: sp.protocol, kind: "NodePort" });
  for (const ip of sp.externalIPs) out.push({ ip, port: sp.port, protocol: sp.protocol, kind: "ExternalIP" });
  for (const ip of sp.loadBalancerIPs)
    out.push({ ip, port: sp.port, protocol: sp.protocol, kind: "LoadBalancer" });
  return out;
}

function backendsOf(
  sp: ProxyServicePort,
  nodeOfEndpoint: ReadonlyMap<string, string>,
  nodeIPs: ReadonlyMap<string, string>,
): BpfBackendSpec[] {
  const out: BpfBackendSpec[] = [];
  for (const e of sp.endpoints) {
    if (!e.ready) continue;
    const node = nodeOfEndpoint.get(e.ip) ?? "";
    out.push({ ip: e.ip, port: e.port, node, nodeIP: nodeIPs.get(node) ?? "" });
  }
  return out;
}

/** Endpoint address → the node its slice names. */
function endpointNodes(slices: readonly ApiObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const slice of slices)
    for (const e of (slice.endpoints as { addresses?: string[]; nodeName?: string }[] | undefined) ?? [])
      if (e.nodeName) for (const ip of e.addresses ?? []) out.set(ip, e.nodeName);
  return out;
}

export interface BpfModeFelixInput {
  node: string;
  model: PolicyModel;
  /** Felix's iptables-mode rendering for the node: its filter table becomes the programs' policy. */
  felix: FelixIptables;
  masqueradePools: string[];
  allPools: string[];
  tunnels?: FelixTunnels;
}

/**
 * Felix in eBPF mode: the iptables payload it leaves (no workload or policy chains), and the policy and NAT
 * outgoing decisions the programs make instead, added to the node's BpfDataplaneSpec.
 */
export function bpfModeFelix(
  spec: BpfDataplaneSpec,
  input: BpfModeFelixInput,
): { spec: BpfDataplaneSpec; iptables: string; unsupported: string[] } {
  const workloadInterfaces = input.model.endpoints
    .filter((e) => e.kind === "workload" && e.node === input.node && e.interfaceName)
    .map((e) => e.interfaceName!);
  const iptables = renderFelixBpfIptables({
    workloadInterfaces,
    natOutgoing: input.masqueradePools.length > 0,
    endpointToHostAction: input.model.host.defaultEndpointToHostAction,
    ...(input.tunnels ? { tunnels: input.tunnels } : {}),
  });
  // The program runs the filter table's endpoint chains; pre-DNAT (mangle) and untracked (raw) policy is not in it.
  const unsupported = input.model.policies
    .filter((p) => p.preDNAT || p.doNotTrack)
    .map(
      (p) =>
        `not supported yet: ${p.preDNAT ? "preDNAT" : "doNotTrack"} policy ${p.name} in eBPF mode (node ${input.node})`,
    );
  return {
    unsupported,
    spec: {
      ...spec,
      policyProgram: felixPolicyProgram(input.felix.restore),
      natOutgoing: { masqueradePools: input.masqueradePools, allPools: input.allPools },
    },
    iptables,
  };
}
