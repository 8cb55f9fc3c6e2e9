import { type ApiObject, prepareObject } from "../api/index.ts";
import { TortieError } from "../lib/index.ts";
import { formatCidr, formatIp } from "../net/index.ts";
import { BUILT_IN_NAMESPACES, type ResourceClient } from "../store/index.ts";
import {
  calicoNode,
  calicoSettings,
  installationFor,
  installCalico,
  tigeraStatus,
} from "./calico-install.ts";
import { NOT_READY_TAINT, networkConditions, nodeCondition, nodeSpec } from "./node-network.ts";
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

export interface BootstrapOptions {
  /** false for `up --no-cni`: Kubernetes alone, its nodes NotReady until an operator installs Calico. */
  cni: boolean;
}

/** On the Topology object: the cluster was brought up with `--no-cni` (Calico comes from the operator, if at all). */
const NO_CNI_ANNOTATION = "tortie.dev/no-cni";

export interface BootstrapResult {
  topology: ClusterTopology;
  created: boolean;
}

/**
 * Builds the cluster a topology describes: Kubernetes and Calico nodes, the Installation with its default
 * pool, default Felix and BGP configuration, the `kubernetes` and `kube-dns` services and CoreDNS (without
 * `cni`, Kubernetes alone: nodes NotReady and tainted, no Calico object). Idempotent:
 * running it again on the same topology changes nothing; a different topology is refused.
 */
export async function bootstrapCluster(
  client: ResourceClient,
  topologyObject: ApiObject,
  now: Date,
  options: BootstrapOptions = { cni: true },
): Promise<BootstrapResult> {
  const def = kinds.Topology;
  const prepared = prepareObject(def, topologyObject);
  const existing = await readTopology(client);
  if (existing && existing.name !== prepared.metadata.name)
    throw new TortieError(
      "Conflict",
      `a cluster with topology "${existing.name}" is already up in this state dir; run "tortie down" first`,
    );
  // A running cluster keeps the CNI it was brought up with: `up` again does not install Calico over an
  // operator install in progress, and `--no-cni` cannot take Calico away.
  const [liveTopology] = existing ? await client.list(def) : [];
  const runningWithoutCni = liveTopology?.metadata.annotations?.[NO_CNI_ANNOTATION] === "true";
  if (existing && !runningWithoutCni && !options.cni)
    throw new TortieError(
      "Conflict",
      `cluster ${existing.name} is up with Calico installed; run "tortie down" first to bring it up with --no-cni`,
    );
  const cni = options.cni && !runningWithoutCni;
  if (!cni) prepared.metadata.annotations = { ...prepared.metadata.annotations, [NO_CNI_ANNOTATION]: "true" };
  const w = new Writer(client);
  // After `tortie down` the store is not new, so the built-in namespaces are ensured one by one.
  for (const ns of BUILT_IN_NAMESPACES)
    await w.ensure(kinds.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await w.ensure(def, prepared);
  const t = toClusterTopology(prepared);
  const since = timestamp(now);

  if (cni) {
    // The preinstalled lab: what the operator leaves behind, without its pods (see control/operator.ts).
    for (const ns of ["calico-system", "tigera-operator"])
      await w.ensure(kinds.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    await w.ensure(kinds.Installation, installationFor(t.defaultPool));
    await installCalico(w, calicoSettings(t.defaultPool, t.asNumber));
    for (const host of kubernetesHosts(t)) {
      await w.ensure(kinds.Node, kubernetesNode(t, host, since, true));
      await w.ensure(kinds.CalicoNode, calicoNode(host));
    }
    await w.ensure(kinds.TigeraStatus, tigeraStatus(true, since));
  } else {
    // Created once: the operator's calico-node later makes them Ready and lifts the taint, which `up` keeps.
    for (const host of kubernetesHosts(t))
      if (!(await client.get(kinds.Node, host.name))) await w.create(kubernetesNode(t, host, since, false));
  }

  await ensureKubernetesService(w, t);
  await ensureClusterDns(w, t);
  return { topology: t, created: !existing };
}

function kubernetesNode(
  t: ClusterTopology,
  host: TopologyHost,
  since: string,
  networkReady: boolean,
): ApiObject {
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
  const condition = (type: string, status: string, reason: string, message: string) =>
    nodeCondition(since, type, status, reason, message);
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
    spec: nodeSpec([
      ...(host.taints ?? []).map((t) => ({ ...t })),
      ...(networkReady ? [] : [NOT_READY_TAINT]),
    ]),
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
        ...networkConditions(t.kubernetesVersion, networkReady, since),
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
