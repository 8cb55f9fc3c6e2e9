/** Reads what the policy engine needs from the store and resolves the places users name on the command line. */
import { type ApiObject, findKind } from "../api/index.ts";
import { readTopology } from "../control/index.ts";
import { TortieError } from "../lib/index.ts";
import { parseIp } from "../net/index.ts";
import { buildPolicyModel, type FlowEnd, PolicyIndex } from "../policy/index.ts";
import type { ResourceClient } from "../store/index.ts";

const POLICY_INPUTS: [string, string][] = [
  ["v1", "Namespace"],
  ["v1", "ServiceAccount"],
  ["v1", "Node"],
  ["v1", "Pod"],
  ["v1", "Service"],
  ["v1", "Endpoints"],
  ["networking.k8s.io/v1", "NetworkPolicy"],
  ["projectcalico.org/v3", "NetworkPolicy"],
  ["projectcalico.org/v3", "GlobalNetworkPolicy"],
  ["projectcalico.org/v3", "Tier"],
  ["projectcalico.org/v3", "NetworkSet"],
  ["projectcalico.org/v3", "GlobalNetworkSet"],
  ["projectcalico.org/v3", "HostEndpoint"],
  ["projectcalico.org/v3", "WorkloadEndpoint"],
  ["projectcalico.org/v3", "FelixConfiguration"],
];

export interface PolicySnapshot {
  objects: ApiObject[];
  index: PolicyIndex;
  externalHosts: Map<string, string>;
}

export async function readPolicySnapshot(store: ResourceClient): Promise<PolicySnapshot> {
  const objects: ApiObject[] = [];
  for (const [apiVersion, kind] of POLICY_INPUTS)
    objects.push(...(await store.list(findKind(apiVersion, kind)!)));
  const topology = await readTopology(store);
  const externalHosts = new Map(
    (topology?.hosts ?? [])
      .filter((h) => h.role === "external")
      .map((h) => [h.name, h.ip] as [string, string]),
  );
  return { objects, index: new PolicyIndex(buildPolicyModel(objects)), externalHosts };
}

/** FROM/TO as CLI.md defines them: `NS/POD`, a host name, or an IP address. */
export function resolvePlace(snapshot: PolicySnapshot, text: string, role: "FROM" | "TO"): FlowEnd {
  const model = snapshot.index.model;
  if (text.includes("/")) {
    const [ns, pod] = text.split("/");
    const wep = model.endpoints.find((e) => e.kind === "workload" && e.namespace === ns && e.pod === pod);
    if (wep) return { kind: "endpoint", endpoint: wep };
    const exists = snapshot.objects.some(
      (o) => o.kind === "Pod" && o.metadata.namespace === ns && o.metadata.name === pod,
    );
    throw new TortieError(
      "NotFound",
      exists
        ? `${role} ${text}: the pod has no workload endpoint yet (not running)`
        : `${role} ${text}: pod not found`,
    );
  }
  if (model.nodes.some((n) => n.name === text)) return { kind: "host", node: text };
  const external = snapshot.externalHosts.get(text);
  if (external) return { kind: "ip", ip: parseIp(external)! };
  const ip = parseIp(text);
  if (ip) return { kind: "ip", ip };
  throw new TortieError("Usage", `${role} "${text}" is not NS/POD, a host name, or an IP address`);
}
