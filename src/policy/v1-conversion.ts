/**
 * Calico v3 policy → Felix's v1 model (libcalico-go syncersv1/updateprocessors): policy selectors gain
 * namespace and service-account clauses, rule selectors are scoped to the policy's namespace, and
 * namespace/service-account selectors are rewritten over the `pcns.`/`pcsa.` labels profiles apply.
 */
import type { ApiObject } from "../api/index.ts";
import { maskCidr, parseCidrOrIp } from "../net/index.ts";
import { canonicalString, parseSelector, type Selector, withLabelPrefix } from "../selector/index.ts";
import type { EntityMatch, IcmpMatch, Policy, PolicyKind, PolicyRule, PortSpec } from "./model.ts";
import { protocolNumber } from "./protocols.ts";

/** Rule and spec JSON as stored; each kind's schema has already checked it. */
// biome-ignore lint/suspicious/noExplicitAny: stored specs are plain JSON
type Json = Record<string, any>;

export const NAMESPACE_LABEL = "projectcalico.org/namespace";
export const SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount";
export const NAMESPACE_PREFIX = "pcns.";
export const SERVICE_ACCOUNT_PREFIX = "pcsa.";

function prefixed(selector: string, prefix: string): string {
  return canonicalString(withLabelPrefix(parseSelector(selector).ast, prefix));
}

/** `prefixAndAppendSelector`: `(<sel>) && <prefixed other>`, or the prefixed other alone. */
function andPrefixed(selector: string, other: string, prefix: string): string {
  const p = prefixed(other, prefix);
  return selector.trim() === "" ? p : `(${selector}) && ${p}`;
}

function serviceAccountSelector(sa: { names?: string[]; selector?: string } | undefined): string {
  if (!sa) return "";
  let updated = sa.selector ? prefixed(sa.selector, SERVICE_ACCOUNT_PREFIX) : "";
  if (!sa.names?.length) return updated;
  const names = parseSelector(`${SERVICE_ACCOUNT_LABEL} in { '${sa.names.join("', '")}' }`).toString();
  if (updated !== "") updated = `(${updated}) && (${names})`;
  return updated || names;
}

/** GetEntityRuleSelector / getEndpointSelector. */
export function entitySelector(e: Json, ns: string): string {
  let nsSelector = "";
  if (e.namespaceSelector) {
    nsSelector = prefixed(e.namespaceSelector, NAMESPACE_PREFIX)
      .replaceAll("all()", `has(${NAMESPACE_LABEL})`)
      .replaceAll("global()", `!has(${NAMESPACE_LABEL})`);
  } else if (ns !== "") {
    nsSelector = `${NAMESPACE_LABEL} == '${ns}'`;
  }
  const selectors = [serviceAccountSelector(e.serviceAccounts), e.selector ?? ""].filter((s) => s !== "");
  let selector =
    selectors.length === 1 ? selectors[0]! : selectors.length > 1 ? `(${selectors.join(") && (")})` : "";
  if (nsSelector !== "" && (selector !== "" || e.notSelector || e.namespaceSelector))
    selector = selector !== "" ? `(${nsSelector}) && (${selector})` : nsSelector;
  return selector;
}

export function parsePortSpec(p: number | string): PortSpec {
  if (typeof p === "number") return { kind: "range", min: p, max: p };
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(p);
  if (m) return { kind: "range", min: Number(m[1]), max: Number(m[2] ?? m[1]) };
  return { kind: "name", name: p };
}

function nets(list: string[] | undefined, mask: boolean) {
  if (!list?.length) return undefined;
  return list.flatMap((n) => {
    const c = parseCidrOrIp(n);
    return c ? [mask ? maskCidr(c) : c] : [];
  });
}

function entity(e: Json | undefined, ns: string, isDestination: boolean): EntityMatch {
  const src = e ?? {};
  const out: EntityMatch = {};
  const sel = entitySelector(src, ns);
  if (sel !== "") out.selector = parseSelector(sel);
  if (src.notSelector) out.notSelector = parseSelector(src.notSelector);
  // Destination nets are masked to their network (NormalizeIPNets); source nets are kept as written.
  const n = nets(src.nets, isDestination);
  if (n) out.nets = n;
  const nn = nets(src.notNets, isDestination);
  if (nn) out.notNets = nn;
  if (src.ports?.length) out.ports = src.ports.map(parsePortSpec);
  if (src.notPorts?.length) out.notPorts = src.notPorts.map(parsePortSpec);
  if (src.services) out.services = { name: src.services.name, namespace: src.services.namespace || ns };
  return out;
}

export function convertRule(r: Json, index: number, ns: string): PolicyRule {
  const rule: PolicyRule = {
    index,
    action: r.action,
    source: entity(r.source, ns, false),
    destination: entity(r.destination, ns, true),
  };
  if (r.ipVersion) rule.ipVersion = r.ipVersion;
  if (r.protocol !== undefined) rule.protocol = protocolNumber(r.protocol);
  if (r.notProtocol !== undefined) rule.notProtocol = protocolNumber(r.notProtocol);
  if (r.icmp) rule.icmp = r.icmp as IcmpMatch;
  if (r.notICMP) rule.notICMP = r.notICMP as IcmpMatch;
  if (r.http) rule.http = true;
  return rule;
}

/** The policy's own selector in v1 form (networkpolicyprocessor / globalnetworkpolicyprocessor). */
export function policySelector(o: ApiObject): string {
  const s = o.spec ?? {};
  if (o.kind === "GlobalNetworkPolicy") {
    let sel: string = s.selector ?? "";
    if (s.namespaceSelector)
      sel = andPrefixed(sel, s.namespaceSelector, NAMESPACE_PREFIX).replaceAll(
        "all()",
        `has(${NAMESPACE_LABEL})`,
      );
    if (s.serviceAccountSelector)
      sel = andPrefixed(sel, s.serviceAccountSelector, SERVICE_ACCOUNT_PREFIX).replaceAll(
        "all()",
        `has(${SERVICE_ACCOUNT_LABEL})`,
      );
    return sel;
  }
  const ns = o.metadata.namespace ?? "default";
  const nsClause = `${NAMESPACE_LABEL} == '${ns}'`;
  let sel = s.selector && s.selector.trim() !== "" ? `(${s.selector}) && ${nsClause}` : nsClause;
  if (s.serviceAccountSelector)
    sel = `(${sel}) && ${prefixed(s.serviceAccountSelector, SERVICE_ACCOUNT_PREFIX)}`;
  return sel;
}

/** `types` as written, else Calico's defaulting: egress rules only → Egress; otherwise Ingress (+Egress). */
function governedTypes(s: Json): Set<string> {
  if (s.types?.length) return new Set(s.types);
  const ingress = (s.ingress ?? []).length > 0;
  const egress = (s.egress ?? []).length > 0;
  return new Set(egress ? (ingress ? ["Ingress", "Egress"] : ["Egress"]) : ["Ingress"]);
}

/** A stored Calico NetworkPolicy or GlobalNetworkPolicy (or a converted Kubernetes one) in Felix's model. */
export function toPolicy(o: ApiObject, kind: PolicyKind): Policy {
  const s = o.spec ?? {};
  const ns = o.kind === "GlobalNetworkPolicy" ? "" : (o.metadata.namespace ?? "default");
  const types = governedTypes(s);
  const selector: Selector = parseSelector(policySelector(o));
  const policy: Policy = {
    kind,
    name: o.metadata.name!,
    tier: s.tier ?? "default",
    selector,
    preDNAT: !!s.preDNAT,
    doNotTrack: !!s.doNotTrack,
    applyOnForward: !!s.applyOnForward,
  };
  if (ns !== "") policy.namespace = ns;
  if (typeof s.order === "number") policy.order = s.order;
  if (types.has("Ingress"))
    policy.ingress = (s.ingress ?? []).map((r: Json, i: number) => convertRule(r, i, ns));
  if (types.has("Egress"))
    policy.egress = (s.egress ?? []).map((r: Json, i: number) => convertRule(r, i, ns));
  return policy;
}
