import { type ApiObject, prepareObject } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { formatCidr, formatIp } from "../net/index.ts";
import { BUILT_IN_NAMESPACES, type ResourceClient } from "../store/index.ts";
import {
  type ClusterTopology,
  kinds,
  kubernetesHosts,
  readTopology,
  type TopologyHost,
  toClusterTopology,
} from "./topology.ts";
import { timestamp, Writer } from "./writes.ts";

/** The cluster DNS server image: tortie's own DNS server plays CoreDNS (apps choose behaviour by image). */
export const DNS_IMAGE = "coredns/coredns:1.11.1";

export interface BootstrapResult {
  topology: ClusterTopology;
  created: boolean;
}

/**
 * Builds the cluster a topology describes: Kubernetes and Calico nodes, the Installation with its default
 * pool, default Felix and BGP configuration, the `kubernetes` and `kube-dns` services and CoreDNS. Idempotent:
 * running it again on the same topology changes nothing; a different topology is refused.
 */
export async function bootstrapCluster(
  client: ResourceClient,
  topologyObject: ApiObject,
  now: Date,
): Promise<BootstrapResult> {
  const def = kinds.Topology;
  const prepared = prepareObject(def, topologyObject);
  const existing = await readTopology(client);
  if (existing && existing.name !== prepared.metadata.name)
    throw new TortieError(
      "Conflict",
      `a cluster with topology "${existing.name}" is already up in this state dir; run "tortie down" first`,
    );
  const w = new Writer(client);
  // After `tortie down` the store is not new, so the built-in namespaces are ensured one by one.
  for (const ns of BUILT_IN_NAMESPACES)
    await w.ensure(kinds.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await w.ensure(def, prepared);
  const t = toClusterTopology(prepared);
  const since = timestamp(now);

  for (const ns of ["calico-system", "tigera-operator"])
    await w.ensure(kinds.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

  const pool = t.defaultPool;
  await w.ensure(kinds.Installation, {
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
  });
  if (!(await client.get(kinds.IPPool, pool.name)))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: pool.name },
      spec: {
        cidr: pool.cidr,
        blockSize: pool.blockSize,
        ipipMode: pool.encapsulation.startsWith("IPIP")
          ? pool.encapsulation === "IPIP"
            ? "Always"
            : "CrossSubnet"
          : "Never",
        vxlanMode: pool.encapsulation.startsWith("VXLAN")
          ? pool.encapsulation === "VXLAN"
            ? "Always"
            : "CrossSubnet"
          : "Never",
        natOutgoing: pool.natOutgoing,
        nodeSelector: "all()",
      },
    });
  if (!(await client.get(kinds.FelixConfiguration, "default")))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: { bpfLogLevel: "", floatingIPs: "Disabled", logSeverityScreen: "Info", reportingInterval: "0s" },
    });
  // calico-kube-controllers writes its defaults at start-up; host endpoints are not auto-created by default.
  if (!(await client.get(kinds.KubeControllersConfiguration, "default")))
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
  if (!(await client.get(kinds.BGPConfiguration, "default")))
    await w.create({
      apiVersion: "projectcalico.org/v3",
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec: { asNumber: t.asNumber, logSeverityScreen: "Info", nodeToNodeMeshEnabled: true },
    });

  for (const host of kubernetesHosts(t)) {
    await w.ensure(kinds.Node, kubernetesNode(t, host, since));
    await w.ensure(kinds.CalicoNode, calicoNode(host));
  }

  await w.ensure(kinds.TigeraStatus, {
    apiVersion: "operator.tigera.io/v1",
    kind: "TigeraStatus",
    metadata: { name: "calico" },
    spec: {},
    status: {
      conditions: ["Available", "Progressing", "Degraded"].map((type) => ({
        type,
        status: type === "Available" ? "True" : "False",
        lastTransitionTime: since,
        reason: "AllObjectsAvailable",
        message: "All objects are available",
        observedGeneration: 1,
      })),
    },
  });

  await ensureKubernetesService(w, t);
  await ensureClusterDns(w, t);
  return { topology: t, created: !existing };
}

function kubernetesNode(t: ClusterTopology, host: TopologyHost, since: string): ApiObject {
  const control = host.role === "control-plane";
  const legacyRoles = /^v1\.1[0-9]\./.test(t.kubernetesVersion);
  const roleLabels: Record<string, string> = control
    ? legacyRoles
      ? { "node-role.kubernetes.io/master": "true" }
      : { "node-role.kubernetes.io/control-plane": "" }
    : {};
  const annotations: Record<string, string> = { "projectcalico.org/IPv4Address": host.address };
  // Where `kubectl cluster-info dump` finds the ranges, as it does in k3s's node-args annotation.
  if (control)
    annotations["tortie.dev/node-args"] = JSON.stringify([
      "server",
      "--cluster-cidr",
      formatCidr(t.clusterCIDR),
      "--service-cidr",
      formatCidr(t.serviceCIDR),
      "--cluster-dns",
      t.dnsServiceIP,
      "--cluster-domain",
      t.clusterDomain,
    ]);
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: since,
    lastTransitionTime: since,
    reason,
    message,
  });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: host.name,
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": host.name,
        "kubernetes.io/os": "linux",
        ...roleLabels,
        ...host.labels,
      },
      annotations,
    },
    spec: host.taints?.length ? { taints: host.taints.map((t) => ({ ...t })) } : {},
    status: {
      addresses: [
        { type: "InternalIP", address: host.ip },
        { type: "Hostname", address: host.name },
      ],
      conditions: [
        condition(
          "MemoryPressure",
          "False",
          "KubeletHasSufficientMemory",
          "kubelet has sufficient memory available",
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        condition("NetworkUnavailable", "False", "CalicoIsUp", "Calico is running on this node"),
      ],
      nodeInfo: {
        architecture: "amd64",
        operatingSystem: "linux",
        kubeletVersion: t.kubernetesVersion,
        kubeProxyVersion: t.kubernetesVersion,
        osImage: "tortie (emulated host)",
        kernelVersion: "tortie",
        containerRuntimeVersion: "tortie://0.1.0",
      },
    },
  };
}

function calicoNode(host: TopologyHost): ApiObject {
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

/** `default/kubernetes`: the first service address, pointing at the API server on the control plane (6443). */
async function ensureKubernetesService(w: Writer, t: ClusterTopology): Promise<void> {
  const ip = formatIp({ family: t.serviceCIDR.family, value: t.serviceCIDR.value + 1n });
  const control = t.hosts.find((h) => h.role === "control-plane")!;
  const labels = { component: "apiserver", provider: "kubernetes" };
  await w.ensure(kinds.Service, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "kubernetes", namespace: "default", labels },
    spec: {
      type: "ClusterIP",
      clusterIP: ip,
      ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: 6443 }],
    },
  });
  await w.ensure(kinds.Endpoints, {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
    },
    subsets: [{ addresses: [{ ip: control.ip }], ports: [{ name: "https", port: 6443, protocol: "TCP" }] }],
  });
  await w.ensure(kinds.EndpointSlice, {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "kubernetes" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [control.ip], conditions: { ready: true } }],
    ports: [{ name: "https", port: 6443, protocol: "TCP" }],
  });
}

/** `kube-system/kube-dns` at the topology's DNS address, backed by a CoreDNS deployment. */
async function ensureClusterDns(w: Writer, t: ClusterTopology): Promise<void> {
  const labels = {
    "k8s-app": "kube-dns",
    "kubernetes.io/cluster-service": "true",
    "kubernetes.io/name": "CoreDNS",
  };
  await w.ensure(kinds.ServiceAccount, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "coredns", namespace: "kube-system" },
  });
  await w.ensure(kinds.ConfigMap, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "coredns", namespace: "kube-system" },
    data: {
      Corefile: [
        ".:53 {",
        "    errors",
        "    health",
        "    ready",
        `    kubernetes ${t.clusterDomain} in-addr.arpa ip6.arpa {`,
        "      pods insecure",
        "      fallthrough in-addr.arpa ip6.arpa",
        "    }",
        "    prometheus :9153",
        "    cache 30",
        "    loop",
        "    reload",
        "    loadbalance",
        "}",
        "",
      ].join("\n"),
    },
  });
  await w.ensure(kinds.Service, {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "kube-dns",
      namespace: "kube-system",
      labels,
      annotations: { "prometheus.io/port": "9153", "prometheus.io/scrape": "true" },
    },
    spec: {
      type: "ClusterIP",
      clusterIP: t.dnsServiceIP,
      selector: { "k8s-app": "kube-dns" },
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
        { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
      ],
    },
  });
  await w.ensure(kinds.Deployment, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "coredns",
      namespace: "kube-system",
      labels: { "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS" },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { "k8s-app": "kube-dns" } },
      template: {
        metadata: { labels: { "k8s-app": "kube-dns" } },
        spec: {
          serviceAccountName: "coredns",
          dnsPolicy: "Default",
          containers: [
            {
              name: "coredns",
              image: DNS_IMAGE,
              args: ["-conf", "/etc/coredns/Corefile"],
              ports: [
                { name: "dns", containerPort: 53, protocol: "UDP" },
                { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                { name: "metrics", containerPort: 9153, protocol: "TCP" },
              ],
            },
          ],
        },
      },
    },
  });
}
