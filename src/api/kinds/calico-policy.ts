import * as z from "zod";
import type { FieldProblem } from "../../lib/index.ts";
import { parseSelector, selectorUsesGlobal } from "../../selector/index.ts";
import type { KindDef } from "../kind.ts";
import type { ApiObject } from "../object.ts";
import {
  bool,
  calicoFieldError,
  calicoPort,
  calicoTagError,
  int,
  lazySchema,
  netString,
  num,
  obj,
  opaque,
  selectorString,
  str,
  strList,
  strMap,
} from "../schema-helpers.ts";

const G = "projectcalico.org";
const V = "v3";

const protocol = lazySchema(() =>
  z.union([z.enum(["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"]), int.min(1).max(255)]),
);
const icmp = lazySchema(() =>
  obj({ type: int.min(0).max(254).optional(), code: int.min(0).max(255).optional() }),
);

const entityRule = lazySchema(() =>
  obj({
    nets: z.array(netString).max(256).optional(),
    notNets: z.array(netString).max(256).optional(),
    selector: selectorString.optional(),
    notSelector: selectorString.optional(),
    namespaceSelector: selectorString.optional(),
    ports: z.array(calicoPort).max(50).optional(),
    notPorts: z.array(calicoPort).max(50).optional(),
    serviceAccounts: obj({ names: strList.optional(), selector: selectorString.optional() }).optional(),
    services: obj({ name: str, namespace: str.optional() }).optional(),
  }),
);

const rule = lazySchema(() =>
  obj({
    action: str,
    ipVersion: z.union([z.literal(4), z.literal(6)]).optional(),
    protocol: protocol().optional(),
    notProtocol: protocol().optional(),
    icmp: icmp().optional(),
    notICMP: icmp().optional(),
    source: entityRule().optional(),
    destination: entityRule().optional(),
    http: obj({ methods: strList.optional(), paths: z.array(opaque).optional() }).optional(),
    metadata: obj({ annotations: strMap.optional() }).optional(),
  }),
);

type Rule = z.infer<ReturnType<typeof rule>>;

function checkRules(
  rules: Rule[] | undefined,
  dir: "ingress" | "egress",
  global: boolean,
  out: FieldProblem[],
): void {
  for (const [i, r] of (rules ?? []).entries()) {
    const path = `spec.${dir}[${i}]`;
    if (!["Allow", "Deny", "Log", "Pass"].includes(r.action))
      out.push({ path: `${path}.action`, message: calicoTagError("Action", r.action, "action") });
    const portProto = r.protocol === "TCP" || r.protocol === "UDP" || r.protocol === "SCTP";
    for (const side of ["source", "destination"] as const) {
      const e = r[side];
      if (!e) continue;
      if ((e.ports?.length || e.notPorts?.length) && !portProto)
        out.push({
          path: `${path}.${side}.ports`,
          message: calicoFieldError(
            "Protocol",
            r.protocol ?? "<nil>",
            "rules that specify ports must set protocol to TCP or UDP or SCTP",
          ),
        });
      if (e.services) {
        if (e.selector || e.notSelector || e.namespaceSelector || e.nets || e.notNets || e.serviceAccounts)
          out.push({
            path: `${path}.${side}.services`,
            message: "cannot specify services with other entity fields",
          });
        if (side === "destination" && (e.ports || e.notPorts))
          out.push({
            path: `${path}.destination.services`,
            message: "cannot specify ports with a service selector",
          });
        if ((side === "destination") !== (dir === "egress"))
          out.push({
            path: `${path}.${side}.services`,
            message: `${side} services are only allowed on ${side === "destination" ? "egress" : "ingress"} rules`,
          });
        if (global && !e.services.namespace)
          out.push({
            path: `${path}.${side}.services.namespace`,
            message: "namespace is required for services in a GlobalNetworkPolicy",
          });
      }
    }
    for (const field of ["icmp", "notICMP"] as const) {
      const v = r[field];
      if (!v) continue;
      if (r.protocol !== "ICMP" && r.protocol !== "ICMPv6")
        out.push({
          path: `${path}.${field}`,
          message: calicoFieldError(
            "Protocol",
            r.protocol ?? "<nil>",
            "rules that specify ICMP fields must set protocol to ICMP",
          ),
        });
      if (v.code !== undefined && v.type === undefined)
        out.push({ path: `${path}.${field}.code`, message: "ICMP code specified without an ICMP type" });
    }
    if (r.http && (r.action !== "Allow" || (r.protocol !== undefined && r.protocol !== "TCP")))
      out.push({
        path: `${path}.http`,
        message: calicoFieldError(
          "Protocol",
          r.protocol ?? "<nil>",
          "rules that specify HTTP fields must set protocol to TCP or empty",
        ),
      });
  }
}

/** Calico's defaultPolicyTypesField: no egress rules → Ingress; egress only → Egress; both → both. */
function defaultTypes(o: ApiObject): void {
  const s = o.spec;
  s.tier ??= "default";
  if (!s.types || s.types.length === 0) {
    const hasIngress = (s.ingress ?? []).length > 0;
    const hasEgress = (s.egress ?? []).length > 0;
    s.types = hasEgress ? (hasIngress ? ["Ingress", "Egress"] : ["Egress"]) : ["Ingress"];
  }
  o.metadata.labels = { ...o.metadata.labels, "projectcalico.org/tier": s.tier };
}

function checkTieredName(o: ApiObject, out: FieldProblem[]): void {
  const tier = o.spec.tier ?? "default";
  const name = o.metadata.name ?? "";
  // Calico v3.31: policies in other tiers are named `<tier>.<name>`; `knp.default.` is reserved for Kubernetes policies.
  if (tier !== "default" && !name.startsWith(`${tier}.`))
    out.push({
      path: "metadata.name",
      message: `policy name ${name} must be prefixed with its tier name "${tier}."`,
    });
  if (name.startsWith("knp.default."))
    out.push({
      path: "metadata.name",
      message: "names starting with knp.default. are reserved for Kubernetes network policies",
    });
}

const policyCommon = lazySchema(() => ({
  tier: str.optional(),
  order: num.optional(),
  selector: selectorString.max(1024).optional(),
  serviceAccountSelector: selectorString.optional(),
  types: z
    .array(z.enum(["Ingress", "Egress"]))
    .min(1)
    .max(2)
    .optional(),
  ingress: z.array(rule()).max(1024).optional(),
  egress: z.array(rule()).max(1024).optional(),
  performanceHints: z.array(z.enum(["AssumeNeededOnEveryNode"])).optional(),
}));

export const NetworkPolicy: KindDef = {
  group: G,
  version: V,
  kind: "NetworkPolicy",
  plural: "networkpolicies",
  shortNames: ["cnp", "caliconetworkpolicy", "caliconetworkpolicies"],
  calicoctlNames: ["networkpolicy", "networkpolicies", "policy", "np", "policies", "pol", "pols"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({ spec: obj(policyCommon()) }),
  defaults: defaultTypes,
  check(o, out) {
    checkTieredName(o, out);
    checkRules(o.spec.ingress, "ingress", false, out);
    checkRules(o.spec.egress, "egress", false, out);
  },
};

export const GlobalNetworkPolicy: KindDef = {
  group: G,
  version: V,
  kind: "GlobalNetworkPolicy",
  plural: "globalnetworkpolicies",
  shortNames: ["gnp", "cgnp", "calicoglobalnetworkpolicies"],
  calicoctlNames: ["globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      ...policyCommon(),
      namespaceSelector: selectorString.optional(),
      doNotTrack: bool.optional(),
      preDNAT: bool.optional(),
      applyOnForward: bool.optional(),
    }),
  }),
  defaults: defaultTypes,
  check(o, out) {
    const s = o.spec;
    checkTieredName(o, out);
    // libcalico-go validator.go, validateGlobalNetworkPolicy.
    if (s.preDNAT && s.doNotTrack)
      out.push({
        path: "spec.preDNAT",
        message: calicoFieldError(
          "PolicySpec.PreDNAT",
          "true",
          "PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec",
        ),
      });
    if (s.preDNAT && (s.egress ?? []).length > 0)
      out.push({
        path: "spec.egress",
        message: calicoFieldError(
          "PolicySpec.Egress",
          s.egress,
          "PreDNAT PolicySpec cannot have any Egress rules",
        ),
      });
    else if (s.preDNAT && (s.types ?? []).includes("Egress"))
      out.push({
        path: "spec.types",
        message: calicoFieldError(
          "PolicySpec.Types",
          s.types,
          "PreDNAT PolicySpec cannot have 'egress' Type",
        ),
      });
    if ((s.preDNAT || s.doNotTrack) && !s.applyOnForward)
      out.push({
        path: "spec.applyOnForward",
        message: calicoFieldError(
          "PolicySpec.ApplyOnForward",
          "false",
          "ApplyOnForward must be true if either PreDNAT or DoNotTrack is true, for a given PolicySpec",
        ),
      });
    for (const f of ["selector", "serviceAccountSelector", "namespaceSelector"] as const) {
      if (s[f] && selectorUsesGlobal(parseSelector(s[f]).ast))
        out.push({
          path: `spec.${f}`,
          message: calicoFieldError(
            f[0]!.toUpperCase() + f.slice(1),
            s[f],
            "global() can only be used in an EntityRule namespaceSelector",
          ),
        });
    }
    checkRules(s.ingress, "ingress", true, out);
    checkRules(s.egress, "egress", true, out);
  },
};

export const Tier: KindDef = {
  group: G,
  version: V,
  kind: "Tier",
  plural: "tiers",
  calicoctlNames: ["tier", "tiers"],
  namespaced: false,
  nameRule: "dns1123-label",
  body: () => ({
    spec: obj({ order: num.optional(), defaultAction: z.enum(["Deny", "Pass"]).optional() }).optional(),
  }),
  defaults(o) {
    o.spec ??= {};
    o.spec.defaultAction ??= "Deny";
    if (o.metadata.name === "default") o.spec.order ??= 1_000_000;
  },
  check(o, out) {
    const fixed: Record<string, [number, string]> = {
      "kube-admin": [1000, "Pass"],
      default: [1_000_000, "Deny"],
      "kube-baseline": [10_000_000, "Pass"],
    };
    const f = fixed[o.metadata.name ?? ""];
    if (f && (o.spec.order !== f[0] || o.spec.defaultAction !== f[1]))
      out.push({
        path: "spec",
        message: `tier ${o.metadata.name} is protected: order must be ${f[0]} and defaultAction ${f[1]}`,
      });
  },
};

const netsSpec = lazySchema(() =>
  obj({ nets: z.array(netString).optional(), allowedEgressDomains: strList.optional() }),
);

export const NetworkSet: KindDef = {
  group: G,
  version: V,
  kind: "NetworkSet",
  plural: "networksets",
  calicoctlNames: ["networkset", "networksets", "netset", "netsets"],
  namespaced: true,
  nameRule: "dns1123-subdomain",
  body: () => ({ spec: netsSpec().optional() }),
};

export const GlobalNetworkSet: KindDef = {
  group: G,
  version: V,
  kind: "GlobalNetworkSet",
  plural: "globalnetworksets",
  calicoctlNames: ["globalnetworkset", "globalnetworksets"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({ spec: netsSpec().optional() }),
};

export const HostEndpoint: KindDef = {
  group: G,
  version: V,
  kind: "HostEndpoint",
  plural: "hostendpoints",
  calicoctlNames: ["hostendpoint", "hostendpoints", "hep", "heps"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      node: str.optional(),
      interfaceName: str.optional(),
      expectedIPs: z.array(netString).optional(),
      profiles: strList.optional(),
      ports: z
        .array(obj({ name: str, protocol: z.enum(["TCP", "UDP", "SCTP"]), port: int.min(1).max(65535) }))
        .optional(),
    }),
  }),
  check(o, out) {
    if (!o.spec.node) out.push({ path: "spec.node", message: "node is required" });
    if (!o.spec.interfaceName && (o.spec.expectedIPs ?? []).length === 0)
      out.push({ path: "spec", message: "at least one of interfaceName or expectedIPs must be specified" });
  },
};

export const Profile: KindDef = {
  group: G,
  version: V,
  kind: "Profile",
  plural: "profiles",
  calicoctlNames: ["profile", "profiles", "pro", "pros"],
  namespaced: false,
  body: () => ({
    spec: obj({
      ingress: z.array(rule()).optional(),
      egress: z.array(rule()).optional(),
      labelsToApply: strMap.optional(),
    }).optional(),
  }),
  managedBy: "Profiles are derived from namespaces and service accounts",
};

export const WorkloadEndpoint: KindDef = {
  group: G,
  version: V,
  kind: "WorkloadEndpoint",
  plural: "workloadendpoints",
  calicoctlNames: ["workloadendpoint", "workloadendpoints", "wep", "weps"],
  namespaced: true,
  body: () => ({
    spec: obj({
      orchestrator: str.optional(),
      workload: str.optional(),
      node: str.optional(),
      containerID: str.optional(),
      pod: str.optional(),
      endpoint: str.optional(),
      serviceAccountName: str.optional(),
      ipNetworks: strList.optional(),
      ipNATs: z.array(opaque).optional(),
      ipv4Gateway: str.optional(),
      ipv6Gateway: str.optional(),
      profiles: strList.optional(),
      interfaceName: str.optional(),
      mac: str.optional(),
      ports: z.array(opaque).optional(),
      allowSpoofedSourcePrefixes: strList.optional(),
    }),
  }),
  managedBy: "WorkloadEndpoints are written by the CNI step when pods start",
};

export const calicoPolicyKinds: KindDef[] = [
  NetworkPolicy,
  GlobalNetworkPolicy,
  Tier,
  NetworkSet,
  GlobalNetworkSet,
  HostEndpoint,
  Profile,
  WorkloadEndpoint,
];
