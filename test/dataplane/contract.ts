/**
 * The contract both kernels keep (calc/node-dataplane-types.ts `DataplaneKernel`): the two-host fixture applied,
 * then each namespace's routes, iptables rules, ipsets and links queried in the normal form and compared with
 * what the description says. test/dataplane/contract.test.ts runs it against the sim's kernel and the real one.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { ClusterDataplane, DataplaneKernel, KernelQuery } from "../../src/calc/index.ts";
import { wireguardKeyPair } from "../../src/control/wireguard-keys.ts";
import { TUNNEL_NODES, type TunnelMode, tunnelCluster } from "../fixtures/dataplane/tunnels.ts";

/** The fixture under the given cluster name (a kernel test picks a unique one). */
export function fixtureDataplane(cluster = "fixture"): ClusterDataplane {
  const d = JSON.parse(
    readFileSync(new URL("../fixtures/dataplane/two-hosts.json", import.meta.url), "utf8"),
  ) as ClusterDataplane;
  d.cluster = cluster;
  return d;
}

/** What every kernel reports for the fixture, in the normal form (`normaliseKernelQuery`). */
export const EXPECTED: Record<string, Partial<Record<KernelQuery, string>>> = {
  node1: {
    routes: `10.244.1.2 dev cali00000001aa scope link
10.244.2.0/24 via 192.168.100.12 dev eth0
192.168.100.0/24 dev eth0 proto kernel scope link src 192.168.100.11
blackhole 10.244.99.0/24
default via 192.168.100.1 dev eth0`,
    iptables: `*filter
:FORWARD ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:TT-COUNT - [0:0]
:TT-FWD - [0:0]
[0:0] -A FORWARD -j TT-COUNT
[0:0] -A FORWARD -j TT-FWD
[0:0] -A TT-COUNT -p icmp -m comment --comment "counts pings"
[0:0] -A TT-FWD -m set --match-set tt-pods dst -j ACCEPT
[0:0] -A TT-FWD -m set --match-set tt-pods src -j ACCEPT
COMMIT
*nat
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:PREROUTING ACCEPT [0:0]
:TT-POSTROUTING - [0:0]
[0:0] -A POSTROUTING -j TT-POSTROUTING
[0:0] -A TT-POSTROUTING -d 192.168.100.0/24 -o eth0 -j RETURN
COMMIT`,
    ipsets: `create tt-pods hash:net
add tt-pods 10.244.1.0/24
add tt-pods 10.244.2.0/24`,
    links: `cali00000001aa UP ee:ee:ee:ee:ee:ee
eth0 UP 02:00:c0:a8:64:11
lo UNKNOWN 00:00:00:00:00:00`,
  },
  "default/pod-1": {
    routes: `169.254.1.1 dev eth0 scope link
default via 169.254.1.1 dev eth0`,
    iptables: "",
    ipsets: "",
    links: `eth0 UP 0a:58:0a:f4:01:02
lo UNKNOWN 00:00:00:00:00:00`,
  },
  node2: {
    routes: `10.244.1.0/24 via 192.168.100.11 dev eth0
10.244.2.2 dev cali00000002aa scope link
192.168.100.0/24 dev eth0 proto kernel scope link src 192.168.100.12
blackhole 10.244.99.0/24
default via 192.168.100.1 dev eth0`,
    iptables: `*filter
:FORWARD ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:TT-COUNT - [0:0]
:TT-FWD - [0:0]
[0:0] -A FORWARD -j TT-COUNT
[0:0] -A FORWARD -j TT-FWD
[0:0] -A TT-COUNT -p icmp -m comment --comment "counts pings"
[0:0] -A TT-FWD -m set --match-set tt-pods dst -j ACCEPT
[0:0] -A TT-FWD -m set --match-set tt-pods src -j ACCEPT
COMMIT
*nat
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:PREROUTING ACCEPT [0:0]
:TT-POSTROUTING - [0:0]
[0:0] -A POSTROUTING -j TT-POSTROUTING
[0:0] -A TT-POSTROUTING -d 192.168.100.0/24 -o eth0 -j RETURN
COMMIT`,
    ipsets: `create tt-pods hash:net
add tt-pods 10.244.1.0/24
add tt-pods 10.244.2.0/24`,
    links: `cali00000002aa UP ee:ee:ee:ee:ee:ee
eth0 UP 02:00:c0:a8:64:12
lo UNKNOWN 00:00:00:00:00:00`,
  },
  "default/pod-2": {
    routes: `169.254.1.1 dev eth0 scope link
default via 169.254.1.1 dev eth0`,
    iptables: "",
    ipsets: "",
    links: `eth0 UP 0a:58:0a:f4:02:02
lo UNKNOWN 00:00:00:00:00:00`,
  },
};

export interface ContractKernel {
  kernel: DataplaneKernel;
  /** Why it cannot run here (the suite is skipped with this message). */
  unavailable?: string;
  cleanup?: () => Promise<void>;
}

export async function queryAll(
  k: DataplaneKernel,
  d: ClusterDataplane,
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const h of d.hosts)
    for (const ns of h.namespaces) {
      out[ns.name] = {};
      for (const what of ["routes", "iptables", "ipsets", "links"] as const)
        out[ns.name]![what] = await k.query(ns.name, what);
    }
  return out;
}

export function assertContract(got: Record<string, Record<string, string>>): void {
  for (const [ns, byWhat] of Object.entries(EXPECTED))
    for (const [what, text] of Object.entries(byWhat)) assert.equal(got[ns]?.[what], text, `${ns} ${what}`);
}

/**
 * The fixture changed the ways a sync changes a host: on node1 a chain renamed (the builtin chain that jumps to it
 * reloaded), a policy chain whose name holds "/", FORWARD's policy set to DROP, TT-FWD's rules reordered and the
 * rules naming the set `tt-pods` deleted with the set, a new set; on node2 its pod stopped (namespace, cali veth,
 * /32 route and process gone). A kernel given it with the fixture as `previous` must end as one built from it.
 */
export function changedFixture(d: ClusterDataplane): ClusterDataplane {
  const next = structuredClone(d);
  const node1 = next.hosts[0]!.namespaces[0]!;
  node1.iptables[0] = [
    "*filter",
    ":FORWARD DROP [0:0]",
    ":TT-FWD - [0:0]",
    ":TT-PINGS - [0:0]",
    ":cali-pi-gnp/allow-pods - [0:0]",
    "-A FORWARD -j TT-PINGS",
    "-A FORWARD -j TT-FWD",
    '-A TT-PINGS -p icmp -m comment --comment "counts pings"',
    "-A TT-FWD -m set --match-set tt-nodes src -j ACCEPT",
    "-A TT-FWD -j cali-pi-gnp/allow-pods",
    "-A TT-FWD -d 10.244.0.0/16 -j ACCEPT",
    "-A cali-pi-gnp/allow-pods -s 10.244.0.0/16 -j ACCEPT",
    "COMMIT",
    "",
  ].join("\n");
  node1.ipsets = "create tt-nodes hash:ip family inet\nadd tt-nodes 192.168.100.12\n";
  const node2 = next.hosts[1]!;
  const pod = node2.namespaces.pop()!;
  const host = node2.namespaces[0]!;
  const cali = host.links.find((l) => l.peer?.namespace === pod.name)!.name;
  host.links = host.links.filter((l) => l.name !== cali);
  host.routes = host.routes.filter((r) => r.dev !== cali);
  delete host.sysctls[`net.ipv4.conf.${cali}.proxy_arp`];
  node2.processes = node2.processes.filter((p) => p.namespace !== pod.name);
  return next;
}

/** The queries the tunnel fixtures are compared on. */
export const TUNNEL_QUERIES = ["routes", "links", "rules", "neighbours", "fdb", "wireguard"] as const;

/** A tunnel fixture (test/fixtures/dataplane/tunnels.ts) under a cluster name. */
export function tunnelFixture(mode: TunnelMode, cluster = `tunnels-${mode}`): ClusterDataplane {
  const d = tunnelCluster(mode);
  d.cluster = cluster;
  return d;
}

/**
 * What every kernel reports for a node of a tunnel fixture, in the normal form: the real kernel's output, pinned
 * (vxlan and WireGuard devices are `UNKNOWN`, as the kernel keeps no carrier state for them; the WireGuard dump's
 * interface line hides the private key and its peer lines' counters are zeroed).
 */
export function tunnelExpected(
  mode: "vxlan" | "wireguard",
  index: 0 | 1,
): Record<(typeof TUNNEL_QUERIES)[number], string> {
  const node = TUNNEL_NODES[index];
  const peer = TUNNEL_NODES[1 - index]!;
  const n = node.name.slice(-1);
  const defaults = [
    "0: from all lookup local",
    "32766: from all lookup main",
    "32767: from all lookup default",
  ];
  const base = {
    routes: [
      `${node.podIp} dev cali${n} scope link`,
      mode === "vxlan"
        ? `${peer.block} via ${peer.tunnelIp} dev vxlan.calico proto 80 onlink`
        : `${peer.block} dev wireguard.cali table 1 proto 80 scope link`,
      `192.168.0.0/24 dev eth0 proto kernel scope link src ${node.ip}`,
      "default via 192.168.0.1 dev eth0",
    ]
      .sort()
      .join("\n"),
    links: [
      `cali${n} UP ee:ee:ee:ee:ee:ee`,
      `eth0 UP ${node.uplinkMac}`,
      "lo UNKNOWN 00:00:00:00:00:00",
      mode === "vxlan" ? `vxlan.calico UNKNOWN ${node.vtepMac}` : "wireguard.cali UNKNOWN",
    ].join("\n"),
  };
  if (mode === "vxlan")
    return {
      ...base,
      rules: defaults.join("\n"),
      neighbours: `${peer.tunnelIp} dev vxlan.calico lladdr ${peer.vtepMac} PERMANENT`,
      fdb: `${peer.vtepMac} dev vxlan.calico dst ${peer.ip} self permanent`,
      wireguard: "",
    };
  const own = wireguardKeyPair(`uid-${node.name}`);
  const theirs = wireguardKeyPair(`uid-${peer.name}`);
  return {
    ...base,
    rules: [...defaults, "99: not from all fwmark 0x100000/0x100000 lookup 1"].join("\n"),
    neighbours: "",
    fdb: "",
    wireguard: [
      `wireguard.cali\t(hidden)\t${own.publicKey}\t51820\t0x100000`,
      `wireguard.cali\t${theirs.publicKey}\t(none)\t${peer.ip}:51820\t${peer.block}\t0\t0\t0\toff`,
    ].join("\n"),
  };
}

/** The host namespaces' tunnel queries. */
export async function queryTunnels(
  k: DataplaneKernel,
  d: ClusterDataplane,
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const h of d.hosts) {
    out[h.host] = {};
    for (const what of TUNNEL_QUERIES) out[h.host]![what] = await k.query(h.host, what);
  }
  return out;
}

export function assertTunnelContract(
  mode: "vxlan" | "wireguard",
  got: Record<string, Record<string, string>>,
): void {
  for (const index of [0, 1] as const) {
    const node = TUNNEL_NODES[index].name;
    for (const [what, text] of Object.entries(tunnelExpected(mode, index)))
      assert.equal(got[node]?.[what], text, `${mode} ${node} ${what}`);
  }
}
