import * as z from "zod";
import type { FieldProblem } from "../../lib/index.ts";
import { parseCidr, parseIp } from "../../net/index.ts";
import type { KindDef } from "../kind.ts";
import { checkLabels } from "../meta.ts";
import type { ApiObject } from "../object.ts";
import {
  bool,
  cidrString,
  condition,
  int,
  intOrString,
  ipString,
  labelSelector,
  lazySchema,
  obj,
  opaque,
  portNumber,
  protocolK8s,
  str,
  strList,
  strMap,
} from "../schema-helpers.ts";
import { checkPortName } from "./k8s-field-rules.ts";
import { ConfigMap, Secret } from "./kubernetes-config.ts";
import { checkReplicas } from "./replicas.ts";

export const containerPort = lazySchema(() =>
  obj({
    name: str.optional(),
    containerPort: portNumber,
    protocol: protocolK8s.optional(),
    hostPort: int.optional(),
    hostIP: str.optional(),
  }),
);

/** The container fields tortie acts on are typed; the rest of Kubernetes' container spec is kept as given. */
export const container = lazySchema(() =>
  z.looseObject({
    name: str,
    image: str.optional(),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
    command: strList.optional(),
    args: strList.optional(),
    ports: z.array(containerPort()).optional(),
    env: z.array(opaque).optional(),
  }),
);

export const podSpec = lazySchema(() =>
  z.looseObject({
    containers: z.array(container()).min(1),
    initContainers: z.array(container()).optional(),
    nodeName: str.optional(),
    nodeSelector: strMap.optional(),
    serviceAccountName: str.optional(),
    serviceAccount: str.optional(),
    hostNetwork: bool.optional(),
    restartPolicy: z.enum(["Always", "OnFailure", "Never"]).optional(),
    dnsPolicy: z.enum(["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]).optional(),
    terminationGracePeriodSeconds: int.optional(),
    schedulerName: str.optional(),
    securityContext: opaque.optional(),
    hostname: str.optional(),
    subdomain: str.optional(),
  }),
);

export const podTemplate = lazySchema(() => obj({ metadata: opaque.optional(), spec: podSpec() }));

export function defaultPodSpec(spec: Record<string, unknown> | undefined): void {
  if (!spec) return;
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= "default-scheduler";
  spec.securityContext ??= {};
  if (spec.serviceAccount && !spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount;
  for (const c of (spec.containers as Record<string, unknown>[] | undefined) ?? []) {
    c.imagePullPolicy ??=
      String(c.image ?? "").endsWith(":latest") || !String(c.image ?? "").includes(":")
        ? "Always"
        : "IfNotPresent";
    c.terminationMessagePath ??= "/dev/termination-log";
    c.terminationMessagePolicy ??= "File";
    c.resources ??= {};
    for (const p of (c.ports as Record<string, unknown>[] | undefined) ?? []) p.protocol ??= "TCP";
  }
}

/**
 * A workload's selector must be non-empty and match its template's labels. The API server words the mismatch
 * differently per kind: DaemonSet validation quotes `selector` and `labels` in backticks, Deployment's does not.
 */
export function checkWorkloadSelector(
  // biome-ignore lint/suspicious/noExplicitAny: a decoded spec
  s: any,
  kind: "deployment" | "daemonset",
  out: FieldProblem[],
): void {
  const templateLabels: Record<string, string> = s.template?.metadata?.labels ?? {};
  const matches = Object.entries(s.selector?.matchLabels ?? {}).every(([k, v]) => templateLabels[k] === v);
  if (!matches)
    out.push({
      path: "spec.template.metadata.labels",
      message:
        kind === "daemonset"
          ? "Invalid value: `selector` does not match template `labels`"
          : "Invalid value: selector does not match template labels",
    });
  if (
    Object.keys(s.selector?.matchLabels ?? {}).length === 0 &&
    (s.selector?.matchExpressions ?? []).length === 0
  )
    out.push({ path: "spec.selector", message: `Invalid value: empty selector is invalid for ${kind}` });
}

export function checkPodSpec(
  spec: Record<string, unknown> | undefined,
  path: string,
  out: FieldProblem[],
): void {
  const names = new Set<string>();
  for (const [i, c] of ((spec?.containers as Record<string, unknown>[] | undefined) ?? []).entries()) {
    const name = String(c.name);
    if (names.has(name))
      out.push({ path: `${path}.containers[${i}].name`, message: `Duplicate value: "${name}"` });
    names.add(name);
    for (const [j, p] of ((c.ports as Record<string, unknown>[] | undefined) ?? []).entries()) {
      if (p.name !== undefined)
        checkPortName(`${path}.containers[${i}].ports[${j}].name`, String(p.name), out);
      if (typeof p.hostPort === "number" && p.hostPort !== 0 && (p.hostPort < 1 || p.hostPort > 65535))
        out.push({
          path: `${path}.containers[${i}].ports[${j}].hostPort`,
          message: `Invalid value: ${p.hostPort}: must be between 1 and 65535, inclusive`,
        });
    }
  }
}

export const Namespace: KindDef = {
  group: "",
  version: "v1",
  kind: "Namespace",
  plural: "namespaces",
  shortNames: ["ns"],
  namespaced: false,
  nameRule: "dns1123-label",
  body: () => ({ spec: obj({ finalizers: strList.optional() }).optional(), status: opaque.optional() }),
  defaults(o) {
    o.metadata.labels = { ...o.metadata.labels, "kubernetes.io/metadata.name": o.metadata.name! };
    o.spec ??= {};
    o.spec.finalizers ??= ["kubernetes"];
    o.status = { phase: "Active", ...o.status };
  },
};

export const Node: KindDef = {
  group: "",
  version: "v1",
  kind: "Node",
  plural: "nodes",
  shortNames: ["no"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      podCIDR: cidrString.optional(),
      podCIDRs: z.array(cidrString).optional(),
      providerID: str.optional(),
      unschedulable: bool.optional(),
      taints: z.array(opaque).optional(),
    }).optional(),
    status: z
      .looseObject({
        addresses: z.array(obj({ type: str, address: str })).optional(),
        conditions: z.array(condition).optional(),
        nodeInfo: opaque.optional(),
      })
      .optional(),
  }),
};

export const Pod: KindDef = {
  group: "",
  version: "v1",
  kind: "Pod",
  plural: "pods",
  shortNames: ["po"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({ spec: podSpec(), status: opaque.optional() }),
  defaults(o) {
    defaultPodSpec(o.spec);
    o.spec.serviceAccountName ??= "default";
  },
  check(o, out) {
    checkPodSpec(o.spec, "spec", out);
  },
};

const servicePort = lazySchema(() =>
  obj({
    name: str.optional(),
    protocol: protocolK8s.optional(),
    appProtocol: str.optional(),
    port: portNumber,
    targetPort: intOrString.optional(),
    nodePort: int.optional(),
  }),
);

const serviceSpec = lazySchema(() =>
  obj({
    type: z.enum(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]).optional(),
    selector: strMap.optional(),
    ports: z.array(servicePort()).optional(),
    clusterIP: str.optional(),
    clusterIPs: strList.optional(),
    externalIPs: z.array(ipString).optional(),
    externalName: str.optional(),
    externalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
    internalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
    healthCheckNodePort: int.optional(),
    sessionAffinity: z.enum(["None", "ClientIP"]).optional(),
    sessionAffinityConfig: obj({
      clientIP: obj({ timeoutSeconds: int.min(1).max(86400).optional() }).optional(),
    }).optional(),
    loadBalancerIP: str.optional(),
    loadBalancerSourceRanges: z.array(cidrString).optional(),
    loadBalancerClass: str.optional(),
    allocateLoadBalancerNodePorts: bool.optional(),
    ipFamilies: z
      .array(z.enum(["IPv4", "IPv6"]))
      .max(2)
      .optional(),
    ipFamilyPolicy: z.enum(["SingleStack", "PreferDualStack", "RequireDualStack"]).optional(),
    publishNotReadyAddresses: bool.optional(),
    trafficDistribution: str.optional(),
  }),
);

export const Service: KindDef = {
  group: "",
  version: "v1",
  kind: "Service",
  plural: "services",
  shortNames: ["svc"],
  namespaced: true,
  nameRule: "dns1123-label",
  body: () => ({
    spec: serviceSpec(),
    status: obj({
      loadBalancer: obj({ ingress: z.array(opaque).optional() }).optional(),
      conditions: z.array(condition).optional(),
    }).optional(),
  }),
  defaults(o) {
    const s = o.spec;
    s.type ??= "ClusterIP";
    s.sessionAffinity ??= "None";
    if (s.sessionAffinity === "ClientIP") s.sessionAffinityConfig ??= { clientIP: { timeoutSeconds: 10800 } };
    if (s.type !== "ExternalName") s.internalTrafficPolicy ??= "Cluster";
    if (s.type === "NodePort" || s.type === "LoadBalancer") s.externalTrafficPolicy ??= "Cluster";
    if (s.type === "LoadBalancer") s.allocateLoadBalancerNodePorts ??= true;
    for (const p of s.ports ?? []) {
      p.protocol ??= "TCP";
      p.targetPort ??= p.port;
    }
    o.status ??= { loadBalancer: {} };
  },
  check(o, out) {
    const s = o.spec;
    const ports: Record<string, unknown>[] = s.ports ?? [];
    if (s.type !== "ExternalName" && ports.length === 0)
      out.push({ path: "spec.ports", message: "Required value" });
    const names = new Set<string>();
    for (const [i, p] of ports.entries()) {
      if (ports.length > 1 && !p.name) out.push({ path: `spec.ports[${i}].name`, message: "Required value" });
      if (p.name !== undefined) {
        if (names.has(String(p.name)))
          out.push({ path: `spec.ports[${i}].name`, message: `Duplicate value: "${p.name}"` });
        names.add(String(p.name));
      }
      if (
        p.nodePort !== undefined &&
        !(s.type === "NodePort" || s.type === "LoadBalancer") &&
        p.nodePort !== 0
      )
        out.push({
          path: `spec.ports[${i}].nodePort`,
          message: "may not be used when `type` is 'ClusterIP'",
        });
      if (typeof p.nodePort === "number" && p.nodePort !== 0 && (p.nodePort < 1 || p.nodePort > 65535))
        out.push({
          path: `spec.ports[${i}].nodePort`,
          message: `Invalid value: ${p.nodePort}: must be between 1 and 65535, inclusive`,
        });
      if (typeof p.targetPort === "number" && (p.targetPort < 1 || p.targetPort > 65535))
        out.push({
          path: `spec.ports[${i}].targetPort`,
          message: `Invalid value: ${p.targetPort}: must be between 1 and 65535, inclusive`,
        });
      if (typeof p.targetPort === "string") checkPortName(`spec.ports[${i}].targetPort`, p.targetPort, out);
    }
    if (
      s.externalTrafficPolicy !== undefined &&
      s.type !== "NodePort" &&
      s.type !== "LoadBalancer" &&
      (s.externalIPs ?? []).length === 0
    )
      out.push({
        path: "spec.externalTrafficPolicy",
        message: `Invalid value: "${s.externalTrafficPolicy}": may only be set for externally-accessible services`,
      });
    if (s.clusterIP !== undefined && s.clusterIP !== "" && s.clusterIP !== "None" && !parseIp(s.clusterIP))
      out.push({
        path: "spec.clusterIP",
        message: `Invalid value: "${s.clusterIP}": must be a valid IP address or "None"`,
      });
    checkLabels(s.selector, "spec.selector", out);
  },
};

const endpointAddress = lazySchema(() =>
  obj({
    ip: ipString,
    hostname: str.optional(),
    nodeName: str.optional(),
    targetRef: opaque.optional(),
  }),
);
const endpointPort = lazySchema(() =>
  obj({
    name: str.optional(),
    port: portNumber,
    protocol: protocolK8s.optional(),
    appProtocol: str.optional(),
  }),
);

export const Endpoints: KindDef = {
  group: "",
  version: "v1",
  kind: "Endpoints",
  plural: "endpoints",
  shortNames: ["ep"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    subsets: z
      .array(
        obj({
          addresses: z.array(endpointAddress()).optional(),
          notReadyAddresses: z.array(endpointAddress()).optional(),
          ports: z.array(endpointPort()).optional(),
        }),
      )
      .optional(),
  }),
};

export const EndpointSlice: KindDef = {
  group: "discovery.k8s.io",
  version: "v1",
  kind: "EndpointSlice",
  plural: "endpointslices",
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    addressType: z.enum(["IPv4", "IPv6", "FQDN"]),
    endpoints: z
      .array(
        obj({
          addresses: strList,
          conditions: obj({
            ready: bool.optional(),
            serving: bool.optional(),
            terminating: bool.optional(),
          }).optional(),
          hostname: str.optional(),
          nodeName: str.optional(),
          zone: str.optional(),
          targetRef: opaque.optional(),
          hints: opaque.optional(),
        }),
      )
      .optional(),
    ports: z
      .array(
        obj({
          name: str.optional(),
          port: int.optional(),
          protocol: protocolK8s.optional(),
          appProtocol: str.optional(),
        }),
      )
      .optional(),
  }),
};

export const ServiceAccount: KindDef = {
  group: "",
  version: "v1",
  kind: "ServiceAccount",
  plural: "serviceaccounts",
  shortNames: ["sa"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    secrets: z.array(opaque).optional(),
    imagePullSecrets: z.array(opaque).optional(),
    automountServiceAccountToken: bool.optional(),
  }),
};

export const Deployment: KindDef = {
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
  shortNames: ["deploy"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      replicas: int.min(0).optional(),
      selector: labelSelector,
      template: podTemplate(),
      strategy: opaque.optional(),
      minReadySeconds: int.optional(),
      revisionHistoryLimit: int.optional(),
      progressDeadlineSeconds: int.optional(),
      paused: bool.optional(),
    }),
    status: opaque.optional(),
  }),
  defaults(o) {
    const s = o.spec;
    s.replicas ??= 1;
    s.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } };
    s.revisionHistoryLimit ??= 10;
    s.progressDeadlineSeconds ??= 600;
    defaultPodSpec(s.template?.spec);
  },
  check(o, out) {
    const s = o.spec;
    checkWorkloadSelector(s, "deployment", out);
    checkReplicas(o, out);
    checkPodSpec(s.template?.spec, "spec.template.spec", out);
  },
};

/** ReplicaSets are what Deployments create; their pods carry the `pod-template-hash` label. */
export const ReplicaSet: KindDef = {
  group: "apps",
  version: "v1",
  kind: "ReplicaSet",
  plural: "replicasets",
  shortNames: ["rs"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      replicas: int.min(0).optional(),
      selector: labelSelector,
      template: podTemplate(),
      minReadySeconds: int.optional(),
    }),
    status: opaque.optional(),
  }),
  defaults(o) {
    o.spec.replicas ??= 1;
    defaultPodSpec(o.spec.template?.spec);
  },
  check(o, out) {
    checkReplicas(o, out);
    checkPodSpec(o.spec.template?.spec, "spec.template.spec", out);
  },
};

const npPort = lazySchema(() =>
  obj({
    protocol: protocolK8s.optional(),
    port: intOrString.optional(),
    endPort: int.optional(),
  }),
);
const npPeer = lazySchema(() =>
  obj({
    podSelector: labelSelector.optional(),
    namespaceSelector: labelSelector.optional(),
    ipBlock: obj({ cidr: cidrString, except: z.array(cidrString).optional() }).optional(),
  }),
);

function checkNetworkPolicyRules(
  rules: ApiObject[] | undefined,
  dir: "ingress" | "egress",
  out: FieldProblem[],
): void {
  const peerField = dir === "ingress" ? "from" : "to";
  for (const [i, rule] of (rules ?? []).entries()) {
    for (const [j, p] of ((rule[peerField] as Record<string, unknown>[] | undefined) ?? []).entries()) {
      const path = `spec.${dir}[${i}].${peerField}[${j}]`;
      const set = ["podSelector", "namespaceSelector", "ipBlock"].filter((k) => p[k] !== undefined);
      if (set.length === 0) out.push({ path, message: "Required value: must specify a peer" });
      if (p.ipBlock && set.length > 1)
        out.push({ path, message: "Forbidden: may not specify more than 1 peer type" });
      const block = p.ipBlock as { cidr: string; except?: string[] } | undefined;
      if (block) {
        const outer = parseCidr(block.cidr);
        for (const [k, e] of (block.except ?? []).entries()) {
          const inner = parseCidr(e);
          if (
            outer &&
            inner &&
            !(
              inner.prefix > outer.prefix &&
              inner.value >> BigInt((outer.family === 4 ? 32 : 128) - outer.prefix) ===
                outer.value >> BigInt((outer.family === 4 ? 32 : 128) - outer.prefix)
            )
          )
            out.push({
              path: `${path}.ipBlock.except[${k}]`,
              message: `Invalid value: "${e}": must be a strict subset of \`cidr\``,
            });
        }
      }
    }
    for (const [j, port] of ((rule.ports as Record<string, unknown>[] | undefined) ?? []).entries()) {
      const path = `spec.${dir}[${i}].ports[${j}]`;
      if (typeof port.port === "number" && (port.port < 1 || port.port > 65535))
        out.push({
          path: `${path}.port`,
          message: `Invalid value: ${port.port}: must be between 1 and 65535, inclusive`,
        });
      if (typeof port.port === "string") checkPortName(`${path}.port`, port.port, out);
      if (port.endPort !== undefined) {
        if (typeof port.port !== "number")
          out.push({
            path: `${path}.endPort`,
            message: "Forbidden: may not be specified when `port` is non-numeric",
          });
        else if ((port.endPort as number) < port.port)
          out.push({
            path: `${path}.endPort`,
            message: `Invalid value: ${port.endPort}: must be greater than or equal to \`port\``,
          });
      }
    }
  }
}

export const NetworkPolicy: KindDef = {
  group: "networking.k8s.io",
  version: "v1",
  kind: "NetworkPolicy",
  plural: "networkpolicies",
  shortNames: ["netpol"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      podSelector: labelSelector,
      policyTypes: z.array(z.enum(["Ingress", "Egress"])).optional(),
      ingress: z
        .array(obj({ from: z.array(npPeer()).optional(), ports: z.array(npPort()).optional() }))
        .optional(),
      egress: z
        .array(obj({ to: z.array(npPeer()).optional(), ports: z.array(npPort()).optional() }))
        .optional(),
    }),
    status: opaque.optional(),
  }),
  defaults(o) {
    const s = o.spec;
    // The API server fills policyTypes: Ingress always, Egress when egress rules are given.
    if (!s.policyTypes || s.policyTypes.length === 0)
      s.policyTypes = s.egress?.length ? ["Ingress", "Egress"] : ["Ingress"];
    for (const r of [...(s.ingress ?? []), ...(s.egress ?? [])])
      for (const p of r.ports ?? []) p.protocol ??= "TCP";
  },
  check(o, out) {
    checkNetworkPolicyRules(o.spec.ingress, "ingress", out);
    checkNetworkPolicyRules(o.spec.egress, "egress", out);
  },
};

export const kubernetesKinds: KindDef[] = [
  Namespace,
  Node,
  Pod,
  Service,
  Endpoints,
  EndpointSlice,
  ServiceAccount,
  ConfigMap,
  Secret,
  Deployment,
  ReplicaSet,
  NetworkPolicy,
];
