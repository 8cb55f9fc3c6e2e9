/**
 * What Felix leaves in iptables in eBPF mode (felix/dataplane/linux/int_dataplane.go `setUpIptablesBPF`,
 * felix/rules/static.go `StaticBPFModeRawChains`, `StaticRawOutputChain`, `StaticNATPostroutingChains`,
 * felix/rules/nat.go `makeNATOutgoingRuleBPF`, felix/rules/dispatch.go `WorkloadInterfaceAllowChains`):
 *
 * - filter: no cali-INPUT/cali-FORWARD/cali-OUTPUT and no workload or policy chains (the BPF programs enforce
 *   policy). Rules inserted in FORWARD accept what the programs pre-approved, drop workload traffic the programs
 *   never saw, mark flows Linux conntrack already knows, and let traffic to a known workload (cali-to-wl-dispatch)
 *   and from workloads through; INPUT handles flows that pre-date the programs and drops unseen workload traffic;
 * - nat: cali-POSTROUTING masquerades the programs' loopback SNAT and, in cali-nat-outgoing, what the programs
 *   marked for NAT outgoing (no IP sets: the program decided from the pools);
 * - raw: the bypass (XDP untracked policy) goto, the mark on traffic to the host, and the untracked-egress chain.
 *
 * Marks are the BPF programs' (felix/bpf/tc/defs/defs.go), not iptables mode's policy marks.
 */

import { ACCEPT_MARK, ALL_MARKS, ChainTable, hexMark } from "./felix-rules.ts";
import type { FelixTunnels } from "./felix-tunnel-rules.ts";

/** The BPF programs' skb marks (felix/bpf/tc/defs/defs.go). */
export const BPF_MARKS = {
  seen: 0x01000000,
  seenBypass: 0x03000000,
  seenFallThrough: 0x05000000,
  seenBypassXdp: 0x03500000,
  seenNatOutgoing: 0x01800000,
  seenNatOutgoingMask: 0x01f00000,
  seenMasq: 0x03600000,
  seenMasqMask: 0x03f00000,
  seenSkipFib: 0x01100000,
  conntrackEstablished: 0x08000000,
  all: 0x1ff00000,
} as const;

export interface FelixBpfInput {
  /** The node's local workload interfaces (`cali…`), each with a BPF program attached. */
  workloadInterfaces: string[];
  /** Some IP pool has natOutgoing (Felix's masq manager renders the rule only then). */
  natOutgoing: boolean;
  /** FelixConfiguration defaultEndpointToHostAction (Accept adds an INPUT accept for seen workload traffic). */
  endpointToHostAction: "Drop" | "Accept" | "Return";
  /** The node's tunnels: VXLAN's raw NOTRACK and WireGuard's INPUT accept stay in iptables. */
  tunnels?: FelixTunnels;
}

function mark(value: number, mask: number = value): string {
  return `${hexMark(value)}/${hexMark(mask)}`;
}

/** The iptables-restore payload (raw, filter, nat) Felix programs in eBPF mode. */
export function renderFelixBpfIptables(input: FelixBpfInput): string {
  const raw = new ChainTable("raw");
  const filter = new ChainTable("filter");
  const nat = new ChainTable("nat");
  const m = BPF_MARKS;
  const tunnels = input.tunnels ?? {};

  // raw PREROUTING: XDP-approved untracked traffic, and the host's own traffic marked as tracked.
  raw.add(
    "cali-PREROUTING",
    `-m comment --comment "Jump to target for packets with Bypass mark" -m mark --mark ${mark(m.seenBypassXdp, 0xffffffff)} -g cali-untracked-policy`,
  );
  raw.add(
    "cali-PREROUTING",
    `-m comment --comment "Mark traffic towards the host - it is TRACKed" -m addrtype --dst-type LOCAL -j MARK --set-xmark ${mark(m.seenSkipFib)}`,
  );
  raw.add("cali-untracked-policy", `-j MARK --set-xmark ${mark(0, m.all)}`);
  raw.add("cali-untracked-policy", "-j NOTRACK");
  // raw OUTPUT: untracked (doNotTrack) egress policy, then what it allowed skips the BPF programs' policy.
  raw.add("cali-OUTPUT", `-j MARK --set-xmark ${mark(0, ALL_MARKS)}`);
  raw.add("cali-OUTPUT", `-j ${raw.chain("cali-to-host-endpoint")}`);
  if (tunnels.vxlan) raw.add("cali-OUTPUT", `-p udp -m udp --dport ${tunnels.vxlan.port} -j NOTRACK`);
  raw.add(
    "cali-OUTPUT",
    `-m mark --mark ${ACCEPT_MARK} -j MARK --set-xmark ${mark(m.seenBypass, 0xffffffff)}`,
  );
  raw.add("cali-OUTPUT", `-m mark --mark ${mark(m.seenBypass, 0xffffffff)} -j ACCEPT`);
  raw.builtins.push("-A PREROUTING -j cali-PREROUTING", "-A OUTPUT -j cali-OUTPUT");

  // filter: the dispatch chain lists the workloads whose programs are in place.
  const dispatch = filter.chain("cali-to-wl-dispatch");
  for (const iface of [...input.workloadInterfaces].sort()) filter.add(dispatch, `-o ${iface} -j ACCEPT`);
  filter.add(dispatch, '-m comment --comment "Unknown interface" -j DROP');
  const established = `-m comment --comment "Mark pre-established flows." -m conntrack --ctstate RELATED,ESTABLISHED -j MARK --set-xmark ${mark(m.conntrackEstablished)}`;
  const inputRules: string[] = [
    `-m comment --comment "Accept packets from flows that pre-date BPF." -m mark --mark ${mark(m.seenFallThrough)} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-p tcp -m comment --comment "REJECT/rst packets from unknown TCP flows." -m mark --mark ${mark(m.seenFallThrough)} -j REJECT --reject-with tcp-reset`,
    `-m comment --comment "DROP packets from unknown non-TCP flows." -m mark --mark ${mark(m.seenFallThrough)} -j DROP`,
  ];
  if (input.endpointToHostAction === "Accept")
    inputRules.push(`-i cali+ -m mark --mark ${mark(m.seen)} -j ACCEPT`);
  inputRules.push(`-i cali+ -m mark ! --mark ${mark(m.seen)} -j DROP`);
  if (input.endpointToHostAction !== "Accept" && tunnels.wireguard)
    inputRules.push(
      `-p udp -m comment --comment "Allow incoming IPv4 Wireguard packets" -m multiport --dports ${tunnels.wireguard.port} -m addrtype --dst-type LOCAL -j ACCEPT`,
    );
  const forwardRules = [
    `-m comment --comment "Pre-approved by BPF programs." -m mark --mark ${mark(m.seenBypass)} -j ACCEPT`,
    `-i cali+ -m comment --comment "From workload without BPF seen mark" -m mark ! --mark ${mark(m.seen)} -j DROP`,
    established,
    `-o cali+ -m comment --comment "To workload, check workload is known." -j ${dispatch}`,
    '-i cali+ -m comment --comment "To workload, mark has already been verified." -j ACCEPT',
    '-i bpfout.cali -m comment --comment "From bpfout.cali device, mark verified, accept." -j ACCEPT',
  ];
  // InsertOrAppendRules inserts: the rules come first in the built-in chains, in this order.
  filter.builtins.push(
    ...inputRules.map((r, i) => `-I INPUT ${i + 1} ${r}`),
    ...forwardRules.map((r, i) => `-I FORWARD ${i + 1} ${r}`),
    `-I OUTPUT 1 ${established}`,
  );

  // nat: the programs' loopback SNAT, then NAT outgoing on the programs' mark.
  nat.add(
    "cali-POSTROUTING",
    `-m comment --comment "BPF loopback SNAT" -m mark --mark ${mark(m.seenMasq, m.seenMasqMask)} -j MASQUERADE`,
  );
  nat.add("cali-POSTROUTING", `-j ${nat.chain("cali-nat-outgoing")}`);
  if (input.natOutgoing)
    nat.add(
      "cali-nat-outgoing",
      `-m mark --mark ${mark(m.seenNatOutgoing, m.seenNatOutgoingMask)} -j MASQUERADE --random-fully`,
    );
  nat.builtins.push("-I POSTROUTING 1 -j cali-POSTROUTING");
  return `${[...raw.restore(), ...filter.restore(), ...nat.restore()].join("\n")}\n`;
}

/**
 * The policy the BPF programs enforce, as plain data: the filter table of Felix's iptables-mode rendering (its
 * cali-tw-/cali-fw-/cali-pi-/cali-po- and host endpoint chains), which the sim's BPF program runs in a private
 * netfilter at the endpoint's hook; it is never loaded into the node's iptables.
 */
export function felixPolicyProgram(iptablesModeRestore: string): string {
  const start = iptablesModeRestore.indexOf("*filter\n");
  if (start < 0) return "";
  const end = iptablesModeRestore.indexOf("\nCOMMIT\n", start);
  return `${iptablesModeRestore.slice(start, end)}\nCOMMIT\n`;
}
