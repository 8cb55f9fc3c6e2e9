import type { Endpoint, PolicyModel } from "../../policy/index.ts";
import { type HostInterface, renderHostEndpointChains } from "./felix-host-endpoints.ts";
import {
  ACCEPT_MARK,
  ALL_MARKS,
  ChainRenderer,
  ChainTable,
  type FelixOrigins,
  hexMark,
  renderEndpointChain,
  Sets,
} from "./felix-rules.ts";
import {
  type FelixTunnels,
  renderTunnelInputRules,
  renderTunnelMasquerade,
  vxlanNotrackRule,
  workloadEncapDropRules,
} from "./felix-tunnel-rules.ts";
import { lengthLimitedName } from "./names.ts";

export interface FelixIptables {
  /** `iptables-restore --noflush` payload: raw, mangle, filter and nat chains, plus the jumps from the built-in chains. */
  restore: string;
  /** `ipset restore` payload for the sets the rules reference. */
  ipsets: string;
  /** Why a rule or endpoint was left out (features Felix has that this renderer does not). */
  unsupported: string[];
  /** What Felix ignores with a warning in its log (the sim ignores it too, so nothing is missing). */
  warnings: string[];
  /** By table then chain name: the origin of each rule in that chain, by 1-based rule number as loaded. */
  origins: FelixOrigins;
}

export interface FelixInput {
  model: PolicyModel;
  node: string;
  /** Pools with natOutgoing, and every pool (the `cali40masq-ipam-pools` / `cali40all-ipam-pools` sets). */
  masqueradePools: string[];
  allPools: string[];
  /** The node's own interfaces (not workload veths), which host endpoints are matched against. */
  interfaces?: HostInterface[];
  /** The node's IPIP, VXLAN and WireGuard parts (felix-tunnel-rules.ts); absent: no tunnel rules. */
  tunnels?: FelixTunnels;
}

/** Workload chains: `cali-tw-`/`cali-fw-` per local endpoint, the dispatch chains, `cali-wl-to-host`. */
function renderWorkloads(
  r: ChainRenderer,
  filter: ChainTable,
  local: Endpoint[],
  encapDrops: string[],
): void {
  const fromDispatch = filter.chain("cali-from-wl-dispatch");
  const toDispatch = filter.chain("cali-to-wl-dispatch");
  for (const e of local) {
    const iface = e.interfaceName!;
    const subject = `${e.namespace}/${e.pod ?? e.name}`;
    renderEndpointChain(r, filter, {
      chain: lengthLimitedName("cali-tw-", iface),
      endpoint: e,
      subject,
      direction: "ingress",
      type: "normal",
      allowAction: "ACCEPT",
    });
    renderEndpointChain(r, filter, {
      chain: lengthLimitedName("cali-fw-", iface),
      endpoint: e,
      subject,
      direction: "egress",
      type: "normal",
      allowAction: "ACCEPT",
      afterClear: encapDrops,
    });
    filter.add(fromDispatch, `-i ${iface} -g ${lengthLimitedName("cali-fw-", iface)}`);
    filter.add(toDispatch, `-o ${iface} -g ${lengthLimitedName("cali-tw-", iface)}`);
  }
  filter.add(fromDispatch, '-m comment --comment "Unknown interface" -j DROP');
  filter.add(toDispatch, '-m comment --comment "Unknown interface" -j DROP');
  const toHost = r.model.host.defaultEndpointToHostAction;
  filter.add("cali-wl-to-host", `-j ${fromDispatch}`);
  filter.add(
    "cali-wl-to-host",
    `-m comment --comment "Configured DefaultEndpointToHostAction" -j ${toHost === "Drop" ? "DROP" : toHost === "Accept" ? "ACCEPT" : "RETURN"}`,
    {
      kind: "default-action",
      direction: "egress",
      action: toHost === "Drop" ? "deny" : "allow",
    },
  );
}

/** The top-level chains of static.go (without IPIP/VXLAN/WireGuard/IPVS, which tortie does not run). */
function renderStatic(filter: ChainTable, mangle: ChainTable, raw: ChainTable, notrack?: string): void {
  const all = `0x0/${hexMark(ALL_MARKS)}`;
  // filter cali-INPUT: workloads to cali-wl-to-host; what raw or mangle accepted; host endpoint policy.
  filter.add("cali-INPUT", "-i cali+ -g cali-wl-to-host");
  filter.add("cali-INPUT", `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`);
  filter.add("cali-INPUT", `-j MARK --set-xmark ${all}`);
  filter.add("cali-INPUT", "-j cali-from-host-endpoint");
  filter.add(
    "cali-INPUT",
    `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
  );
  // filter cali-FORWARD: forward host endpoint policy unless raw/pre-DNAT accepted, workloads, then egress.
  filter.add("cali-FORWARD", `-j MARK --set-xmark 0x0/${hexMark(ALL_MARKS & ~0x10000)}`);
  filter.add("cali-FORWARD", "-m mark --mark 0x0/0x10000 -j cali-from-hep-forward");
  filter.add("cali-FORWARD", "-i cali+ -j cali-from-wl-dispatch");
  filter.add("cali-FORWARD", "-o cali+ -j cali-to-wl-dispatch");
  filter.add("cali-FORWARD", "-j cali-to-hep-forward");
  filter.add("cali-FORWARD", "-j cali-cidr-block");
  filter.chain("cali-cidr-block");
  // filter cali-OUTPUT: host to local workloads is not policed; DNAT'd traffic is policed in mangle POSTROUTING.
  filter.add("cali-OUTPUT", `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`);
  filter.add("cali-OUTPUT", "-o cali+ -j RETURN");
  filter.add("cali-OUTPUT", `-j MARK --set-xmark ${all}`);
  filter.add("cali-OUTPUT", "-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint");
  filter.add(
    "cali-OUTPUT",
    `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
  );
  filter.builtins.push(
    '-I FORWARD 1 -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD',
    '-I INPUT 1 -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT',
    '-I OUTPUT 1 -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT',
    `-A FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
    `-A FORWARD -m comment --comment "cali:mp77cMpurHhyjLrM" -j MARK --set-xmark ${ACCEPT_MARK}`,
  );
  // mangle cali-PREROUTING: established flows, raw's accepts, pre-DNAT policy.
  mangle.add("cali-PREROUTING", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
  mangle.add("cali-PREROUTING", `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`);
  mangle.add("cali-PREROUTING", "-j cali-from-host-endpoint");
  mangle.add(
    "cali-PREROUTING",
    `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j ACCEPT`,
  );
  // mangle cali-POSTROUTING: normal egress policy for host traffic that was DNAT'd (forwarded traffic is marked).
  mangle.add("cali-POSTROUTING", `-m mark --mark ${ACCEPT_MARK} -j RETURN`);
  mangle.add("cali-POSTROUTING", `-j MARK --set-xmark ${all}`);
  mangle.add("cali-POSTROUTING", "-m conntrack --ctstate DNAT -j cali-to-host-endpoint");
  mangle.add(
    "cali-POSTROUTING",
    `-m comment --comment "Host endpoint policy accepted packet." -m mark --mark ${ACCEPT_MARK} -j RETURN`,
  );
  mangle.builtins.push(
    '-I PREROUTING 1 -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
    '-I POSTROUTING 1 -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING',
  );
  // raw: mark workload traffic (no host endpoint policy for it), untracked policy, accept what it allowed.
  raw.add("cali-PREROUTING", `-j MARK --set-xmark ${all}`);
  if (notrack) raw.add("cali-PREROUTING", notrack);
  raw.add("cali-PREROUTING", "-i cali+ -j MARK --set-xmark 0x80000/0x80000");
  raw.add("cali-PREROUTING", "-m mark --mark 0x0/0x80000 -j cali-from-host-endpoint");
  raw.add("cali-PREROUTING", `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`);
  raw.add("cali-OUTPUT", `-j MARK --set-xmark ${all}`);
  raw.add("cali-OUTPUT", "-j cali-to-host-endpoint");
  if (notrack) raw.add("cali-OUTPUT", notrack);
  raw.add("cali-OUTPUT", `-m mark --mark ${ACCEPT_MARK} -j ACCEPT`);
  raw.builtins.push(
    '-I PREROUTING 1 -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
    '-I OUTPUT 1 -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT',
  );
}

/**
 * Felix's iptables rules for one node (reference §5): workload chains with their tiers, policies and profiles,
 * host endpoint chains in filter, mangle (pre-DNAT) and raw (doNotTrack), failsafe chains, the top-level chains
 * and NAT outgoing. `origins` names the policy rule, profile rule or default behind each deciding rule.
 */
export function renderFelixIptables(input: FelixInput): FelixIptables {
  const { model, node } = input;
  const sets = new Sets(model);
  const r = new ChainRenderer(model, sets);
  const filter = new ChainTable("filter");
  const mangle = new ChainTable("mangle");
  const raw = new ChainTable("raw");
  const local = model.endpoints
    .filter((e) => e.kind === "workload" && e.node === node && e.interfaceName)
    .sort((a, b) => (a.interfaceName! < b.interfaceName! ? -1 : 1));
  renderWorkloads(r, filter, local, workloadEncapDropRules(input.tunnels ?? {}));
  renderHostEndpointChains(r, { filter, mangle, raw }, node, input.interfaces ?? []);
  const tunnels = input.tunnels ?? {};
  renderTunnelInputRules(filter, sets, tunnels);
  renderStatic(filter, mangle, raw, vxlanNotrackRule(tunnels));
  if (
    !input.interfaces &&
    model.endpoints.some((e) => e.kind === "host" && e.node === node && e.interfaceName !== "*")
  )
    r.unsupported.add(`host endpoints on ${node}: the node's interfaces are unknown, so only "*" applies`);

  const nat = new ChainTable("nat");
  nat.add("cali-POSTROUTING", `-j ${nat.chain("cali-nat-outgoing")}`);
  renderTunnelMasquerade(nat, tunnels);
  if (input.masqueradePools.length) {
    const masq = sets.fixed("cali40masq-ipam-pools", input.masqueradePools);
    const allPools = sets.fixed("cali40all-ipam-pools", input.allPools);
    nat.add(
      "cali-nat-outgoing",
      `-m set --match-set ${masq} src -m set ! --match-set ${allPools} dst -j MASQUERADE --random-fully`,
    );
  }
  nat.builtins.push('-I POSTROUTING 1 -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING');
  return {
    restore: `${[...raw.restore(), ...mangle.restore(), ...filter.restore(), ...nat.restore()].join("\n")}\n`,
    ipsets: sets.lines.length ? `${sets.lines.join("\n")}\n` : "",
    unsupported: [...r.unsupported],
    warnings: [...r.warnings],
    origins: { filter: filter.origins(), mangle: mangle.origins(), raw: raw.origins() },
  };
}
