/**
 * Felix's static rules for its tunnels (felix/rules/static.go), rendered only while a tunnel is on, so a node
 * without IPIP, VXLAN or WireGuard gets exactly the rules it got before:
 *
 * - filter cali-INPUT, first: IPIP (protocol 4) accepted from `cali40all-hosts-net` and dropped from anyone
 *   else; VXLAN (UDP `vxlanPort`, 4789 by default, to a local address) accepted from `cali40all-vxlan-net` and dropped otherwise;
 *   WireGuard's UDP port to a local address accepted;
 * - raw cali-PREROUTING and cali-OUTPUT: VXLAN's UDP flows untracked (each direction picks its own source port);
 * - nat cali-POSTROUTING: packets leaving a tunnel device from a local address that is not the device's own
 *   are masqueraded to the tunnel address (with VXLAN on, UDP only to ports clear of the VXLAN port);
 * - filter cali-fw-*: VXLAN and IPIP packets from workloads dropped (these two whether or not a tunnel is on).
 */
import type { ChainTable, Sets } from "./felix-rules.ts";

/** What a node's tunnels need in its rules (absent parts are off). */
export interface FelixTunnels {
  /** IPIP: the underlay addresses of every Calico node (`cali40all-hosts-net`); `tunl0` has an address. */
  ipip?: { hostNets: string[]; hasAddress: boolean };
  /** VXLAN: the remote VTEPs' underlay addresses (`cali40all-vxlan-net`), the port, whether the device is up. */
  vxlan?: { sourceNets: string[]; port: number; hasAddress: boolean };
  /** WireGuard: its listening port and device. */
  wireguard?: { port: number; device: string };
  /**
   * What the workload egress chains drop (felix/rules/endpoints.go): VXLAN to `vxlanPort` and IPIP from pods, unless
   * FelixConfiguration allowVXLANPacketsFromWorkloads / allowIPIPPacketsFromWorkloads. Absent: both dropped, 4789.
   */
  fromWorkloads?: { vxlanPort: number; allowVxlan: boolean; allowIpip: boolean };
}

/** FelixConfiguration vxlanPort's default. */
export const DEFAULT_VXLAN_PORT = 4789;

/** The rules after the mark clear in each `cali-fw-*` chain: encapsulated packets from workloads are dropped. */
export function workloadEncapDropRules(t: FelixTunnels): string[] {
  const w = t.fromWorkloads ?? { vxlanPort: DEFAULT_VXLAN_PORT, allowVxlan: false, allowIpip: false };
  const rules: string[] = [];
  if (!w.allowVxlan)
    rules.push(
      `-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports ${w.vxlanPort} -j DROP`,
    );
  if (!w.allowIpip)
    rules.push('-p 4 -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP');
  return rules;
}

export const IPIP_HOSTS_SET = "cali40all-hosts-net";
export const VXLAN_SOURCES_SET = "cali40all-vxlan-net";

/** static.go's masqPortRangeExcluding: the wider side of the port, floored at 1024. */
function portsExcluding(port: number): string {
  const lo = 1024;
  const hi = 65535;
  return port - lo >= hi - port ? `${lo}-${port - 1}` : `${port + 1}-${hi}`;
}

/** The head of filter cali-INPUT (before the workload and host endpoint rules). */
export function renderTunnelInputRules(filter: ChainTable, sets: Sets, t: FelixTunnels): void {
  if (t.ipip) {
    const hosts = sets.fixed(IPIP_HOSTS_SET, t.ipip.hostNets);
    filter.add(
      "cali-INPUT",
      `-p 4 -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set ${hosts} src -m addrtype --dst-type LOCAL -j ACCEPT`,
    );
    filter.add("cali-INPUT", '-p 4 -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP');
  }
  if (t.vxlan) {
    const sources = sets.fixed(VXLAN_SOURCES_SET, t.vxlan.sourceNets);
    const port = t.vxlan.port;
    filter.add(
      "cali-INPUT",
      `-p udp -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports ${port} -m set --match-set ${sources} src -m addrtype --dst-type LOCAL -j ACCEPT`,
    );
    filter.add(
      "cali-INPUT",
      `-p udp -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports ${port} -m addrtype --dst-type LOCAL -j DROP`,
    );
  }
  if (t.wireguard)
    filter.add(
      "cali-INPUT",
      `-p udp -m comment --comment "Allow incoming IPv4 Wireguard packets" -m multiport --dports ${t.wireguard.port} -m addrtype --dst-type LOCAL -j ACCEPT`,
    );
}

/** raw's VXLAN NOTRACK rule (static.go puts it after the mark clearing in PREROUTING, after dispatch in OUTPUT). */
export function vxlanNotrackRule(t: FelixTunnels): string | undefined {
  return t.vxlan ? `-p udp -m udp --dport ${t.vxlan.port} -j NOTRACK` : undefined;
}

/** nat cali-POSTROUTING after the jump to cali-nat-outgoing: the tunnel-source MASQUERADE rules. */
export function renderTunnelMasquerade(nat: ChainTable, t: FelixTunnels): void {
  const devices: string[] = [];
  if (t.ipip?.hasAddress) devices.push("tunl0");
  if (t.vxlan?.hasAddress) devices.push("vxlan.calico");
  if (t.wireguard) devices.push(t.wireguard.device);
  const wrongSource = "-m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL";
  for (const dev of devices) {
    if (t.vxlan)
      nat.add(
        "cali-POSTROUTING",
        `-o ${dev} -p udp ${wrongSource} -j MASQUERADE --to-ports ${portsExcluding(t.vxlan.port)} --random-fully`,
      );
    nat.add("cali-POSTROUTING", `-o ${dev} ${wrongSource} -j MASQUERADE --random-fully`);
  }
}
