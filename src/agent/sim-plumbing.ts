/**
 * How the agents program one host of the sim: its namespace on the underlay, its pods' namespaces and veths,
 * kube-proxy's and Felix's rules. Each function does one host's work, so a cluster can build only the hosts a
 * command touches (sim-cluster.ts).
 */
import type { ApiObject } from "../api/index.ts";
import {
  type ClusterTopology,
  calicoInterfaceName,
  POD_GATEWAY,
  type TopologyHost,
} from "../control/index.ts";
import {
  joinSegment,
  Kernel,
  maskOf,
  parseIpv4,
  parseIpv4Prefix,
  type Segment,
} from "../dataplane/sim/index.ts";
import { formatCidr } from "../net/index.ts";
import { buildPolicyModel } from "../policy/index.ts";
import {
  buildServicePorts,
  type FelixIptables,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  renderFelixIptables,
  renderKubeProxyJumps,
  renderNftables,
} from "../render/index.ts";

export function byKind(objects: readonly ApiObject[], kind: string): ApiObject[] {
  return objects.filter((o) => o.kind === kind);
}

function macFor(seed: string): string {
  let h = 0x811c9dc5;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const b = [0x0a, 0x58, h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** A host's namespace: its uplink on the underlay, its address, and (cluster hosts) the default route. */
export function hostKernel(t: ClusterTopology, h: TopologyHost, underlay: Segment): Kernel {
  const k = new Kernel(h.name);
  // Ubuntu's sysctl defaults (10-network-security.conf): loose reverse-path filtering.
  k.sysctl.rpFilter = k.sysctl.rpFilterDefault = 2;
  const link = k.addLink({ name: h.interface, kind: "ether", mac: macFor(h.name), mtu: 1500 });
  joinSegment(underlay, k, link);
  k.addAddress(h.interface, parseIpv4Prefix(`${h.ip}/${h.prefix}`)!, parseIpv4(h.ip)!);
  k.sysctl.ipForward = h.role !== "external";
  // The lab's external host is its router. Cluster hosts route by default through it, as the seed's nodes do
  // through their DHCP gateway; without a default route Linux's proxy ARP would not answer for 169.254.1.1.
  const router = t.hosts.find((x) => x.role === "external");
  if (router && router !== h)
    k.addRoute({
      type: "unicast",
      dst: { addr: 0, len: 0, mask: 0 },
      nexthops: [{ via: parseIpv4(router.ip)!, dev: h.interface, weight: 1 }],
      proto: "static",
      scope: "global",
      metric: 100,
    });
  return k;
}

/** A running pod's namespace joined to its node by a cali veth (or undefined: host network, no IPv4). */
export function podKernel(node: Kernel, pod: ApiObject): Kernel | undefined {
  const ns = pod.metadata.namespace!;
  const name = pod.metadata.name!;
  const ip = parseIpv4(pod.status.podIP);
  if (ip === undefined) return undefined;
  const k = new Kernel(`${ns}/${name}`);
  const iface = calicoInterfaceName(ns, name);
  const eth0 = k.addLink({ name: "eth0", kind: "veth", mac: macFor(`${ns}/${name}`), mtu: 1450 });
  const cali = node.addLink({ name: iface, kind: "veth", mac: "ee:ee:ee:ee:ee:ee", mtu: 1450 });
  eth0.peer = { kernel: node, link: cali };
  cali.peer = { kernel: k, link: eth0 };
  cali.proxyArp = true;
  // Felix's configureInterface: strict reverse-path filtering on workload interfaces (max(all, iface) wins).
  cali.rpFilter = 1;
  k.addAddress("eth0", { addr: ip, len: 32, mask: maskOf(32) }, ip);
  const gw = parseIpv4(POD_GATEWAY)!;
  k.addRoute({
    type: "unicast",
    dst: { addr: gw, len: 32, mask: maskOf(32) },
    nexthops: [{ dev: "eth0", weight: 1 }],
    proto: "boot",
    scope: "link",
    metric: 0,
  });
  k.addRoute({
    type: "unicast",
    dst: { addr: 0, len: 0, mask: 0 },
    nexthops: [{ via: gw, dev: "eth0", weight: 1 }],
    proto: "boot",
    scope: "global",
    metric: 0,
  });
  node.addRoute({
    type: "unicast",
    dst: { addr: ip, len: 32, mask: maskOf(32) },
    nexthops: [{ dev: iface, weight: 1 }],
    proto: "boot",
    scope: "link",
    metric: 0,
  });
  return k;
}

/** What every node's rules are rendered from, computed once per command (on first use). */
export class NodeRuleInputs {
  private cache?: {
    model: ReturnType<typeof buildPolicyModel>;
    masq: string[];
    all: string[];
    services: ApiObject[];
    slices: ApiObject[];
  };
  constructor(
    private readonly objects: readonly ApiObject[],
    private readonly topology: ClusterTopology,
  ) {}

  private get inputs(): NonNullable<NodeRuleInputs["cache"]> {
    if (this.cache) return this.cache;
    const pools = byKind(this.objects, "IPPool").filter(
      (p) => !p.spec?.disabled && !String(p.spec?.cidr).includes(":"),
    );
    this.cache = {
      model: buildPolicyModel(this.objects as ApiObject[]),
      masq: pools.filter((p) => p.spec?.natOutgoing).map((p) => String(p.spec.cidr)),
      all: pools.map((p) => String(p.spec.cidr)),
      services: byKind(this.objects, "Service"),
      slices: byKind(this.objects, "EndpointSlice"),
    };
    return this.cache;
  }

  /** Felix's chains and sets for one node (rendered, not loaded). */
  felix(h: TopologyHost): FelixIptables {
    const i = this.inputs;
    return renderFelixIptables({
      model: i.model,
      node: h.name,
      masqueradePools: i.masq,
      allPools: i.all,
      interfaces: [
        { name: "lo", ips: ["127.0.0.1"] },
        { name: h.interface, ips: [h.ip] },
      ],
    });
  }

  /** kube-proxy's rules (iptables or nftables mode) loaded into a node's namespace. */
  loadKubeProxy(k: Kernel, h: TopologyHost, clock: () => number): void {
    const i = this.inputs;
    const t = this.topology;
    const config = kubeProxyIptablesConfig({
      nodeName: h.name,
      nodeIP: h.ip,
      clusterCIDR: formatCidr(t.clusterCIDR),
    });
    const proxyPorts = buildServicePorts(i.services, i.slices, h.name, 4);
    if (t.kubeProxyMode === "nftables") {
      // nftables mode: table ip kube-proxy instead of the KUBE-* chains (Felix stays on iptables).
      k.nft.clock = clock;
      const serviceCIDRs = [formatCidr(t.serviceCIDR)];
      k.nft.load(renderNftables({ config, serviceCIDRs, servicePorts: proxyPorts }), "kube-proxy.nft");
    } else {
      const sync = new KubeProxyIptablesSyncer(config).sync(proxyPorts);
      k.netfilter.restore(sync.restore, { noflush: true });
      k.netfilter.restore(renderKubeProxyJumps(), { noflush: true });
    }
  }
}
