import { type ApiObject, findKind } from "../../src/api/index.ts";
import { Ipam } from "../../src/ipam/index.ts";
import { MemoryBackend, ResourceClient } from "../../src/store/index.ts";

export const FIXED_NOW = new Date("2026-01-02T03:04:05Z");

/** A memory store with a ResourceClient for seeding objects and an Ipam over the same store. */
export async function ipamWorld(now = () => FIXED_NOW) {
  const backend = new MemoryBackend();
  const client = new ResourceClient(backend, { now });
  await client.ensureBuiltIns();
  const ipam = new Ipam(backend, { now });
  return {
    backend,
    client,
    ipam,
    async pool(name: string, cidr: string, spec: Record<string, unknown> = {}) {
      return client.create({
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name },
        spec: { cidr, ...spec },
      });
    },
    async node(name: string, labels: Record<string, string> = {}) {
      return client.create({ apiVersion: "v1", kind: "Node", metadata: { name, labels } });
    },
    async namespace(
      name: string,
      annotations: Record<string, string> = {},
      labels: Record<string, string> = {},
    ) {
      return client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name, annotations, labels } });
    },
    async ipamConfig(spec: Record<string, unknown>) {
      return client.create({
        apiVersion: "projectcalico.org/v3",
        kind: "IPAMConfiguration",
        metadata: { name: "default" },
        spec,
      });
    },
    async list(kind: string): Promise<ApiObject[]> {
      return client.list(findKind("projectcalico.org/v3", kind)!);
    },
  };
}

export function pod(namespace: string, name: string, annotations: Record<string, string> = {}): ApiObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { namespace, name, annotations } };
}
