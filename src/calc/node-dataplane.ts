/**
 * Each host's dataplane description (node-dataplane-types.ts), computed from the stored objects: what the
 * kubelet/CNI plumb (namespaces, veths, addresses, routes, sysctls), what kube-proxy and Felix load (iptables,
 * ipsets, nft), what confd writes for BIRD, and the processes a host runs. A kernel applies it; nothing here
 * touches one.
 */
import type { ApiObject } from "../api/index.ts";
import {
  type ClusterTopology,
  calicoInterfaceName,
  HOST_VETH_MAC,
  POD_GATEWAY,
  type TopologyHost,
} from "../control/index.ts";
import { formatCidr, parseIp } from "../net/index.ts";
import { buildPolicyModel } from "../policy/index.ts";
import {
  buildServicePorts,
  type FelixIptables,
  type FelixOrigins,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  renderFelixIptables,
  renderKubeProxyJumps,
  renderNftables,
} from "../render/index.ts";
import { clusterDnsZone, type DnsRecord } from "./cluster-dns.ts";
import { nodeBird } from "./node-bird.ts";
import {
  bpfCleansKubeProxy,
  bpfEnabled,
  bpfModeFelix,
  felixDefaultSpec,
  nodeBpf,
  unmodelledBpfSettings,
} from "./node-bpf.ts";
import type {
  ClusterDataplane,
  DnsZoneSpec,
  KernelFeatures,
  LinkSpec,
  NamespaceSpec,
  NodeDataplane,
  ProcessSpec,
  ResolvConfSpec,
  RouteSpec,
} from "./node-dataplane-types.ts";
import { addTunnels, TunnelCluster } from "./node-tunnels.ts";

export interface DataplaneInput {
  objects: readonly ApiObject[];
  topology: ClusterTopology;
  features: KernelFeatures;
  /** Parts an earlier calculator computed, reused where their inputs are the same (see DescriptionReuse). */
  reuse?: DescriptionReuse;
}

/**
 * Reuse of per-host parts that a policy change does not touch (kube-proxy's rules, confd's BIRD files) across
 * processes: each part is keyed on a digest of exactly what it is computed from, so a part is reused only for
 * the same inputs (and the caller keeps parts only for the same code). Output is the same with or without it.
 */
export interface DescriptionReuse {
  /** A collision-resistant digest of a text (the CLI passes node:crypto's SHA-256). */
  digest(text: string): string;
  /** Parts by key, as an earlier calculator's `parts()` gave them. */
  earlier: Readonly<Record<string, unknown>>;
}

/** The kinds confd's view of the datastore reads (calc/bgp: ConfdView, the routing and advertisement models). */
const BIRD_INPUT_KINDS = new Set([
  "BGPConfiguration",
  "BGPFilter",
  "BGPPeer",
  "BlockAffinity",
  "EndpointSlice",
  "IPPool",
  "Node",
  "Secret",
  "Service",
]);

/** kube-proxy's part of a host namespace: its iptables payloads, or its nft script. */
interface KubeProxyPart {
  iptables?: string[];
  nft?: string;
}

/** The cluster's underlay segment, which every host's uplink joins. */
export const UNDERLAY = "underlay";

/** Felix's default IPv4NormalRoutePriority (felix/config/config_params.go). */
const WORKLOAD_ROUTE_METRIC = 1024;

/** A stable locally administered MAC for a namespace's device (FNV-1a of the seed). */
export function macFor(seed: string): string {
  let h = 0x811c9dc5;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const b = [0x0a, 0x58, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function byKind(objects: readonly ApiObject[], kind: string): ApiObject[] {
  return objects.filter((o) => o.kind === kind);
}

function isIpv4(ip: unknown): ip is string {
  return typeof ip === "string" && parseIp(ip)?.family === 4;
}

/** What every node's rules are rendered from: computed once per calculator, on first use. */
interface ClusterInputs {
  model: ReturnType<typeof buildPolicyModel>;
  masq: string[];
  all: string[];
  services: ApiObject[];
  slices: ApiObject[];
}

/**
 * Computes hosts' descriptions, sharing the per-cluster work (policy model, service ports' inputs, DNS zone)
 * across hosts. A host is computed on first ask, so a caller that needs few hosts pays for few.
 */
export class DataplaneCalculator {
  private inputs?: ClusterInputs;
  private readonly felixByHost = new Map<string, FelixIptables>();
  private readonly nodes = new Map<string, NodeDataplane>();
  private zoneMap?: Map<string, DnsRecord[]>;
  private readonly hostByName = new Map<string, TopologyHost>();
  /** Running pods (an IP and a known node) by node, in the store's order. */
  private readonly podsByNode = new Map<string, ApiObject[]>();
  /** The reusable parts this calculator used or computed, by key (what a later calculator may reuse). */
  private readonly used: Record<string, unknown> = {};
  private birdInputs?: string;
  private serviceInputs?: string;
  private tunnelCluster?: TunnelCluster;

  constructor(private readonly input: DataplaneInput) {
    for (const h of input.topology.hosts) this.hostByName.set(h.name, h);
    for (const pod of byKind(input.objects, "Pod")) {
      const node = pod.spec?.nodeName;
      if (!pod.status?.podIP || !node || !this.hostByName.has(node)) continue;
      const list = this.podsByNode.get(node);
      if (list) list.push(pod);
      else this.podsByNode.set(node, [pod]);
    }
  }

  private cluster_inputs(): ClusterInputs {
    if (this.inputs) return this.inputs;
    const objects = this.input.objects;
    const pools = byKind(objects, "IPPool").filter(
      (p) => !p.spec?.disabled && !String(p.spec?.cidr).includes(":"),
    );
    this.inputs = {
      model: buildPolicyModel(objects as ApiObject[]),
      masq: pools.filter((p) => p.spec?.natOutgoing).map((p) => String(p.spec.cidr)),
      all: pools.map((p) => String(p.spec.cidr)),
      services: byKind(objects, "Service"),
      slices: byKind(objects, "EndpointSlice"),
    };
    return this.inputs;
  }

  /**
   * A part by the digest of its inputs: the earlier calculator's when it had the same key, else computed. Only
   * with `reuse`; without it the part is computed as it always was.
   */
  private reusable<T>(kind: string, inputs: () => string, compute: () => T): T {
    const reuse = this.input.reuse;
    if (!reuse) return compute();
    const key = `${kind}:${reuse.digest(inputs())}`;
    const part = (key in reuse.earlier ? reuse.earlier[key] : compute()) as T;
    this.used[key] = part;
    return part;
  }

  /** The reusable parts of the descriptions computed so far, by key (for a later DataplaneInput.reuse). */
  parts(): Record<string, unknown> {
    return { ...this.used };
  }

  /** Felix's chains and sets for a cluster node (rendered once), or undefined for an external host. */
  felix(host: string): FelixIptables | undefined {
    const h = this.hostByName.get(host);
    if (!h || h.role === "external") return undefined;
    let felix = this.felixByHost.get(host);
    if (!felix) {
      const i = this.cluster_inputs();
      felix = renderFelixIptables({
        model: i.model,
        node: h.name,
        masqueradePools: i.masq,
        allPools: i.all,
        interfaces: [
          { name: "lo", ips: ["127.0.0.1"] },
          { name: h.interface, ips: [h.ip] },
        ],
        tunnels: this.tunnels().felixTunnels(h.name),
      });
      this.felixByHost.set(host, felix);
    }
    return felix;
  }

  /** The cluster's tunnel view (node-tunnels.ts), computed once. */
  private tunnels(): TunnelCluster {
    this.tunnelCluster ??= new TunnelCluster(this.input.objects, this.input.topology);
    return this.tunnelCluster;
  }

  /** Where each of a node's Felix rules came from (for `tortie trace`); not part of the plain description. */
  felixOrigins(host: string): FelixOrigins | undefined {
    return this.felix(host)?.origins;
  }

  /** The running pods on a host (an IP, scheduled there), in the store's order. */
  pods(host: string): readonly ApiObject[] {
    return this.podsByNode.get(host) ?? [];
  }

  /** One host's description (computed on first ask). Throws for a host the topology does not have. */
  node(host: string): NodeDataplane {
    const known = this.nodes.get(host);
    if (known) return known;
    const h = this.hostByName.get(host);
    if (!h) throw new Error(`no host ${host} in the topology`);
    const node = this.compute(h);
    this.nodes.set(host, node);
    return node;
  }

  /** Every host's description, the underlay they share and the DNS zone. */
  cluster(): ClusterDataplane {
    return {
      cluster: this.input.topology.name,
      underlay: { name: UNDERLAY },
      hosts: this.input.topology.hosts.map((h) => this.node(h.name)),
      dns: this.dnsZone(),
    };
  }

  /** The cluster DNS zone as a Map (what the sim's DNS server answers from). */
  zone(): Map<string, DnsRecord[]> {
    this.zoneMap ??= clusterDnsZone({
      domain: this.input.topology.clusterDomain,
      services: byKind(this.input.objects, "Service"),
      endpointSlices: byKind(this.input.objects, "EndpointSlice"),
      pods: byKind(this.input.objects, "Pod"),
    });
    return this.zoneMap;
  }

  /**
   * The DNS zone as plain data: the FQDN domain, the SOA serial (the cluster's creation time in seconds, when
   * CoreDNS loaded the zone) and the records by name.
   */
  dnsZone(): DnsZoneSpec {
    const topo = this.input.objects.find((o) => o.kind === "Topology");
    const bootTime = Date.parse(topo?.metadata.creationTimestamp ?? "2026-01-01T00:00:00Z");
    return {
      domain: `${this.input.topology.clusterDomain.replace(/\.$/, "")}.`,
      serial: Math.floor(bootTime / 1000),
      records: Object.fromEntries(this.zone()),
    };
  }

  private compute(h: TopologyHost): NodeDataplane {
    const t = this.input.topology;
    const hostNs = hostNamespace(t, h);
    const namespaces: NamespaceSpec[] = [hostNs];
    const processes: ProcessSpec[] = [];
    for (const pod of this.pods(h.name)) {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      let where: string | undefined;
      if (pod.spec.hostNetwork) where = h.name;
      else if (isIpv4(pod.status.podIP)) {
        namespaces.push(plumbPod(t, hostNs, pod));
        where = key;
      }
      if (where === undefined) continue;
      // One per container: the kernel starts the app its image stands for (none if the image has none).
      for (const c of pod.spec.containers ?? [])
        processes.push({
          id: `pod:${key}:${c.name}`,
          namespace: where,
          image: String(c.image ?? ""),
          logTo: key,
        });
    }
    processes.push({ id: "host:services", namespace: h.name, image: `tortie/host-services:${h.role}` });
    const unsupported: string[] = [];
    const warnings: string[] = [];
    let bpf: NodeDataplane["bpf"];
    if (h.role !== "external") {
      // eBPF mode (node-bpf.ts): Felix's programs do the service NAT; by default Felix deletes kube-proxy's chains.
      const felixSpec = felixDefaultSpec(this.input.objects);
      if (bpfEnabled(felixSpec)) {
        const i = this.cluster_inputs();
        const nodeIPs = new Map(t.hosts.map((x) => [x.name, x.ip]));
        bpf = nodeBpf({
          node: h.name,
          nodeIP: h.ip,
          services: i.services,
          slices: i.slices,
          nodeIPs,
          felix: felixSpec,
        });
        unsupported.push(...unmodelledBpfSettings(felixSpec, i.services));
      }
      if (!bpfCleansKubeProxy(felixSpec)) this.loadKubeProxy(hostNs, h);
      const felix = this.felix(h.name)!;
      hostNs.ipsets = felix.ipsets;
      if (bpf) {
        // eBPF mode: policy moves into the programs; iptables keep only what Felix leaves there (node-bpf.ts).
        const i = this.cluster_inputs();
        const tunnels = this.tunnels().felixTunnels(h.name);
        const mode = bpfModeFelix(bpf, {
          node: h.name,
          model: i.model,
          felix,
          masqueradePools: i.masq,
          allPools: i.all,
          tunnels,
        });
        bpf = mode.spec;
        hostNs.iptables.push(mode.iptables);
        unsupported.push(...mode.unsupported);
      }
      // raw, mangle, filter and nat in one payload, as Felix's table syncers leave them.
      else hostNs.iptables.push(felix.restore);
      unsupported.push(...felix.unsupported);
      warnings.push(...felix.warnings);
      addTunnels(hostNs, this.tunnels().hostTunnels(h.name));
    }
    const bird = this.reusable(
      "bird",
      () => {
        this.birdInputs ??= JSON.stringify(this.input.objects.filter((o) => BIRD_INPUT_KINDS.has(o.kind)));
        return JSON.stringify([h, this.birdInputs]);
      },
      () => nodeBird(h, this.input.objects),
    );
    return {
      host: h.name,
      role: h.role,
      namespaces,
      ...bird,
      processes,
      unsupported,
      warnings,
      ...(bpf ? { bpf } : {}),
    };
  }

  /** kube-proxy's rules for a node: iptables payloads (sync, then the jumps), or an nft script. */
  private loadKubeProxy(ns: NamespaceSpec, h: TopologyHost): void {
    const t = this.input.topology;
    const part = this.reusable(
      "kube-proxy",
      () => {
        const i = this.cluster_inputs();
        this.serviceInputs ??= JSON.stringify([i.services, i.slices]);
        return JSON.stringify([
          h.name,
          h.ip,
          formatCidr(t.clusterCIDR),
          formatCidr(t.serviceCIDR),
          t.kubeProxyMode,
          this.input.features.nfacct,
          this.serviceInputs,
        ]);
      },
      () => this.renderKubeProxy(h),
    );
    if (part.nft !== undefined) ns.nft = part.nft;
    if (part.iptables) ns.iptables.push(...part.iptables);
  }

  private renderKubeProxy(h: TopologyHost): KubeProxyPart {
    const i = this.cluster_inputs();
    const t = this.input.topology;
    // kube-proxy names nfacct counters only when the kernel has nfacct (it probes before it renders).
    const config = kubeProxyIptablesConfig({
      nodeName: h.name,
      nodeIP: h.ip,
      clusterCIDR: formatCidr(t.clusterCIDR),
      nfacct: this.input.features.nfacct,
    });
    const proxyPorts = buildServicePorts(i.services, i.slices, h.name, 4);
    if (t.kubeProxyMode === "nftables") {
      // nftables mode: table ip kube-proxy instead of the KUBE-* chains (Felix stays on iptables).
      return {
        nft: renderNftables({
          config,
          serviceCIDRs: [formatCidr(t.serviceCIDR)],
          servicePorts: proxyPorts,
        }),
      };
    }
    const sync = new KubeProxyIptablesSyncer(config).sync(proxyPorts);
    return { iptables: [sync.restore, renderKubeProxyJumps()] };
  }
}

/** A host's namespace: its uplink on the underlay, its address, sysctls and (cluster hosts) the default route. */
function hostNamespace(t: ClusterTopology, h: TopologyHost): NamespaceSpec {
  const routes: RouteSpec[] = [];
  // The lab's external host is its router. Cluster hosts route by default through it, as the seed's nodes do
  // through their DHCP gateway; without a default route Linux's proxy ARP would not answer for 169.254.1.1.
  const router = t.hosts.find((x) => x.role === "external");
  if (router && router !== h)
    routes.push({
      dst: "0.0.0.0/0",
      type: "unicast",
      via: router.ip,
      dev: h.interface,
      proto: "static",
      scope: "global",
      metric: 100,
    });
  return {
    name: h.name,
    kind: "host",
    links: [{ name: h.interface, kind: "uplink", mac: macFor(h.name), mtu: 1500, segment: UNDERLAY }],
    addresses: [{ dev: h.interface, cidr: `${h.ip}/${h.prefix}` }],
    routes,
    sysctls: {
      "net.ipv4.ip_forward": h.role !== "external" ? "1" : "0",
      // Ubuntu's sysctl defaults (10-network-security.conf): loose reverse-path filtering.
      "net.ipv4.conf.all.rp_filter": "2",
      "net.ipv4.conf.default.rp_filter": "2",
    },
    iptables: [],
    ipsets: "",
    nft: "",
  };
}

/**
 * A running pod's namespace joined to its node by a cali veth, as Calico's CNI plugin plumbs it; adds the host
 * end, its sysctls and the /32 route to the pod to the host's namespace.
 */
function plumbPod(t: ClusterTopology, hostNs: NamespaceSpec, pod: ApiObject): NamespaceSpec {
  const ns = String(pod.metadata.namespace);
  const key = `${ns}/${pod.metadata.name}`;
  const ip = String(pod.status.podIP);
  const iface = calicoInterfaceName(ns, pod.metadata.name!);
  const cali: LinkSpec = {
    name: iface,
    kind: "veth",
    mac: HOST_VETH_MAC,
    mtu: 1450,
    peer: { namespace: key, name: "eth0" },
  };
  hostNs.links.push(cali);
  // Felix's configureInterface: proxy ARP for 169.254.1.1 and strict reverse-path filtering on workload
  // interfaces (max(all, iface) wins).
  hostNs.sysctls[`net.ipv4.conf.${iface}.rp_filter`] = "1";
  hostNs.sysctls[`net.ipv4.conf.${iface}.proxy_arp`] = "1";
  hostNs.routes.push({
    dst: `${ip}/32`,
    type: "unicast",
    dev: iface,
    proto: "boot",
    scope: "link",
    // Felix's endpoint manager programs workload routes at IPv4NormalRoutePriority (1024), which confd's
    // calico_aggr() relies on: `krt_metric < 1024` would export a /32 out of its block.
    metric: WORKLOAD_ROUTE_METRIC,
  });
  const resolvConf: ResolvConfSpec = {
    nameserver: t.dnsServiceIP,
    search: [`${ns}.svc.${t.clusterDomain}`, `svc.${t.clusterDomain}`, t.clusterDomain],
    ndots: 5,
  };
  return {
    name: key,
    kind: "pod",
    links: [
      {
        name: "eth0",
        kind: "veth",
        mac: macFor(key),
        mtu: 1450,
        peer: { namespace: hostNs.name, name: iface },
      },
    ],
    addresses: [{ dev: "eth0", cidr: `${ip}/32` }],
    routes: [
      { dst: `${POD_GATEWAY}/32`, type: "unicast", dev: "eth0", proto: "boot", scope: "link", metric: 0 },
      {
        dst: "0.0.0.0/0",
        type: "unicast",
        via: POD_GATEWAY,
        dev: "eth0",
        proto: "boot",
        scope: "global",
        metric: 0,
      },
    ],
    sysctls: {},
    iptables: [],
    ipsets: "",
    nft: "",
    resolvConf,
  };
}

/** Every host's description (a calculator used once). */
export function clusterDataplane(input: DataplaneInput): ClusterDataplane {
  return new DataplaneCalculator(input).cluster();
}
