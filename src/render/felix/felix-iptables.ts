import { formatCidr, formatIp } from "../../net/index.ts";
import type {
  Endpoint,
  EntityMatch,
  Policy,
  PolicyModel,
  PolicyRule,
  PortSpec,
  Profile,
  Tier,
} from "../../policy/index.ts";
import type { Selector } from "../../selector/index.ts";
import { ipsetName, lengthLimitedName } from "./names.ts";

/** Felix's mark bits with the default mask 0xffff0000 (reference §5.2). */
export const FELIX_MARKS = { accept: 0x10000, pass: 0x20000, scratch0: 0x80000 } as const;

const ACCEPT = "0x10000/0x10000";
const PASS = "0x20000/0x20000";

export interface FelixIptables {
  /** `iptables-restore --noflush` payload: filter and nat chains, plus the jumps from the built-in chains. */
  restore: string;
  /** `ipset restore` payload for the sets the rules reference. */
  ipsets: string;
  /** Why a rule or endpoint was left out (features Felix has that this renderer does not). */
  unsupported: string[];
}

export interface FelixInput {
  model: PolicyModel;
  node: string;
  /** Pools with natOutgoing, and every pool (the `cali40masq-ipam-pools` / `cali40all-ipam-pools` sets). */
  masqueradePools: string[];
  allPools: string[];
}

class Sets {
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

function protoName(n: number): string {
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
 * the meaning). Returns [] for rules that never match (HTTP, IPv6).
 */
function renderRule(rule: PolicyRule, sets: Sets, unsupported: string[], where: string): string[][] {
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
    for (const n of (m.notNets ?? []).filter((c) => c.family === 4).map(formatCidr))
      words.push(`! ${flag} ${n}`);
    if (m.selector) words.push(`-m set --match-set ${sets.selector(m.selector)} ${dir}`);
    if (m.notSelector) words.push(`-m set ! --match-set ${sets.selector(m.notSelector)} ${dir}`);
    if (m.services) unsupported.push(`${where}: service matches are not supported yet; the rule is left out`);
    if (m.services) return undefined;
    const portFlag = dir === "src" ? "sports" : "dports";
    if (m.notPorts?.length) {
      if (m.notPorts.some((p) => p.kind === "name")) {
        unsupported.push(`${where}: named notPorts are not supported yet; the rule is left out`);
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

function actionRules(chain: string, rule: PolicyRule, matches: string[]): string[] {
  const m = matches.length ? `${matches.join(" ")} ` : "";
  switch (rule.action) {
    case "Allow":
      return [
        `-A ${chain} ${m}-j MARK --set-xmark ${ACCEPT}`,
        `-A ${chain} -m mark --mark ${ACCEPT} -m comment --comment "Return if policy accepted" -j RETURN`,
      ];
    case "Pass":
      return [
        `-A ${chain} ${m}-j MARK --set-xmark ${PASS}`,
        `-A ${chain} -m mark --mark ${PASS} -m comment --comment "Return if policy passed" -j RETURN`,
      ];
    case "Deny":
      return [`-A ${chain} ${m}-j DROP`];
    case "Log":
      return [`-A ${chain} ${m}-j LOG --log-prefix "calico-packet: " --log-level 5`];
  }
}

function ruleChain(
  chain: string,
  rules: PolicyRule[],
  sets: Sets,
  unsupported: string[],
  where: string,
): string[] {
  const out: string[] = [];
  for (const r of rules)
    for (const matches of renderRule(r, sets, unsupported, `${where} rule ${r.index}`))
      out.push(...actionRules(chain, r, matches));
  return out;
}

/** The tiers whose policies select `e` for a direction, in order, each with its policies in order. */
function tiersFor(
  model: PolicyModel,
  e: Endpoint,
  direction: "ingress" | "egress",
): { tier: Tier; policies: Policy[] }[] {
  const out: { tier: Tier; policies: Policy[] }[] = [];
  for (const tier of model.tiers) {
    const policies = model.policies.filter(
      (p) =>
        p.tier === tier.name &&
        p[direction] !== undefined &&
        !p.preDNAT &&
        !p.doNotTrack &&
        p.selector.matches(e.labels),
    );
    if (policies.length) out.push({ tier, policies });
  }
  return out;
}

/**
 * Felix's iptables rules for one node's workload endpoints (reference §5): dispatch chains, `cali-tw-`/`cali-fw-`
 * per endpoint with its tiers, policies and profiles, `cali-pi-`/`cali-po-` policy chains, `cali-pri-`/`cali-pro-`
 * profile chains, `cali-wl-to-host`, and NAT outgoing. Host endpoints are not rendered yet.
 */
export function renderFelixIptables(input: FelixInput): FelixIptables {
  const { model, node } = input;
  const sets = new Sets(model);
  const unsupported: string[] = [];
  const chains = new Set<string>();
  const rules: string[] = [];
  const chain = (name: string) => {
    chains.add(name);
    return name;
  };
  const local = model.endpoints
    .filter((e) => e.kind === "workload" && e.node === node && e.interfaceName)
    .sort((a, b) => (a.interfaceName! < b.interfaceName! ? -1 : 1));
  const policyChains = new Map<string, string>();
  const profileChains = new Map<string, string>();
  const policyChain = (p: Policy, dir: "ingress" | "egress") => {
    const name = lengthLimitedName(dir === "ingress" ? "cali-pi-" : "cali-po-", policyId(p));
    if (!policyChains.has(name)) {
      policyChains.set(name, name);
      chain(name);
      rules.push(...ruleChain(name, p[dir] ?? [], sets, unsupported, `policy ${policyId(p)} ${dir}`));
    }
    return name;
  };
  const profileChain = (profile: Profile, dir: "ingress" | "egress") => {
    const name = lengthLimitedName(dir === "ingress" ? "cali-pri-" : "cali-pro-", profile.name);
    if (!profileChains.has(name)) {
      profileChains.set(name, name);
      chain(name);
      rules.push(...ruleChain(name, profile[dir], sets, unsupported, `profile ${profile.name} ${dir}`));
    }
    return name;
  };
  const fromDispatch = chain("cali-from-wl-dispatch");
  const toDispatch = chain("cali-to-wl-dispatch");
  const dispatch: string[] = [];
  for (const e of local) {
    const iface = e.interfaceName!;
    for (const dir of ["ingress", "egress"] as const) {
      const name = chain(lengthLimitedName(dir === "ingress" ? "cali-tw-" : "cali-fw-", iface));
      const body: string[] = [
        `-A ${name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        `-A ${name} -m conntrack --ctstate INVALID -j DROP`,
        `-A ${name} -j MARK --set-xmark 0x0/0x30000`,
      ];
      if (dir === "egress")
        body.push(
          `-A ${name} -p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 4789 -j DROP`,
        );
      for (const { tier, policies } of tiersFor(model, e, dir)) {
        body.push(
          `-A ${name} -m comment --comment "Start of tier ${tier.name}" -j MARK --set-xmark 0x0/0x20000`,
        );
        for (const p of policies) {
          body.push(`-A ${name} -m mark --mark 0x0/0x20000 -j ${policyChain(p, dir)}`);
          body.push(
            `-A ${name} -m mark --mark ${ACCEPT} -m comment --comment "Return if policy accepted" -j RETURN`,
          );
        }
        if (tier.defaultAction !== "Pass")
          body.push(
            `-A ${name} -m mark --mark 0x0/0x20000 -m comment --comment "End of tier ${tier.name}. Drop if no policies passed packet" -j DROP`,
          );
      }
      for (const profileName of e.profiles) {
        const profile = model.profiles.get(profileName);
        if (!profile) continue;
        body.push(`-A ${name} -j ${profileChain(profile, dir)}`);
        body.push(
          `-A ${name} -m mark --mark ${ACCEPT} -m comment --comment "Return if profile accepted" -j RETURN`,
        );
      }
      body.push(`-A ${name} -m comment --comment "Drop if no profiles matched" -j DROP`);
      rules.push(...body);
    }
    dispatch.push(`-A ${fromDispatch} -i ${iface} -g ${lengthLimitedName("cali-fw-", iface)}`);
    dispatch.push(`-A ${toDispatch} -o ${iface} -g ${lengthLimitedName("cali-tw-", iface)}`);
  }
  dispatch.push(`-A ${fromDispatch} -m comment --comment "Unknown interface" -j DROP`);
  dispatch.push(`-A ${toDispatch} -m comment --comment "Unknown interface" -j DROP`);
  rules.push(...dispatch);
  chain("cali-FORWARD");
  chain("cali-INPUT");
  chain("cali-wl-to-host");
  rules.push(
    `-A cali-FORWARD -i cali+ -m comment --comment "From workload to anywhere" -j ${fromDispatch}`,
    `-A cali-FORWARD -o cali+ -m comment --comment "To workload" -j ${toDispatch}`,
    `-A cali-FORWARD -m mark --mark ${ACCEPT} -m comment --comment "Policy explicitly accepted packet." -j ACCEPT`,
    `-A cali-INPUT -i cali+ -g cali-wl-to-host`,
    `-A cali-wl-to-host -j ${fromDispatch}`,
  );
  const toHost = model.host.defaultEndpointToHostAction;
  rules.push(
    `-A cali-wl-to-host -m comment --comment "Configured DefaultEndpointToHostAction" -j ${toHost === "Drop" ? "DROP" : toHost === "Accept" ? "ACCEPT" : "RETURN"}`,
  );
  if (model.endpoints.some((e) => e.kind === "host" && e.node === node))
    unsupported.push(`host endpoints on ${node}: host endpoint policy is not rendered yet`);
  const filter = [
    "*filter",
    ...[...chains].sort().map((c) => `:${c} - [0:0]`),
    ...rules,
    '-I FORWARD 1 -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD',
    '-I INPUT 1 -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
    "COMMIT",
  ];
  const nat = ["*nat", ":cali-POSTROUTING - [0:0]", ":cali-nat-outgoing - [0:0]"];
  nat.push("-A cali-POSTROUTING -j cali-nat-outgoing");
  if (input.masqueradePools.length) {
    const masq = sets.fixed("cali40masq-ipam-pools", input.masqueradePools);
    const all = sets.fixed("cali40all-ipam-pools", input.allPools);
    nat.push(
      `-A cali-nat-outgoing -m set --match-set ${masq} src -m set ! --match-set ${all} dst -j MASQUERADE --random-fully`,
    );
  }
  nat.push('-I POSTROUTING 1 -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING', "COMMIT");
  return {
    restore: `${[...filter, ...nat].join("\n")}\n`,
    ipsets: sets.lines.length ? `${sets.lines.join("\n")}\n` : "",
    unsupported,
  };
}
