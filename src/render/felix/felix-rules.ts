/**
 * What every Felix table shares: IP sets for selectors and named ports, one Calico rule as iptables match words,
 * policy and profile chains, and a table builder that remembers where each rule came from (`RuleOrigin`).
 */
import { formatCidr, formatIp } from "../../net/index.ts";
import {
  type Endpoint,
  type EntityMatch,
  type Policy,
  PolicyIndex,
  type PolicyModel,
  type PolicyRule,
  type PortSpec,
  type Profile,
  policyInStage,
  type Stage,
  type Tier,
} from "../../policy/index.ts";
import type { Selector } from "../../selector/index.ts";
import { ipsetName, lengthLimitedName } from "./names.ts";

/** Felix's mark bits with the default mask 0xffff0000 (reference §5.2; driver.go hands out accept, pass, drop, scratch0, scratch1). */
const FELIX_MARKS = { accept: 0x10000, pass: 0x20000, scratch0: 0x80000, scratch1: 0x100000 } as const;

export const hexMark = (n: number) => `0x${n.toString(16)}`;
export const ACCEPT_MARK = `${hexMark(FELIX_MARKS.accept)}/${hexMark(FELIX_MARKS.accept)}`;
const PASS_MARK = `${hexMark(FELIX_MARKS.pass)}/${hexMark(FELIX_MARKS.pass)}`;
/** `allCalicoMarkBits()`: accept | pass | scratch0 | scratch1. */
export const ALL_MARKS = FELIX_MARKS.accept | FELIX_MARKS.pass | FELIX_MARKS.scratch0 | FELIX_MARKS.scratch1;

/** Where a rendered filter/mangle/raw rule came from, so a rule hit can be named as Calico names it. */
export interface RuleOrigin {
  kind: "policy" | "profile" | "end-of-tier" | "failsafe" | "no-profile" | "default-action";
  /** tier name (policy and end-of-tier) */
  tier?: string;
  /** v3 name as the user wrote it (k8s policies: the k8s name) */
  policy?: string;
  policyKind?: "NetworkPolicy" | "GlobalNetworkPolicy" | "KubernetesNetworkPolicy" | "Profile";
  namespace?: string;
  /** index of the rule within the policy's ingress/egress list */
  ruleIndex?: number;
  direction: "ingress" | "egress";
  action: "allow" | "deny" | "pass" | "log";
  /** the endpoint chain's subject (pod ns/name or HEP name) when applicable */
  endpoint?: string;
}

export type FelixTable = "filter" | "mangle" | "raw";

/** By table then chain name: the origin of each rule in that chain, by 1-based rule number as loaded. */
export type FelixOrigins = Record<FelixTable, Record<string, Record<number, RuleOrigin>>>;

/** One table's user chains, their rules (the text after `-A <chain> `) and the origin of each rule. */
export class ChainTable {
  readonly chains = new Map<string, { rules: string[]; origins: Record<number, RuleOrigin> }>();
  /** Lines for built-in chains (`-I INPUT 1 …`, `-A FORWARD …`), emitted after the user chains. */
  readonly builtins: string[] = [];

  constructor(readonly name: FelixTable | "nat") {}

  chain(name: string): string {
    if (!this.chains.has(name)) this.chains.set(name, { rules: [], origins: {} });
    return name;
  }

  has(name: string): boolean {
    return this.chains.has(name);
  }

  add(chain: string, body: string, origin?: RuleOrigin): void {
    this.chain(chain);
    const c = this.chains.get(chain)!;
    c.rules.push(body);
    if (origin) c.origins[c.rules.length] = origin;
  }

  /** The `iptables-restore` section: declarations (sorted), rules chain by chain, built-in lines, COMMIT. */
  restore(): string[] {
    const names = [...this.chains.keys()].sort();
    const out = [`*${this.name}`, ...names.map((c) => `:${c} - [0:0]`)];
    for (const n of names) for (const r of this.chains.get(n)!.rules) out.push(`-A ${n} ${r}`);
    out.push(...this.builtins, "COMMIT");
    return out;
  }

  origins(): Record<string, Record<number, RuleOrigin>> {
    const out: Record<string, Record<number, RuleOrigin>> = {};
    for (const [n, c] of this.chains) if (Object.keys(c.origins).length) out[n] = c.origins;
    return out;
  }
}

export class Sets {
  readonly lines: string[] = [];
  private readonly made = new Map<string, string>();
  constructor(private readonly model: PolicyModel) {}

  private create(name: string, type: string, members: string[]): string {
    if (!this.made.has(name)) {
      this.made.set(name, type);
      this.lines.push(`create ${name} ${type} family inet`);
      for (const m of [...new Set(members)].sort()) this.lines.push(`add ${name} ${m}`);
    }
    return name;
  }

  /** Every address a selector stands for: matching endpoints anywhere in the cluster, and network sets. */
  selector(sel: Selector): string {
    const key = sel.toString();
    const members: string[] = [];
    for (const e of this.model.endpoints)
      if (sel.matches(e.labels))
        for (const ip of e.ips) if (ip.family === 4) members.push(`${formatIp(ip)}/32`);
    for (const n of this.model.networkSets)
      if (sel.matches(n.labels)) for (const c of n.nets) if (c.family === 4) members.push(formatCidr(c));
    return this.create(ipsetName("s", key), "hash:net", members);
  }

  nets(nets: string[]): string {
    return this.create(ipsetName("n", `nets:${nets.join(",")}`), "hash:net", nets);
  }

  /** Felix's named-port sets: (address, protocol, port) of endpoints the selector matches with that port name. */
  namedPort(sel: Selector | undefined, port: string, protocol: number): string {
    const proto = protocol === 17 ? "udp" : protocol === 132 ? "sctp" : "tcp";
    const members: string[] = [];
    for (const e of this.model.endpoints) {
      if (sel && !sel.matches(e.labels)) continue;
      for (const np of e.ports)
        if (np.name === port && np.protocol === protocol)
          for (const ip of e.ips) if (ip.family === 4) members.push(`${formatIp(ip)},${proto}:${np.port}`);
    }
    return this.create(
      ipsetName("n", `named:${sel?.toString() ?? "all()"}:${proto}:${port}`),
      "hash:ip,port",
      members,
    );
  }

  fixed(name: string, members: string[]): string {
    return this.create(name, "hash:net", members);
  }
}

function policyId(p: Policy): string {
  if (p.kind === "KubernetesNetworkPolicy")
    return `knp/${p.namespace}/${p.name.replace(/^knp\.default\./, "")}`;
  if (p.kind === "NetworkPolicy") return `np/${p.namespace}/${p.name}`;
  return `gnp/${p.name}`;
}

export function protoName(n: number): string {
  return { 1: "icmp", 6: "tcp", 17: "udp", 132: "sctp" }[n] ?? `${n}`;
}

function portsText(ports: PortSpec[]): string[] {
  const out: string[] = [];
  for (const p of ports) if (p.kind === "range") out.push(p.min === p.max ? `${p.min}` : `${p.min}:${p.max}`);
  return out;
}

/**
 * One Calico rule as iptables rules: `match` words then the action. Several ports beyond multiport's 15 or
 * numeric ports next to named ones become several rules with the same action (ports are ORed, so this keeps
 * the meaning). Returns [] for rules that never match (HTTP, IPv6) or that cannot be rendered (reported).
 */
function renderRule(rule: PolicyRule, sets: Sets, unsupported: Set<string>, where: string): string[][] {
  if (rule.http || rule.ipVersion === 6) return [];
  const base: string[] = [];
  if (rule.protocol !== undefined) base.push(`-p ${protoName(rule.protocol)}`);
  if (rule.notProtocol !== undefined) base.push(`! -p ${protoName(rule.notProtocol)}`);
  const entity = (m: EntityMatch, dir: "src" | "dst"): string[][] | undefined => {
    const words: string[] = [];
    const flag = dir === "src" ? "-s" : "-d";
    const nets = (m.nets ?? []).filter((c) => c.family === 4).map(formatCidr);
    if ((m.nets?.length ?? 0) > 0 && nets.length === 0) return undefined;
    if (nets.length === 1) words.push(`${flag} ${nets[0]}`);
    else if (nets.length > 1) words.push(`-m set --match-set ${sets.nets(nets)} ${dir}`);
    // iptables takes one -s/-d per rule: a second CIDR test goes through a set.
    const notNets = (m.notNets ?? []).filter((c) => c.family === 4).map(formatCidr);
    if (notNets.length === 1 && nets.length !== 1) words.push(`! ${flag} ${notNets[0]}`);
    else if (notNets.length) words.push(`-m set ! --match-set ${sets.nets(notNets)} ${dir}`);
    if (m.selector) words.push(`-m set --match-set ${sets.selector(m.selector)} ${dir}`);
    if (m.notSelector) words.push(`-m set ! --match-set ${sets.selector(m.notSelector)} ${dir}`);
    if (m.services) {
      unsupported.add(`${where}: service matches are not supported yet; the rule is left out`);
      return undefined;
    }
    const portFlag = dir === "src" ? "sports" : "dports";
    if (m.notPorts?.length) {
      if (m.notPorts.some((p) => p.kind === "name")) {
        unsupported.add(`${where}: named notPorts are not supported yet; the rule is left out`);
        return undefined;
      }
      const list = portsText(m.notPorts);
      for (let i = 0; i < list.length; i += 15)
        words.push(`-m multiport ! --${portFlag} ${list.slice(i, i + 15).join(",")}`);
    }
    if (!m.ports?.length) return [words];
    const variants: string[][] = [];
    const numeric = portsText(m.ports);
    for (let i = 0; i < numeric.length; i += 15)
      variants.push([...words, `-m multiport --${portFlag} ${numeric.slice(i, i + 15).join(",")}`]);
    for (const p of m.ports)
      if (p.kind === "name")
        variants.push([
          ...words,
          `-m set --match-set ${sets.namedPort(m.selector, p.name, rule.protocol ?? 6)} ${dir},${dir}`,
        ]);
    return variants;
  };
  if (rule.icmp?.type !== undefined)
    base.push(
      `-m icmp --icmp-type ${rule.icmp.type}${rule.icmp.code !== undefined ? `/${rule.icmp.code}` : ""}`,
    );
  if (rule.notICMP?.type !== undefined)
    base.push(
      `-m icmp ! --icmp-type ${rule.notICMP.type}${rule.notICMP.code !== undefined ? `/${rule.notICMP.code}` : ""}`,
    );
  const src = entity(rule.source, "src");
  const dst = entity(rule.destination, "dst");
  if (!src || !dst) return [];
  const out: string[][] = [];
  for (const s of src) for (const d of dst) out.push([...base, ...s, ...d]);
  return out;
}

const ACTION: Record<PolicyRule["action"], RuleOrigin["action"]> = {
  Allow: "allow",
  Deny: "deny",
  Pass: "pass",
  Log: "log",
};

/** A policy chain's rules for one Calico rule: the deciding rule carries the origin; the RETURN after it is structural. */
function addActionRules(
  t: ChainTable,
  chain: string,
  rule: PolicyRule,
  matches: string[],
  origin: RuleOrigin,
): void {
  const m = matches.length ? `${matches.join(" ")} ` : "";
  const o: RuleOrigin = { ...origin, ruleIndex: rule.index, action: ACTION[rule.action] };
  switch (rule.action) {
    case "Allow":
      t.add(chain, `${m}-j MARK --set-xmark ${ACCEPT_MARK}`, o);
      t.add(
        chain,
        `-m comment --comment "Return if policy accepted" -m mark --mark ${ACCEPT_MARK} -j RETURN`,
      );
      return;
    case "Pass":
      t.add(chain, `${m}-j MARK --set-xmark ${PASS_MARK}`, o);
      t.add(chain, `-m comment --comment "Return if policy passed" -m mark --mark ${PASS_MARK} -j RETURN`);
      return;
    case "Deny":
      t.add(chain, `${m}-j DROP`, o);
      return;
    case "Log":
      t.add(chain, `${m}-j LOG --log-prefix "calico-packet: " --log-level 5`, o);
  }
}

/** The v3 name and kind a policy's origin shows. */
function policyOrigin(p: Policy, direction: "ingress" | "egress"): RuleOrigin {
  return {
    kind: "policy",
    tier: p.tier,
    policy: p.kind === "KubernetesNetworkPolicy" ? p.name.replace(/^knp\.default\./, "") : p.name,
    policyKind: p.kind,
    ...(p.namespace ? { namespace: p.namespace } : {}),
    direction,
    action: "allow",
  };
}

/**
 * The tiers whose policies select `e` for a direction at one of Felix's places, in order, each with its policies
 * in order: the policy engine's own selection, so the chains and the analysis cannot disagree about it.
 */
export function tiersFor(
  index: PolicyIndex,
  e: Endpoint,
  direction: "ingress" | "egress",
  type: EndpointChainSpec["type"],
): { tier: Tier; policies: Policy[] }[] {
  const stage: Stage = type === "normal" ? (e.kind === "host" ? "host" : "workload") : type;
  return index.tiersFor(e, direction, (p) => policyInStage(stage, p));
}

/** Everything one table's endpoint chains need to render policy and profile chains once each. */
export class ChainRenderer {
  readonly unsupported = new Set<string>();
  /** What Felix itself ignores with a warning (the sim does the same; nothing is left out). */
  readonly warnings = new Set<string>();
  readonly index: PolicyIndex;
  constructor(
    readonly model: PolicyModel,
    readonly sets: Sets,
  ) {
    this.index = new PolicyIndex(model);
  }

  /** `cali-pi-`/`cali-po-`: the policy's rules, rendered once per table. */
  policyChain(t: ChainTable, p: Policy, dir: "ingress" | "egress"): string {
    const name = lengthLimitedName(dir === "ingress" ? "cali-pi-" : "cali-po-", policyId(p));
    if (t.has(name)) return name;
    t.chain(name);
    const where = `policy ${policyId(p)} ${dir}`;
    const origin = policyOrigin(p, dir);
    for (const r of p[dir] ?? [])
      for (const matches of renderRule(r, this.sets, this.unsupported, `${where} rule ${r.index}`))
        addActionRules(t, name, r, matches, origin);
    return name;
  }

  /** `cali-pri-`/`cali-pro-`: the profile's rules, rendered once per table. */
  profileChain(
    t: ChainTable,
    profile: Profile | { name: string; missing: true },
    dir: "ingress" | "egress",
  ): string {
    const name = lengthLimitedName(dir === "ingress" ? "cali-pri-" : "cali-pro-", profile.name);
    if (t.has(name)) return name;
    t.chain(name);
    const where = `profile ${profile.name} ${dir}`;
    const origin: RuleOrigin = {
      kind: "profile",
      policy: profile.name,
      policyKind: "Profile",
      direction: dir,
      action: "allow",
    };
    if ("missing" in profile) {
      // A profile an endpoint names but that does not exist drops everything, as the policy engine says.
      t.add(name, '-m comment --comment "Profile does not exist" -j DROP', { ...origin, action: "deny" });
      return name;
    }
    for (const r of profile[dir])
      for (const matches of renderRule(r, this.sets, this.unsupported, `${where} rule ${r.index}`))
        addActionRules(t, name, r, matches, origin);
    return name;
  }
}

/** How an endpoint chain ends and what it allows with (endpoints.go, `endpointIptablesChain`). */
export interface EndpointChainSpec {
  chain: string;
  endpoint: Endpoint;
  /** The endpoint as origins name it: `ns/pod` or the HEP's name. */
  subject: string;
  direction: "ingress" | "egress";
  type: "normal" | "forward" | "pre-dnat" | "untracked";
  /** The action for established traffic: ACCEPT (filter, pre-DNAT mangle) or RETURN (mangle egress). */
  allowAction: "ACCEPT" | "RETURN";
  failsafeChain?: string;
  /** Extra rules after the mark clear (workload egress: the VXLAN and IPIP drops). */
  afterClear?: string[];
}

/**
 * One endpoint chain: conntrack rules (not untracked), the failsafe jump, the mark clear, each tier's policy
 * jumps and its end-of-tier drop (normal and forward chains), "Allow forwarded traffic by default" for forward
 * chains without tiers, and profiles plus "Drop if no profiles matched" for normal chains.
 */
export function renderEndpointChain(r: ChainRenderer, t: ChainTable, spec: EndpointChainSpec): void {
  const { chain, direction: dir, type } = spec;
  t.chain(chain);
  if (type !== "untracked") {
    if (spec.allowAction === "RETURN")
      t.add(chain, `-m conntrack --ctstate RELATED,ESTABLISHED -j MARK --set-xmark ${ACCEPT_MARK}`);
    t.add(chain, `-m conntrack --ctstate RELATED,ESTABLISHED -j ${spec.allowAction}`);
    t.add(chain, "-m conntrack --ctstate INVALID -j DROP");
  }
  if (spec.failsafeChain) t.add(chain, `-j ${spec.failsafeChain}`);
  t.add(chain, "-j MARK --set-xmark 0x0/0x30000");
  for (const rule of spec.afterClear ?? []) t.add(chain, rule);
  const tiers = tiersFor(r.index, spec.endpoint, dir, type);
  for (const { tier, policies } of tiers) {
    t.add(chain, `-m comment --comment "Start of tier ${tier.name}" -j MARK --set-xmark 0x0/0x20000`);
    for (const p of policies) {
      t.add(chain, `-m mark --mark 0x0/0x20000 -j ${r.policyChain(t, p, dir)}`);
      if (type === "untracked") t.add(chain, `-m mark --mark ${ACCEPT_MARK} -j NOTRACK`);
      t.add(
        chain,
        `-m comment --comment "Return if policy accepted" -m mark --mark ${ACCEPT_MARK} -j RETURN`,
      );
    }
    if ((type === "normal" || type === "forward") && tier.defaultAction !== "Pass")
      t.add(
        chain,
        `-m comment --comment "End of tier ${tier.name}. Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`,
        { kind: "end-of-tier", tier: tier.name, direction: dir, action: "deny", endpoint: spec.subject },
      );
  }
  if (tiers.length === 0 && type === "forward") {
    t.add(
      chain,
      `-m comment --comment "Allow forwarded traffic by default" -j MARK --set-xmark ${ACCEPT_MARK}`,
    );
    t.add(chain, '-m comment --comment "Return for accepted forward traffic" -j RETURN');
  }
  if (type !== "normal") return;
  for (const profileName of spec.endpoint.profiles) {
    const profile = r.model.profiles.get(profileName) ?? { name: profileName, missing: true as const };
    t.add(chain, `-j ${r.profileChain(t, profile, dir)}`);
    t.add(chain, `-m comment --comment "Return if profile accepted" -m mark --mark ${ACCEPT_MARK} -j RETURN`);
  }
  t.add(chain, '-m comment --comment "Drop if no profiles matched" -j DROP', {
    kind: "no-profile",
    direction: dir,
    action: "deny",
    endpoint: spec.subject,
  });
}
