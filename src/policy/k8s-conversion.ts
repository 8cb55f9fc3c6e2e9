/**
 * Kubernetes NetworkPolicy → Calico v3 policy, as libcalico-go v3.31's K8sNetworkPolicyToCalico does:
 * name `knp.default.<name>`, order 1000, tier default, one Allow rule per (peer × protocol).
 */
import type { ApiObject } from "../api/index.ts";

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

interface K8sPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export const K8S_POLICY_ORDER = 1000;

/** `k8sSelectorToCalico`: pod selectors gain the orchestrator clause; an empty namespace selector is `all()`. */
export function k8sSelectorToCalico(s: LabelSelector | undefined, forPods: boolean): string {
  if (s === undefined || s === null) return "";
  const parts: string[] = forPods ? ["projectcalico.org/orchestrator == 'k8s'"] : [];
  for (const k of Object.keys(s.matchLabels ?? {}).sort()) parts.push(`${k} == '${s.matchLabels![k]}'`);
  for (const e of s.matchExpressions ?? []) {
    const values = (e.values ?? []).map((v) => `'${v}'`).join(", ");
    if (e.operator === "In") parts.push(`${e.key} in { ${values} }`);
    else if (e.operator === "NotIn") parts.push(`${e.key} not in { ${values} }`);
    else if (e.operator === "Exists") parts.push(`has(${e.key})`);
    else if (e.operator === "DoesNotExist") parts.push(`! has(${e.key})`);
  }
  if (parts.length === 0) return "all()";
  return parts.join(" && ");
}

/** Numeric ports merged into minimal ranges (SimplifyPorts); named ports kept as written. */
function simplifyPorts(ports: (number | string)[]): (number | string)[] {
  const named = ports.filter((p) => typeof p === "string" && !/^[0-9]+(:[0-9]+)?$/.test(p));
  const ranges = ports
    .filter((p) => !named.includes(p))
    .map((p) => {
      const [a, b] = String(p).split(":").map(Number);
      return [a!, b ?? a!] as [number, number];
    })
    .sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return [...merged.map(([a, b]) => (a === b ? a : `${a}:${b}`)), ...named];
}

/** Groups a rule's ports by protocol: protocol → port list, or `undefined` for "every port". */
function portsByProtocol(
  ports: K8sPort[] | undefined,
): Map<string, (number | string)[] | undefined> | undefined {
  if (!ports || ports.length === 0) return undefined;
  const out = new Map<string, (number | string)[] | undefined>();
  for (const p of ports) {
    const proto = p.protocol ?? "TCP";
    if (p.port === undefined) {
      out.set(proto, undefined);
      continue;
    }
    if (out.has(proto) && out.get(proto) === undefined) continue;
    const list = out.get(proto) ?? [];
    list.push(p.endPort !== undefined && typeof p.port === "number" ? `${p.port}:${p.endPort}` : p.port);
    out.set(proto, list);
  }
  for (const [proto, list] of out) if (list) out.set(proto, simplifyPorts(list));
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function peerEntity(peer: Peer | undefined): Record<string, unknown> {
  if (!peer) return {};
  if (peer.ipBlock) {
    return {
      nets: [peer.ipBlock.cidr],
      ...(peer.ipBlock.except?.length ? { notNets: peer.ipBlock.except } : {}),
    };
  }
  const out: Record<string, unknown> = {};
  const selector = k8sSelectorToCalico(peer.podSelector, true);
  const nsSelector = k8sSelectorToCalico(peer.namespaceSelector, false);
  if (selector) out.selector = selector;
  if (nsSelector) out.namespaceSelector = nsSelector;
  return out;
}

function convertRules(
  rules: { from?: Peer[]; to?: Peer[]; ports?: K8sPort[] }[] | undefined,
  dir: "ingress" | "egress",
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of rules ?? []) {
    const peers = (dir === "ingress" ? r.from : r.to) ?? [];
    const byProto = portsByProtocol(r.ports);
    for (const peer of peers.length > 0 ? peers : [undefined]) {
      const entity = peerEntity(peer);
      const protocols = byProto ? [...byProto] : [[undefined, undefined] as const];
      for (const [protocol, ports] of protocols) {
        const peerSide = { ...entity };
        const portSide: Record<string, unknown> = ports ? { ports } : {};
        out.push({
          action: "Allow",
          ...(protocol ? { protocol } : {}),
          source: dir === "ingress" ? peerSide : {},
          destination: dir === "ingress" ? portSide : { ...peerSide, ...portSide },
        });
      }
    }
  }
  return out;
}

/** The Calico NetworkPolicy a Kubernetes NetworkPolicy becomes (v3 shape, before the v1 conversion). */
export function k8sNetworkPolicyToCalico(np: ApiObject): ApiObject {
  const s = np.spec ?? {};
  const types: string[] = s.policyTypes?.length ? s.policyTypes : ["Ingress"];
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name: `knp.default.${np.metadata.name}`, namespace: np.metadata.namespace ?? "default" },
    spec: {
      tier: "default",
      order: K8S_POLICY_ORDER,
      selector: k8sSelectorToCalico(s.podSelector ?? {}, true),
      types,
      ingress: types.includes("Ingress") ? convertRules(s.ingress, "ingress") : [],
      egress: types.includes("Egress") ? convertRules(s.egress, "egress") : [],
    },
  };
}
