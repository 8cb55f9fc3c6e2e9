import type { ApiObject } from "../../api/index.ts";
import { formatCidr, maskCidr, parseCidrOrIp } from "../../net/index.ts";
import { parseSelector } from "../../selector/index.ts";
import { asNumberOf, canonicalIp, hasValue, secretKeyRefOf } from "./go-values.ts";
import type { ConfdInput, LocalWorkloadStatus } from "./input.ts";
import { computeV1Peerings, type V1Peering } from "./peerings.ts";

/**
 * The datastore as confd's calico client caches it (confd/pkg/backends/calico/client.go): per-node BGP facts as the
 * bgpNodeUpdateProcessor writes them (/calico/bgp/v1/host/<node>/…), the global and per-node BGPConfiguration values
 * with confd's defaults (as_num 64512, node_mesh enabled, loglevel info), BGPPeers, BGPFilters and Secrets.
 */

export const DEFAULT_AS = "64512";

/** What bgpNodeUpdateProcessor writes for one node. Empty strings where the Node has no value. */
export interface ConfdNode {
  name: string;
  labels: Record<string, string>;
  /** ip_addr_v4: the address of spec.bgp.ipv4Address, as Go prints it ("" when unset). */
  ipv4: string;
  ipv6: string;
  /** network_v4: the network of spec.bgp.ipv4Address ("" when unset). */
  networkV4: string;
  networkV6: string;
  /** as_num, "" when the node has none. */
  asNum: string;
  rrClusterId: string;
  wireguardV4: string;
  wireguardV6: string;
}

// biome-ignore lint/suspicious/noExplicitAny: BGPConfiguration specs are plain JSON
type Spec = Record<string, any>;

export class ConfdView {
  readonly nodeName: string;
  /** Every object confd was given (the routing model reads blocks, pools and services from them). */
  readonly objects: readonly ApiObject[];
  readonly env: Record<string, string>;
  /** Calico Nodes by name, in name order. */
  readonly nodes = new Map<string, ConfdNode>();
  /** The `default` BGPConfiguration's spec, if that resource exists. */
  readonly globalConfig: Spec | undefined;
  /** `node.<name>` BGPConfiguration specs by node name. */
  readonly nodeConfigs = new Map<string, Spec>();
  /** BGPPeers in name order. */
  readonly bgpPeers: ApiObject[];
  /** BGPFilters by name. */
  readonly bgpFilters = new Map<string, ApiObject>();
  readonly localWorkloads: LocalWorkloadStatus[];
  private readonly secrets = new Map<string, ApiObject>();
  private readonly secretNamespace: string;
  private peerings: Map<string, V1Peering> | undefined;

  /** The view of `input`, or `input` itself when it is a view already (so callers can build it once). */
  static of(input: ConfdInput | ConfdView): ConfdView {
    return input instanceof ConfdView ? input : new ConfdView(input);
  }

  constructor(input: ConfdInput) {
    this.nodeName = input.node;
    this.objects = input.objects;
    this.env = input.env ?? {};
    this.localWorkloads = input.localWorkloads ?? [];
    this.secretNamespace = this.env.NAMESPACE || "kube-system";
    const k8sLabels = new Map<string, Record<string, string>>();
    const calicoNodes: ApiObject[] = [];
    const peers: ApiObject[] = [];
    let globalConfig: Spec | undefined;
    for (const o of input.objects) {
      const calico = o.apiVersion === "projectcalico.org/v3";
      const name = o.metadata.name ?? "";
      if (calico && o.kind === "Node") calicoNodes.push(o);
      else if (o.apiVersion === "v1" && o.kind === "Node") k8sLabels.set(name, o.metadata.labels ?? {});
      else if (calico && o.kind === "BGPConfiguration") {
        const spec = (o.spec ?? {}) as Spec;
        if (name === "default") globalConfig = spec;
        else if (name.startsWith("node.")) this.nodeConfigs.set(name.slice("node.".length), spec);
      } else if (calico && o.kind === "BGPPeer") peers.push(o);
      else if (calico && o.kind === "BGPFilter") this.bgpFilters.set(name, o);
      else if (
        o.apiVersion === "v1" &&
        o.kind === "Secret" &&
        (o.metadata.namespace ?? "default") === this.secretNamespace
      )
        this.secrets.set(name, o);
    }
    this.globalConfig = globalConfig;
    this.bgpPeers = peers.sort((a, b) => cmp(a.metadata.name ?? "", b.metadata.name ?? ""));
    calicoNodes.sort((a, b) => cmp(a.metadata.name ?? "", b.metadata.name ?? ""));
    for (const n of calicoNodes) {
      const name = n.metadata.name ?? "";
      // In Kubernetes-datastore mode a Calico Node is the Kubernetes Node: its labels are the Node's.
      const labels = { ...(k8sLabels.get(name) ?? {}), ...(n.metadata.labels ?? {}) };
      this.nodes.set(name, nodeFacts(name, labels, n.spec ?? {}));
    }
  }

  /** computeV1Peerings of this view, computed once. */
  v1Peerings(): Map<string, V1Peering> {
    this.peerings ??= computeV1Peerings(this);
    return this.peerings;
  }

  node(name: string): ConfdNode | undefined {
    return this.nodes.get(name);
  }

  /** /calico/bgp/v1/global/as_num: the default BGPConfiguration's asNumber, else 64512. */
  globalAS(): string {
    const v = this.globalConfig?.asNumber;
    return hasValue(v) ? String(asNumberOf(v)) : DEFAULT_AS;
  }

  /** The node's as_num, else the global one (getNodeOrGlobalValue "as_num"). */
  asOf(name: string): string {
    return this.nodes.get(name)?.asNum || this.globalAS();
  }

  /** The global listen port (0 = unset). */
  globalListenPort(): number {
    return listenPortOf(this.globalConfig);
  }

  /** nodeListenPorts: the `node.<name>` listenPort, if set. */
  nodeListenPort(name: string): number | undefined {
    const p = listenPortOf(this.nodeConfigs.get(name));
    return p === 0 ? undefined : p;
  }

  /** getNodeOrGlobalValue(node, "listen_port") as text ("" when neither is set). */
  listenPortText(name: string): string {
    const p = this.nodeListenPort(name) ?? this.globalListenPort();
    return p === 0 ? "" : String(p);
  }

  /** The default BGPConfiguration's ipv4/ipv6NormalRoutePriority: the kernel metric of ordinary routes (1024). */
  normalRoutePriority(family: 4 | 6): number {
    const v =
      family === 4 ? this.globalConfig?.ipv4NormalRoutePriority : this.globalConfig?.ipv6NormalRoutePriority;
    return typeof v === "number" ? v : 1024;
  }

  /** /calico/bgp/v1/global/node_mesh enabled (default true). */
  meshEnabled(): boolean {
    const v = this.globalConfig?.nodeToNodeMeshEnabled;
    return typeof v === "boolean" ? v : true;
  }

  /** getNodeOrGlobalValue(node, "loglevel"): debug, info or none; the global default is info. */
  logLevel(name: string): string {
    return logLevelOf(this.nodeConfigs.get(name)) ?? logLevelOf(this.globalConfig) ?? "info";
  }

  /** Nodes whose labels match a selector, in name order (nodeLabelManager.nodesMatching). */
  nodesMatching(selector: string): string[] {
    let sel: ReturnType<typeof parseSelector>;
    try {
      sel = parseSelector(selector);
    } catch {
      return [];
    }
    return [...this.nodes.values()].filter((n) => sel.matches(n.labels)).map((n) => n.name);
  }

  /** True when some node has this IP text as its BGP address (confd's nodeIPs set). */
  isNodeIp(ip: string): boolean {
    if (ip === "") return false;
    for (const n of this.nodes.values()) if (n.ipv4 === ip || n.ipv6 === ip) return true;
    return false;
  }

  /**
   * secretWatcher.GetSecret: the value of key in the named Secret of calico-node's namespace. It reads `data` only:
   * the API server has folded any stringData into it.
   */
  secret(ref: { name: string; key: string } | undefined): string | undefined {
    if (!ref) return undefined;
    const value = (this.secrets.get(ref.name)?.data as Record<string, string> | undefined)?.[ref.key];
    return typeof value === "string" ? Buffer.from(value, "base64").toString("utf8") : undefined;
  }

  /** The node mesh password (BGPConfiguration default nodeMeshPassword), "" when none can be read. */
  meshPassword(): string {
    return this.secret(secretKeyRefOf(this.globalConfig?.nodeMeshPassword)) ?? "";
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function listenPortOf(spec: Spec | undefined): number {
  const p = spec?.listenPort;
  return typeof p === "number" && Number.isInteger(p) && p > 0 && p <= 0xffff ? p : 0;
}

function logLevelOf(spec: Spec | undefined): string | undefined {
  const v = spec?.logSeverityScreen;
  if (typeof v !== "string" || v === "") return undefined;
  const l = v.toLowerCase();
  return l === "debug" || l === "info" ? l : "none";
}

function addressAndNetwork(text: unknown): [string, string] {
  if (typeof text !== "string" || text === "") return ["", ""];
  const c = parseCidrOrIp(text);
  if (!c) return ["", ""];
  const ip = canonicalIp(text.split("/")[0]!) ?? "";
  return [ip, formatCidr(maskCidr(c))];
}

function nodeFacts(name: string, labels: Record<string, string>, spec: Spec): ConfdNode {
  const bgp = (spec.bgp ?? {}) as Spec;
  const [ipv4, networkV4] = addressAndNetwork(bgp.ipv4Address);
  const [ipv6, networkV6] = addressAndNetwork(bgp.ipv6Address);
  const wg = (spec.wireguard ?? {}) as Spec;
  return {
    name,
    labels,
    ipv4,
    ipv6,
    networkV4,
    networkV6,
    asNum: hasValue(bgp.asNumber) ? String(asNumberOf(bgp.asNumber)) : "",
    rrClusterId: typeof bgp.routeReflectorClusterID === "string" ? bgp.routeReflectorClusterID : "",
    wireguardV4: typeof wg.interfaceIPv4Address === "string" ? wg.interfaceIPv4Address : "",
    wireguardV6: typeof wg.interfaceIPv6Address === "string" ? wg.interfaceIPv6Address : "",
  };
}
