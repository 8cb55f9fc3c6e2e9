import type { ApiObject } from "../api/index.ts";
import { kinds, type TopologyHost } from "./topology.ts";
import type { Writer } from "./writes.ts";

/** The default pool and AS number an install writes, from a topology (preinstalled lab) or an Installation. */
export interface CalicoSettings {
  pool: { name: string; cidr: string; blockSize: number; natOutgoing: boolean; encapsulation: string };
  asNumber: number;
}

export function calicoSettings(pool: CalicoSettings["pool"], asNumber: number): CalicoSettings {
  return { pool, asNumber };
}

/** The operator's defaults for an Installation's first pool (operator v1.23: default-ipv4-ippool, /26, IPIP). */
export function settingsFromInstallation(
  installation: ApiObject,
  asNumber: number,
): CalicoSettings | undefined {
  const first = installation.spec?.calicoNetwork?.ipPools?.[0];
  if (!first?.cidr) return undefined;
  return {
    pool: {
      name: first.name ?? "default-ipv4-ippool",
      cidr: String(first.cidr),
      blockSize: Number(first.blockSize ?? 26),
      natOutgoing: (first.natOutgoing ?? "Enabled") === "Enabled",
      encapsulation: String(first.encapsulation ?? "IPIP"),
    },
    asNumber,
  };
}

/** The Installation the preinstalled lab carries: what its operator was given. */
export function installationFor(pool: CalicoSettings["pool"]): ApiObject {
  return {
    apiVersion: "operator.tigera.io/v1",
    kind: "Installation",
    metadata: { name: "default" },
    spec: {
      variant: "Calico",
      calicoNetwork: {
        bgp: "Enabled",
        linuxDataplane: "Iptables",
        ipPools: [
          {
            name: pool.name,
            cidr: pool.cidr,
            blockSize: pool.blockSize,
            encapsulation: pool.encapsulation,
            natOutgoing: pool.natOutgoing ? "Enabled" : "Disabled",
            nodeSelector: "all()",
          },
        ],
      },
    },
  };
}

/** IPIP/VXLAN/CrossSubnet encapsulation as the pool's ipipMode and vxlanMode. */
function tunnelMode(encapsulation: string, family: "IPIP" | "VXLAN"): string {
  if (!encapsulation.startsWith(family)) return "Never";
  return encapsulation === family ? "Always" : "CrossSubnet";
}

/**
 * The cluster-wide Calico resources an install leaves: the default IPPool, and the default Felix, BGP and
 * kube-controllers configurations. Each is written only when missing: a user's later edits are theirs.
 */
export async function installCalico(w: Writer, s: CalicoSettings): Promise<void> {
  const { pool } = s;
  if (!(await w.client.get(kinds.IPPool, pool.name)))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: pool.name },
      spec: {
        cidr: pool.cidr,
        blockSize: pool.blockSize,
        ipipMode: tunnelMode(pool.encapsulation, "IPIP"),
        vxlanMode: tunnelMode(pool.encapsulation, "VXLAN"),
        natOutgoing: pool.natOutgoing,
        nodeSelector: "all()",
      },
    });
  if (!(await w.client.get(kinds.FelixConfiguration, "default")))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: { bpfLogLevel: "", floatingIPs: "Disabled", logSeverityScreen: "Info", reportingInterval: "0s" },
    });
  // calico-kube-controllers writes its defaults at start-up; host endpoints are not auto-created by default.
  if (!(await w.client.get(kinds.KubeControllersConfiguration, "default")))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "KubeControllersConfiguration",
      metadata: { name: "default" },
      spec: {
        controllers: {
          namespace: { reconcilerPeriod: "5m" },
          node: { hostEndpoint: { autoCreate: "Disabled" }, reconcilerPeriod: "5m", syncLabels: "Enabled" },
          policy: { reconcilerPeriod: "5m" },
          serviceAccount: { reconcilerPeriod: "5m" },
          workloadEndpoint: { reconcilerPeriod: "5m" },
        },
        etcdV3CompactionPeriod: "10m",
        healthChecks: "Enabled",
        logSeverityScreen: "Info",
      },
    });
  if (!(await w.client.get(kinds.BGPConfiguration, "default")))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec: { asNumber: s.asNumber, logSeverityScreen: "Info", nodeToNodeMeshEnabled: true },
    });
}

/** The Calico Node calico-node registers for its host at start-up. */
export function calicoNode(host: TopologyHost): ApiObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "Node",
    metadata: { name: host.name, labels: { "kubernetes.io/hostname": host.name } },
    spec: {
      addresses: [
        { address: host.address, type: "CalicoNodeIP" },
        { address: host.ip, type: "InternalIP" },
      ],
      bgp: { ipv4Address: host.address },
      orchRefs: [{ nodeName: host.name, orchestrator: "k8s" }],
    },
  };
}

/** TigeraStatus `calico`: Available once every calico-system pod runs, Progressing (naming what waits) before. */
export function tigeraStatus(available: boolean, since: string, waiting = ""): ApiObject {
  const status = (type: string) =>
    (type === "Available" && available) || (type === "Progressing" && !available) ? "True" : "False";
  return {
    apiVersion: "operator.tigera.io/v1",
    kind: "TigeraStatus",
    metadata: { name: "calico" },
    spec: {},
    status: {
      conditions: ["Available", "Progressing", "Degraded"].map((type) => ({
        type,
        status: status(type),
        lastTransitionTime: since,
        reason: available ? "AllObjectsAvailable" : "ResourceNotReady",
        message: available ? "All objects are available" : waiting,
        observedGeneration: 1,
      })),
    },
  };
}

/**
 * TigeraStatus `calico` with its Degraded condition set (the operator's setDegraded): Available and Progressing
 * stay as they were, or False when the status is new.
 */
export function degradedTigeraStatus(
  live: ApiObject | undefined,
  since: string,
  reason: string,
  message: string,
): ApiObject {
  type Condition = {
    type: string;
    status: string;
    lastTransitionTime: string;
    reason: string;
    message: string;
  };
  const conditions: Condition[] = live?.status?.conditions ?? [];
  const was = conditions.find((c) => c.type === "Degraded");
  const degraded = {
    type: "Degraded",
    status: "True",
    lastTransitionTime: was?.status === "True" ? was.lastTransitionTime : since,
    reason,
    message,
    observedGeneration: 1,
  };
  const other = (type: string) =>
    conditions.find((c) => c.type === type) ?? {
      type,
      status: "False",
      lastTransitionTime: since,
      reason: "",
      message: "",
      observedGeneration: 1,
    };
  return {
    apiVersion: "operator.tigera.io/v1",
    kind: "TigeraStatus",
    metadata: { name: "calico" },
    spec: {},
    status: { conditions: [other("Available"), other("Progressing"), degraded] },
  };
}
