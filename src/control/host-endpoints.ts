/**
 * kube-controllers' node controller, host endpoint part: with `autoCreate: Enabled` in the default
 * KubeControllersConfiguration, every node gets `<node>-auto-hep` (all interfaces, the node's addresses and
 * labels, profile projectcalico-default-allow); with it disabled, those host endpoints are removed.
 */
import type { ApiObject } from "../api/index.ts";
import { kinds } from "./topology.ts";
import type { Writer } from "./writes.ts";

const CREATED_BY = "projectcalico.org/created-by";
const KUBE_CONTROLLERS = "calico-kube-controllers";

function autoHostEndpoint(node: ApiObject): ApiObject {
  const ips = ((node.status?.addresses ?? []) as { type: string; address: string }[])
    .filter((a) => a.type === "InternalIP")
    .map((a) => a.address);
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "HostEndpoint",
    metadata: {
      name: `${node.metadata.name}-auto-hep`,
      labels: { ...(node.metadata.labels ?? {}), [CREATED_BY]: KUBE_CONTROLLERS },
    },
    spec: {
      node: node.metadata.name,
      interfaceName: "*",
      expectedIPs: ips,
      profiles: ["projectcalico-default-allow"],
    },
  };
}

export async function reconcileAutoHostEndpoints(w: Writer): Promise<void> {
  const config = await w.client.get(kinds.KubeControllersConfiguration, "default");
  const enabled = config?.spec?.controllers?.node?.hostEndpoint?.autoCreate === "Enabled";
  const nodes = enabled ? await w.client.list(kinds.Node) : [];
  const wanted = new Set(nodes.map((n) => `${n.metadata.name}-auto-hep`));
  for (const n of nodes) await w.ensure(kinds.HostEndpoint, autoHostEndpoint(n));
  for (const hep of await w.client.list(kinds.HostEndpoint))
    if (hep.metadata.labels?.[CREATED_BY] === KUBE_CONTROLLERS && !wanted.has(hep.metadata.name!))
      await w.remove(kinds.HostEndpoint, hep);
}
