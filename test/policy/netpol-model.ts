/** Builds the objects a Kubernetes NetworkPolicy test model describes: namespaces, and pods as WorkloadEndpoints. */
import type { ApiObject } from "../../src/api/index.ts";

export interface ModelPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  containerPorts: { name?: string; containerPort: number; protocol: string }[];
  node?: string;
  serviceAccount?: string;
}

export function namespaceObject(name: string, labels: Record<string, string>): ApiObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** The WorkloadEndpoint the kubelet and Calico CNI would write for a running pod. */
export function podEndpoint(p: ModelPod): ApiObject {
  const sa = p.serviceAccount ?? "default";
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "WorkloadEndpoint",
    metadata: {
      name: `${p.node ?? "node1"}-k8s-${p.name}-eth0`,
      namespace: p.namespace,
      labels: {
        ...p.labels,
        "projectcalico.org/namespace": p.namespace,
        "projectcalico.org/orchestrator": "k8s",
        "projectcalico.org/serviceaccount": sa,
      },
    },
    spec: {
      orchestrator: "k8s",
      node: p.node ?? "node1",
      pod: p.name,
      endpoint: "eth0",
      ipNetworks: [`${p.ip}/${p.ip.includes(":") ? 128 : 32}`],
      profiles: [`kns.${p.namespace}`, `ksa.${p.namespace}.${sa}`],
      ports: p.containerPorts
        .filter((c) => c.name)
        .map((c) => ({ name: c.name, protocol: c.protocol.toUpperCase(), port: c.containerPort })),
    },
  };
}
