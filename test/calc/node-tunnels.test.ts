/**
 * Felix's overlay and WireGuard devices in calc's host descriptions, on the lab with YAO Bank: the default pool
 * switched to IPIP (Always, CrossSubnet) or VXLAN, or WireGuard enabled, through the CLI as a user would; each
 * host's tunnel links, addresses, routes, neighbours, fdb entries and rules. The plain lab has none of them.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { DataplaneCalculator, type NamespaceSpec, type RouteSpec } from "../../src/calc/index.ts";
import { readSimInputs } from "../../src/cli/exec.ts";
import { wireguardKeyPair } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";

const harnesses: CliHarness[] = [];
after(() => {
  for (const h of harnesses) h.cleanup();
});

interface Lab {
  calc: DataplaneCalculator;
  objects: ApiObject[];
}

/** The lab after `lines`, and a calculator on what the sim would be programmed from. */
async function lab(...lines: string[]): Promise<Lab> {
  const h = new CliHarness();
  harnesses.push(h);
  for (const line of ["up --app yaobank", ...lines]) {
    const r = await h.run(line);
    assert.equal(r.code, 0, `${line}\n${r.err}`);
  }
  const { topology, objects } = await readSimInputs(h.silentContext());
  return { calc: new DataplaneCalculator({ objects, topology, features: { nfacct: true } }), objects };
}

const patchPool = (spec: string) => `calicoctl patch ippool default-ipv4-ippool -p '{"spec":${spec}}'`;
const NODES = { control: "198.19.0.1", node1: "198.19.0.2", node2: "198.19.0.3" } as const;
type NodeName = keyof typeof NODES;

function hostNs(l: Lab, node: string): NamespaceSpec {
  return l.calc.node(node).namespaces[0]!;
}
function calicoNode(l: Lab, name: string): ApiObject {
  return l.objects.find(
    (o) => o.kind === "Node" && o.apiVersion === "projectcalico.org/v3" && o.metadata.name === name,
  )!;
}
/** The node's affine blocks, from the stored IPAM blocks. */
function blocksOf(l: Lab, node: string): string[] {
  return l.objects
    .filter((o) => o.kind === "IPAMBlock" && o.spec.affinity === `host:${node}`)
    .map((o) => String(o.spec.cidr));
}
function felixRoutes(ns: NamespaceSpec): RouteSpec[] {
  return ns.routes.filter((r) => r.proto === 80);
}
/** Felix's blackhole for each of the node's own blocks (route_mgr.go blackholeRoutes): `blackhole CIDR proto 80`. */
function blackholes(l: Lab, node: string): RouteSpec[] {
  return blocksOf(l, node).map((dst) => ({ dst, type: "blackhole", proto: 80, scope: "global", metric: 0 }));
}
function remotes(node: NodeName): NodeName[] {
  return (Object.keys(NODES) as NodeName[]).filter((n) => n !== node);
}

/** The lines of a Felix restore payload's chain, without the `-A CHAIN ` prefix. */
function chainRules(ns: NamespaceSpec, table: string, chain: string): string[] {
  const payload = ns.iptables.find((p) => p.includes("cali-INPUT"))!;
  const section = payload.split(`*${table}\n`)[1]!.split("COMMIT")[0]!;
  return section
    .split("\n")
    .filter((line) => line.startsWith(`-A ${chain} `))
    .map((line) => line.slice(`-A ${chain} `.length));
}

test("the plain lab: no tunnel devices, no Felix routes, no neighbours, fdb entries, rules or tunnel iptables", async () => {
  const l = await lab();
  for (const node of Object.keys(NODES)) {
    const ns = hostNs(l, node);
    assert.equal(chainRules(ns, "filter", "cali-INPUT")[0], "-i cali+ -g cali-wl-to-host");
    assert.deepEqual(chainRules(ns, "nat", "cali-POSTROUTING"), ["-j cali-nat-outgoing"]);
    assert.doesNotMatch(ns.iptables.join(""), /NOTRACK|tunl0|vxlan|cali40all-hosts-net/);
    assert.deepEqual(
      ns.links.filter((x) => x.kind !== "uplink" && x.kind !== "veth"),
      [],
    );
    assert.deepEqual(felixRoutes(ns), []);
    assert.equal(ns.neighbours, undefined);
    assert.equal(ns.fdb, undefined);
    assert.equal(ns.rules, undefined);
  }
});

test("IPIP Always: tunl0 with the node's tunnel address, remote blocks via the node IP onlink on tunl0", async () => {
  const l = await lab(patchPool('{"ipipMode":"Always"}'));
  for (const node of Object.keys(NODES) as NodeName[]) {
    const ns = hostNs(l, node);
    const addr = calicoNode(l, node).spec.bgp.ipv4IPIPTunnelAddr;
    assert.match(addr, /^198\.19\.(1[6-9]|2[0-3])\.\d+$/);
    assert.deepEqual(
      ns.links.find((x) => x.name === "tunl0"),
      { name: "tunl0", kind: "ipip", mac: "", mtu: 1480 },
    );
    assert.ok(ns.addresses.some((a) => a.dev === "tunl0" && a.cidr === `${addr}/32`));
    const want: RouteSpec[] = [
      ...blackholes(l, node),
      ...remotes(node).flatMap((r) =>
        blocksOf(l, r).map((dst) => ({
          dst,
          type: "unicast" as const,
          proto: 80 as const,
          scope: "global" as const,
          metric: 0,
          via: NODES[r],
          dev: "tunl0",
          onlink: true,
        })),
      ),
    ];
    assert.ok(want.length >= 3, "every node has a block");
    assert.deepEqual(felixRoutes(ns), want);
    assert.deepEqual(chainRules(ns, "filter", "cali-INPUT").slice(0, 3), [
      '-p 4 -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT',
      '-p 4 -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP',
      "-i cali+ -g cali-wl-to-host",
    ]);
    assert.match(ns.ipsets, /^create cali40all-hosts-net hash:net /m);
    for (const ip of Object.values(NODES))
      assert.match(ns.ipsets, new RegExp(`^add cali40all-hosts-net ${ip}$`, "m"));
    assert.deepEqual(chainRules(ns, "nat", "cali-POSTROUTING"), [
      "-j cali-nat-outgoing",
      "-o tunl0 -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully",
    ]);
  }
});

test("IPIP Always: confd leaves the pool's routes to Felix (BIRD rejects them for the kernel)", async () => {
  const l = await lab(patchPool('{"ipipMode":"Always"}'));
  const files = Object.values(l.calc.node("node1").bird!.files).join("\n");
  assert.match(
    files,
    /if \(net ~ 198\.19\.16\.0\/21\) then \{ reject; \} # Cluster routes are handled by Felix\./,
  );
});

test("IPIP CrossSubnet: the lab's nodes share a subnet, so remote blocks go via the node IP on the uplink", async () => {
  const l = await lab(patchPool('{"ipipMode":"CrossSubnet"}'));
  const ns = hostNs(l, "node1");
  assert.ok(ns.links.some((x) => x.name === "tunl0"));
  const routes = felixRoutes(ns).filter((x) => x.type === "unicast");
  assert.ok(routes.length >= 2);
  for (const r of routes) {
    assert.equal(r.dev, "ens4");
    assert.equal(r.onlink, undefined);
    assert.ok(r.via === NODES.control || r.via === NODES.node2);
  }
});

test("programClusterRoutes Disabled on Felix: tunl0 stays, the IPIP routes are left to BIRD", async () => {
  const l = await lab(
    patchPool('{"ipipMode":"Always"}'),
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"programClusterRoutes":"Disabled"}}'`,
  );
  const ns = hostNs(l, "node1");
  assert.ok(ns.links.some((x) => x.name === "tunl0"));
  assert.deepEqual(felixRoutes(ns), []);
});

test("VXLAN Always: vxlan.calico, a permanent neighbour and fdb entry per remote VTEP, routes via the VTEPs", async () => {
  const l = await lab(patchPool('{"vxlanMode":"Always"}'));
  // Felix's MAC when the Node sets none: 0x66 then the first 5 bytes of SHA-1(node name).
  const macs: Record<NodeName, string> = {
    control: "66:2a:ee:de:80:be",
    node1: "66:f9:37:c3:7e:94",
    node2: "66:2d:bf:44:a6:8b",
  };
  const vteps = Object.fromEntries(
    (Object.keys(NODES) as NodeName[]).map((n) => [n, calicoNode(l, n).spec.ipv4VXLANTunnelAddr as string]),
  ) as Record<NodeName, string>;
  for (const node of Object.keys(NODES) as NodeName[]) {
    const ns = hostNs(l, node);
    assert.deepEqual(
      ns.links.find((x) => x.name === "vxlan.calico"),
      {
        name: "vxlan.calico",
        kind: "vxlan",
        mac: macs[node],
        mtu: 1450,
        vxlan: { vni: 4096, port: 4789, local: NODES[node], parent: "ens4" },
      },
    );
    assert.ok(ns.addresses.some((a) => a.dev === "vxlan.calico" && a.cidr === `${vteps[node]}/32`));
    assert.deepEqual(
      ns.neighbours,
      remotes(node).map((r) => ({ dev: "vxlan.calico", ip: vteps[r], mac: macs[r] })),
    );
    assert.deepEqual(
      ns.fdb,
      remotes(node).map((r) => ({ dev: "vxlan.calico", mac: macs[r], dst: NODES[r] })),
    );
    assert.deepEqual(felixRoutes(ns), [
      ...blackholes(l, node),
      ...remotes(node).flatMap((r) =>
        blocksOf(l, r).map((dst) => ({
          dst,
          type: "unicast",
          proto: 80,
          scope: "global",
          metric: 0,
          via: vteps[r],
          dev: "vxlan.calico",
          onlink: true,
        })),
      ),
    ]);
    assert.equal(ns.rules, undefined);
    assert.deepEqual(chainRules(ns, "filter", "cali-INPUT").slice(0, 2), [
      '-p udp -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports 4789 -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT',
      '-p udp -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports 4789 -m addrtype --dst-type LOCAL -j DROP',
    ]);
    for (const r of remotes(node))
      assert.match(ns.ipsets, new RegExp(`^add cali40all-vxlan-net ${NODES[r]}$`, "m"));
    assert.doesNotMatch(ns.ipsets, new RegExp(`^add cali40all-vxlan-net ${NODES[node]}$`, "m"));
    assert.equal(chainRules(ns, "raw", "cali-PREROUTING")[1], "-p udp -m udp --dport 4789 -j NOTRACK");
    assert.equal(chainRules(ns, "raw", "cali-OUTPUT")[2], "-p udp -m udp --dport 4789 -j NOTRACK");
    const wrongSource = "-m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL";
    assert.deepEqual(chainRules(ns, "nat", "cali-POSTROUTING"), [
      "-j cali-nat-outgoing",
      `-o vxlan.calico -p udp ${wrongSource} -j MASQUERADE --to-ports 4790-65535 --random-fully`,
      `-o vxlan.calico ${wrongSource} -j MASQUERADE --random-fully`,
    ]);
  }
});

test("WireGuard: wireguard.cali with the node's keys and a peer per other node, table 1 routes, the fwmark rule", async () => {
  const l = await lab(
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
  );
  for (const node of Object.keys(NODES) as NodeName[]) {
    const ns = hostNs(l, node);
    const self = calicoNode(l, node);
    const keys = wireguardKeyPair(self.metadata.uid!);
    const link = ns.links.find((x) => x.name === "wireguard.cali");
    assert.ok(link?.wireguard, `${node} has wireguard.cali`);
    assert.equal(link.kind, "wireguard");
    assert.equal(link.mtu, 1440);
    assert.equal(link.wireguard.privateKey, keys.privateKey);
    assert.equal(link.wireguard.publicKey, keys.publicKey);
    assert.equal(link.wireguard.listenPort, 51820);
    assert.equal(link.wireguard.fwmark, 0x100000);
    assert.ok(
      ns.addresses.some(
        (a) => a.dev === "wireguard.cali" && a.cidr === `${self.spec.wireguard.interfaceIPv4Address}/32`,
      ),
    );
    const peers = link.wireguard.peers;
    assert.deepEqual(
      peers.map((p) => [p.publicKey, p.endpoint]),
      remotes(node).map((r) => [calicoNode(l, r).status.wireguardPublicKey, `${NODES[r]}:51820`]),
    );
    for (const [i, r] of remotes(node).entries()) {
      const wg = `${calicoNode(l, r).spec.wireguard.interfaceIPv4Address}/32`;
      assert.deepEqual(new Set(peers[i]!.allowedIps), new Set([...blocksOf(l, r), wg]));
    }
    const tableRoutes = ns.routes.filter((r) => r.table === 1);
    assert.deepEqual(
      tableRoutes,
      peers.flatMap((p) =>
        p.allowedIps.map((dst) => ({
          dst,
          type: "unicast",
          dev: "wireguard.cali",
          proto: 80,
          scope: "link",
          metric: 0,
          table: 1,
        })),
      ),
    );
    assert.deepEqual(ns.rules, [
      { priority: 99, table: 1, fwmark: { value: 0x100000, mask: 0x100000, not: true } },
    ]);
  }
});

test("WireGuard on: confd's BIRD leaves routes to the other WireGuard nodes to Felix", async () => {
  const l = await lab(
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
  );
  const files = Object.values(l.calc.node("node1").bird!.files).join("\n");
  for (const ip of [NODES.control, NODES.node2])
    assert.match(
      files,
      new RegExp(
        `if \\(defined\\(bgp_next_hop\\) && bgp_next_hop = ${ip.replace(/\./g, "\\.")}\\) then \\{ reject; \\} # WireGuard routes handled by Felix\\.`,
      ),
    );
  assert.doesNotMatch(files, /bgp_next_hop = 198\.19\.0\.2\)/);
});

test("WireGuard off again: no device, no table 1 routes, no rule", async () => {
  const l = await lab(
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":false}}'`,
  );
  const ns = hostNs(l, "node1");
  assert.equal(
    ns.links.find((x) => x.kind === "wireguard"),
    undefined,
  );
  assert.deepEqual(
    ns.routes.filter((r) => r.table === 1),
    [],
  );
  assert.equal(ns.rules, undefined);
});

const patchFelix = (spec: string) =>
  `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":${spec}}'`;

/** The rules of a workload's egress chain `cali-fw-<veth>` after the mark clear, up to the first policy rule. */
function workloadEncapDrops(ns: NamespaceSpec): string[][] {
  const payload = ns.iptables.find((p) => p.includes("cali-INPUT"))!;
  const chains = [...new Set([...payload.matchAll(/^-A (cali-fw-\S+) /gm)].map((m) => m[1]!))];
  assert.ok(chains.length > 0, "the node runs workloads");
  return chains.map((chain) => {
    const rules = chainRules(ns, "filter", chain);
    const clear = rules.indexOf("-j MARK --set-xmark 0x0/0x30000");
    return rules.slice(clear + 1).filter((r) => r.includes("encapped packets originating in workloads"));
  });
}

test("VXLAN: Felix blackholes the node's own blocks (BIRD's kernel filter rejects VXLAN pools)", async () => {
  const l = await lab(patchPool('{"vxlanMode":"Always"}'));
  for (const node of Object.keys(NODES)) {
    const ns = hostNs(l, node);
    assert.ok(blocksOf(l, node).length > 0);
    assert.deepEqual(
      ns.routes.filter((r) => r.type === "blackhole"),
      blackholes(l, node),
    );
  }
});

test("IPIP with Felix programming routes: the own blocks are blackholed; left to BIRD: no Felix blackhole", async () => {
  const felix = await lab(patchPool('{"ipipMode":"Always"}'));
  assert.deepEqual(
    hostNs(felix, "node1").routes.filter((r) => r.type === "blackhole"),
    blackholes(felix, "node1"),
  );
  const bird = await lab(
    patchPool('{"ipipMode":"Always"}'),
    patchFelix('{"programClusterRoutes":"Disabled"}'),
  );
  assert.deepEqual(
    hostNs(bird, "node1").routes.filter((r) => r.type === "blackhole"),
    [],
  );
});

test("no encapsulation: no Felix blackhole (BIRD's `proto bird` one covers the block)", async () => {
  const l = await lab();
  assert.deepEqual(felixRoutes(hostNs(l, "node1")), []);
});

test("a disabled VXLAN pool still counts for Felix: VXLAN rules and blackholes stay (its resolvers ignore `disabled`)", async () => {
  const l = await lab(patchPool('{"vxlanMode":"Always"}'), patchPool('{"disabled":true}'));
  const ns = hostNs(l, "node1");
  // calico-node's allocateip skips disabled pools, so the VTEP address is released and no device is made.
  assert.equal(calicoNode(l, "node1").spec.ipv4VXLANTunnelAddr, undefined);
  assert.equal(
    ns.links.find((x) => x.name === "vxlan.calico"),
    undefined,
  );
  assert.deepEqual(felixRoutes(ns), blackholes(l, "node1"));
  assert.match(chainRules(ns, "filter", "cali-INPUT")[0]!, /Allow IPv4 VXLAN packets from allowed hosts/);
  assert.equal(chainRules(ns, "raw", "cali-PREROUTING")[1], "-p udp -m udp --dport 4789 -j NOTRACK");
});

test("vxlanVNI and vxlanPort: the device, the INPUT rules, NOTRACK, the masquerade ports and the workload drop", async () => {
  const l = await lab(patchPool('{"vxlanMode":"Always"}'), patchFelix('{"vxlanVNI":4097,"vxlanPort":8472}'));
  const ns = hostNs(l, "node1");
  assert.deepEqual(ns.links.find((x) => x.name === "vxlan.calico")?.vxlan, {
    vni: 4097,
    port: 8472,
    local: NODES.node1,
    parent: "ens4",
  });
  assert.deepEqual(chainRules(ns, "filter", "cali-INPUT").slice(0, 2), [
    '-p udp -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports 8472 -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT',
    '-p udp -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports 8472 -m addrtype --dst-type LOCAL -j DROP',
  ]);
  assert.equal(chainRules(ns, "raw", "cali-PREROUTING")[1], "-p udp -m udp --dport 8472 -j NOTRACK");
  assert.match(chainRules(ns, "nat", "cali-POSTROUTING")[1]!, /--to-ports 8473-65535 --random-fully$/);
  for (const drops of workloadEncapDrops(ns))
    assert.equal(
      drops[0],
      '-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 8472 -j DROP',
    );
});

test("wireguardInterfaceName: the device, its address, its table 1 routes and its masquerade use that name", async () => {
  const l = await lab(patchFelix('{"wireguardEnabled":true,"wireguardInterfaceName":"wg-calico"}'));
  const ns = hostNs(l, "node1");
  assert.deepEqual(
    ns.links.filter((x) => x.kind === "wireguard").map((x) => x.name),
    ["wg-calico"],
  );
  assert.ok(ns.addresses.some((a) => a.dev === "wg-calico"));
  const table1 = ns.routes.filter((r) => r.table === 1);
  assert.ok(table1.length >= 2);
  assert.ok(table1.every((r) => r.dev === "wg-calico"));
  assert.doesNotMatch(ns.iptables.join(""), /wireguard\.cali/);
  assert.match(chainRules(ns, "nat", "cali-POSTROUTING")[1]!, /^-o wg-calico /);
});

test("wireguardMTU: a positive value is the device's MTU; a negative one leaves the detected 1440", async () => {
  const set = await lab(patchFelix('{"wireguardEnabled":true,"wireguardMTU":1400}'));
  assert.equal(hostNs(set, "node1").links.find((x) => x.kind === "wireguard")?.mtu, 1400);
  const negative = await lab(patchFelix('{"wireguardEnabled":true,"wireguardMTU":-5}'));
  assert.equal(hostNs(negative, "node1").links.find((x) => x.kind === "wireguard")?.mtu, 1440);
});

test("cali-fw-* drop VXLAN and IPinIP from workloads (endpoints.go), each unless allowed by FelixConfiguration", async () => {
  const vxlanDrop =
    '-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 4789 -j DROP';
  const ipipDrop =
    '-p 4 -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP';
  const plain = await lab();
  for (const drops of workloadEncapDrops(hostNs(plain, "node1")))
    assert.deepEqual(drops, [vxlanDrop, ipipDrop]);
  const allowIpip = await lab(patchFelix('{"allowIPIPPacketsFromWorkloads":true}'));
  for (const drops of workloadEncapDrops(hostNs(allowIpip, "node1"))) assert.deepEqual(drops, [vxlanDrop]);
  const allowVxlan = await lab(patchFelix('{"allowVXLANPacketsFromWorkloads":true}'));
  for (const drops of workloadEncapDrops(hostNs(allowVxlan, "node1"))) assert.deepEqual(drops, [ipipDrop]);
});
