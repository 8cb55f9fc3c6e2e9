/**
 * Builds the engine's model from stored objects, doing what Calico's kube-controllers and Felix's calc graph do:
 * namespaces and service accounts become `kns.`/`ksa.` profiles whose labels endpoints inherit, Kubernetes
 * policies are converted, tiers are sorted, and services are resolved to their ready backends.
 */
import type { ApiObject } from "../api/index.ts";
import { type Cidr, type IpAddress, parseCidrOrIp, parseIp } from "../net/index.ts";
import type { Labels } from "../selector/index.ts";
import { k8sNetworkPolicyToCalico } from "./k8s-conversion.ts";
import type {
  ClusterNode,
  Endpoint,
  FailsafePort,
  HostSettings,
  NetworkSet,
  Policy,
  PolicyModel,
  PolicyRule,
  Profile,
  Service,
  Tier,
} from "./model.ts";
import { sortPolicies, sortTiers } from "./ordering.ts";
import { protocolNumber } from "./protocols.ts";
import {
  convertRule,
  NAMESPACE_LABEL,
  NAMESPACE_PREFIX,
  SERVICE_ACCOUNT_PREFIX,
  toPolicy,
} from "./v1-conversion.ts";

export const DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow";

/** Felix's defaults (config_params.go). */
export const DEFAULT_FAILSAFE_INBOUND =
  "tcp:22,udp:68,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667";
export const DEFAULT_FAILSAFE_OUTBOUND =
  "udp:53,udp:67,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667";

function parseFailsafe(text: string): FailsafePort[] {
  return text.split(",").map((e) => {
    const [proto, port] = e.split(":");
    return { protocol: protocolNumber(proto!.toUpperCase())!, port: Number(port) };
  });
}

const ALLOW_ALL: PolicyRule = { index: 0, action: "Allow", source: {}, destination: {} };

function hostSettings(felix: ApiObject | undefined): HostSettings {
  const s = felix?.spec ?? {};
  const list = (v: { protocol?: string; port: number; net?: string }[] | undefined, dflt: string) =>
    v
      ? v.map((p) => {
          const out: FailsafePort = {
            protocol: protocolNumber((p.protocol ?? "tcp").toUpperCase()) ?? 6,
            port: p.port,
          };
          const net = p.net ? parseCidrOrIp(p.net) : undefined;
          if (net) out.net = net;
          return out;
        })
      : parseFailsafe(dflt);
  return {
    failsafeInbound: list(s.failsafeInboundHostPorts, DEFAULT_FAILSAFE_INBOUND),
    failsafeOutbound: list(s.failsafeOutboundHostPorts, DEFAULT_FAILSAFE_OUTBOUND),
    defaultEndpointToHostAction: s.defaultEndpointToHostAction ?? "Drop",
    ...(s.bpfEnabled === true ? { bpfEnabled: true } : {}),
  };
}

function prefixLabels(labels: Labels | undefined, prefix: string, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) out[prefix + k] = v;
  out[`${prefix}projectcalico.org/name`] = name;
  return out;
}

/** Own labels win over inherited ones; among profiles the first listed wins. */
function effectiveLabels(own: Labels, profileNames: string[], profiles: Map<string, Profile>): Labels {
  const out: Record<string, string> = {};
  for (const p of [...profileNames].reverse()) Object.assign(out, profiles.get(p)?.labelsToApply);
  return Object.assign(out, own);
}

function ipsOf(list: string[] | undefined): IpAddress[] {
  return (list ?? []).flatMap((n) => {
    const c = parseCidrOrIp(n);
    return c ? [{ family: c.family, value: c.value }] : [];
  });
}

function byKind(objects: ApiObject[], kind: string, group?: string): ApiObject[] {
  return objects.filter(
    (o) => o.kind === kind && (group === undefined || o.apiVersion.split("/")[0] === group),
  );
}

function services(objects: ApiObject[]): Service[] {
  const endpoints = new Map(
    byKind(objects, "Endpoints").map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]),
  );
  return byKind(objects, "Service").flatMap((svc) => {
    const s = svc.spec ?? {};
    if (s.type === "ExternalName") return [];
    const ep = endpoints.get(`${svc.metadata.namespace}/${svc.metadata.name}`);
    const subsets = (ep?.subsets ?? []) as {
      addresses?: { ip: string }[];
      ports?: { name?: string; port: number; protocol?: string }[];
    }[];
    const clusterIPs = ((s.clusterIPs as string[] | undefined) ?? (s.clusterIP ? [s.clusterIP] : []))
      .filter((ip) => ip !== "None")
      .flatMap((ip) => (parseIp(ip) ? [parseIp(ip)!] : []));
    const out: Service = {
      namespace: svc.metadata.namespace ?? "default",
      name: svc.metadata.name!,
      clusterIPs,
      externalIPs: ipsOf(s.externalIPs),
      externalLocal: s.externalTrafficPolicy === "Local",
      ports: ((s.ports ?? []) as { name?: string; protocol?: string; port: number; nodePort?: number }[]).map(
        (p) => ({
          name: p.name ?? "",
          protocol: protocolNumber(p.protocol ?? "TCP") ?? 6,
          port: p.port,
          ...(p.nodePort ? { nodePort: p.nodePort } : {}),
          backends: subsets.flatMap((sub) => {
            const port = (sub.ports ?? []).find((x) => (x.name ?? "") === (p.name ?? ""));
            if (!port) return [];
            return (sub.addresses ?? []).flatMap((a) =>
              parseIp(a.ip) ? [{ ip: parseIp(a.ip)!, port: port.port }] : [],
            );
          }),
        }),
      ),
    };
    return [out];
  });
}

function nodes(objects: ApiObject[]): ClusterNode[] {
  return byKind(objects, "Node", "v1").map((n) => ({
    name: n.metadata.name!,
    ips: ((n.status?.addresses ?? []) as { type: string; address: string }[])
      .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
      .flatMap((a) => (parseIp(a.address) ? [parseIp(a.address)!] : [])),
  }));
}

/** Everything the engine needs, from a snapshot of stored objects (any order, any kinds). */
export function buildPolicyModel(objects: ApiObject[]): PolicyModel {
  const profiles = new Map<string, Profile>();
  profiles.set(DEFAULT_ALLOW_PROFILE, {
    name: DEFAULT_ALLOW_PROFILE,
    ingress: [ALLOW_ALL],
    egress: [ALLOW_ALL],
    labelsToApply: {},
  });
  for (const ns of byKind(objects, "Namespace")) {
    const name = ns.metadata.name!;
    profiles.set(`kns.${name}`, {
      name: `kns.${name}`,
      ingress: [ALLOW_ALL],
      egress: [ALLOW_ALL],
      labelsToApply: prefixLabels(ns.metadata.labels, NAMESPACE_PREFIX, name),
    });
  }
  for (const sa of byKind(objects, "ServiceAccount")) {
    const ns = sa.metadata.namespace ?? "default";
    const name = `ksa.${ns}.${sa.metadata.name}`;
    profiles.set(name, {
      name,
      ingress: [],
      egress: [],
      labelsToApply: prefixLabels(sa.metadata.labels, SERVICE_ACCOUNT_PREFIX, sa.metadata.name!),
    });
  }
  for (const p of byKind(objects, "Profile", "projectcalico.org")) {
    const s = p.spec ?? {};
    profiles.set(p.metadata.name!, {
      name: p.metadata.name!,
      ingress: (s.ingress ?? []).map((r: Record<string, unknown>, i: number) => convertRule(r, i, "")),
      egress: (s.egress ?? []).map((r: Record<string, unknown>, i: number) => convertRule(r, i, "")),
      labelsToApply: s.labelsToApply ?? {},
    });
  }

  const endpoints: Endpoint[] = [];
  for (const wep of byKind(objects, "WorkloadEndpoint")) {
    const s = wep.spec ?? {};
    const ns = wep.metadata.namespace ?? "default";
    const profileNames: string[] = s.profiles ?? [];
    const own: Record<string, string> = { ...(wep.metadata.labels ?? {}), [NAMESPACE_LABEL]: ns };
    endpoints.push({
      id: `wep:${ns}/${wep.metadata.name}`,
      kind: "workload",
      name: wep.metadata.name!,
      namespace: ns,
      ...(s.pod ? { pod: s.pod } : {}),
      node: s.node ?? "",
      ...(s.interfaceName ? { interfaceName: s.interfaceName } : {}),
      labels: effectiveLabels(own, profileNames, profiles),
      ips: ipsOf(s.ipNetworks),
      ports: ((s.ports ?? []) as { name: string; protocol?: string; port: number }[]).map((p) => ({
        name: p.name,
        protocol: protocolNumber(p.protocol ?? "TCP") ?? 6,
        port: p.port,
      })),
      profiles: profileNames,
    });
  }
  for (const hep of byKind(objects, "HostEndpoint")) {
    const s = hep.spec ?? {};
    const profileNames: string[] = s.profiles ?? [];
    endpoints.push({
      id: `hep:${hep.metadata.name}`,
      kind: "host",
      name: hep.metadata.name!,
      node: s.node ?? "",
      ...(s.interfaceName ? { interfaceName: s.interfaceName } : {}),
      labels: effectiveLabels(hep.metadata.labels ?? {}, profileNames, profiles),
      ips: ipsOf(s.expectedIPs),
      ports: ((s.ports ?? []) as { name: string; protocol: string; port: number }[]).map((p) => ({
        name: p.name,
        protocol: protocolNumber(p.protocol) ?? 6,
        port: p.port,
      })),
      profiles: profileNames,
    });
  }

  const networkSets: NetworkSet[] = [];
  for (const set of [...byKind(objects, "NetworkSet"), ...byKind(objects, "GlobalNetworkSet")]) {
    const ns = set.kind === "NetworkSet" ? (set.metadata.namespace ?? "default") : undefined;
    const own: Record<string, string> = { ...(set.metadata.labels ?? {}) };
    if (ns) own[NAMESPACE_LABEL] = ns;
    networkSets.push({
      id: ns ? `netset:${ns}/${set.metadata.name}` : `gnetset:${set.metadata.name}`,
      name: set.metadata.name!,
      ...(ns ? { namespace: ns } : {}),
      labels: ns ? effectiveLabels(own, [`kns.${ns}`], profiles) : own,
      nets: ((set.spec?.nets ?? []) as string[]).flatMap((n) =>
        parseCidrOrIp(n) ? [parseCidrOrIp(n) as Cidr] : [],
      ),
    });
  }

  const policies: Policy[] = [
    ...byKind(objects, "NetworkPolicy", "networking.k8s.io").map((np) =>
      toPolicy(k8sNetworkPolicyToCalico(np), "KubernetesNetworkPolicy"),
    ),
    ...byKind(objects, "NetworkPolicy", "projectcalico.org").map((np) => toPolicy(np, "NetworkPolicy")),
    ...byKind(objects, "GlobalNetworkPolicy").map((np) => toPolicy(np, "GlobalNetworkPolicy")),
  ];

  const tierObjects = new Map(byKind(objects, "Tier").map((t) => [t.metadata.name!, t]));
  const tierNames = new Set(["default", ...tierObjects.keys(), ...policies.map((p) => p.tier)]);
  const tiers: Tier[] = [...tierNames].map((name) => {
    const t = tierObjects.get(name);
    const order = t?.spec?.order ?? (name === "default" ? 1_000_000 : undefined);
    return {
      name,
      ...(order !== undefined ? { order } : {}),
      defaultAction: t?.spec?.defaultAction ?? "Deny",
      exists: t !== undefined || name === "default",
    };
  });

  return {
    endpoints: endpoints.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    policies: sortPolicies(policies),
    tiers: sortTiers(tiers),
    profiles,
    networkSets,
    services: services(objects),
    nodes: nodes(objects),
    host: hostSettings(byKind(objects, "FelixConfiguration").find((f) => f.metadata.name === "default")),
  };
}
