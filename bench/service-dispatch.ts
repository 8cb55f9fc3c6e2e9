/**
 * kube-proxy's dispatch cost per packet on the sim dataplane: the first packet of a connection to a cluster IP
 * (ct state NEW, so it crosses the nat hooks) with 10,000 services × 1–2 endpoints, in iptables mode (the
 * linear KUBE-SERVICES chain) and in nftables mode (the `service-ips` verdict map, one lookup by the
 * concatenated daddr . l4proto . dport key). Both run the same hook sequence a forwarded packet crosses on
 * the node (PREROUTING raw/mangle/nat, FORWARD mangle/filter, POSTROUTING mangle/nat) through `traverseHook`,
 * the function the sim's network calls, and both must DNAT the packet to one of the service's endpoints.
 */
import { Netfilter, Nftables, parseIpv4, type TableName, traverseHook } from "../src/dataplane/sim/index.ts";
import type { Hook, MatchContext, Packet } from "../src/dataplane/sim/netfilter/index.ts";
import { seededRandom } from "../src/lib/index.ts";
import {
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyServicePort,
  renderKubeProxyJumps,
  renderNftables,
} from "../src/render/index.ts";
import type { RecordRow } from "./ipam.ts";

const ip = (n: number, base: number) => [base, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".");

/** N services, one TCP port each, 1 or 2 ready endpoints (alternately), a node port on every fourth. */
function services(n: number): ProxyServicePort[] {
  const out: ProxyServicePort[] = [];
  let ep = 0;
  for (let s = 0; s < n; s++) {
    const endpoints = [];
    for (let e = 0; e < 1 + (s % 2); e++)
      endpoints.push({
        ip: ip(ep++, 10),
        port: 8080,
        isLocal: false,
        ready: true,
        serving: true,
        terminating: false,
      });
    out.push({
      namespace: `ns${s % 50}`,
      name: `svc${s}`,
      portName: "http",
      protocol: "TCP",
      port: 80,
      clusterIP: ip(s + 1, 172),
      nodePort: s % 4 === 0 ? 30000 + (s % 2768) : 0,
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      externalPolicyLocal: false,
      internalPolicyLocal: false,
      healthCheckNodePort: 0,
      affinityTimeoutSeconds: undefined,
      endpoints,
    });
  }
  return out;
}

const PATH: [TableName, Hook][] = [
  ["raw", "PREROUTING"],
  ["mangle", "PREROUTING"],
  ["nat", "PREROUTING"],
  ["mangle", "FORWARD"],
  ["filter", "FORWARD"],
  ["mangle", "POSTROUTING"],
  ["nat", "POSTROUTING"],
];

interface Mode {
  netfilter: Netfilter;
  nft: Nftables;
}

/**
 * Sends `count` first packets to random services; returns the CPU time they took in ms (user + system of
 * this process: on a shared machine wall time mostly measures the other tenants). Throws if a packet is not
 * DNATed to one of its service's endpoints.
 */
function run(mode: Mode, ports: ProxyServicePort[], count: number, seed: number): number {
  const pick = seededRandom(seed);
  const random = seededRandom(seed + 1);
  const node = parseIpv4("192.168.0.2")!;
  const ctx: MatchContext = {
    inIface: "cali0",
    outIface: "eth0",
    ctState: "NEW",
    isLocal: (x) => x === node,
    isAddressType: (x, t) => t === "LOCAL" && x === node,
    ipsetHas: () => false,
    random,
  };
  const targets = ports.map((sp) => ({
    dst: parseIpv4(sp.clusterIP)!,
    endpoints: new Set(sp.endpoints.map((e) => parseIpv4(e.ip)!)),
  }));
  global.gc?.();
  const t = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const target = targets[Math.floor(pick() * targets.length)]!;
    const p: Packet = {
      src: 0x0a640000 + (i & 0xffff),
      dst: target.dst,
      proto: 6,
      sport: 32768 + (i % 28000),
      dport: 80,
      len: 60,
      mark: 0,
      tcpFlags: 2,
      icmpType: 0,
      icmpCode: 0,
    };
    for (const [table, hook] of PATH) {
      const r = traverseHook(mode.netfilter, mode.nft, table, hook, p, ctx);
      if (r.verdict !== "ACCEPT") throw new Error(`${table} ${hook}: ${r.verdict}`);
      if (r.nat?.kind === "DNAT") {
        p.dst = r.nat.ip;
        p.dport = r.nat.portMin || p.dport;
      }
    }
    if (!target.endpoints.has(p.dst) || p.dport !== 8080)
      throw new Error("packet was not DNATed to an endpoint");
  }
  const used = process.cpuUsage(t);
  return (used.user + used.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export function benchServiceDispatch(record: RecordRow, scale: number): void {
  const n = Math.max(10, Math.round(10_000 * scale));
  const ports = services(n);
  const config = kubeProxyIptablesConfig({
    nodeName: "node-0",
    nodeIP: "192.168.0.2",
    clusterCIDR: "10.0.0.0/8",
  });

  let t = performance.now();
  const iptables: Mode = { netfilter: new Netfilter(), nft: new Nftables() };
  iptables.netfilter.restore(new KubeProxyIptablesSyncer(config).sync(ports).restore, { noflush: true });
  iptables.netfilter.restore(renderKubeProxyJumps(), { noflush: true });
  record(
    `sim iptables-restore of kube-proxy's rules (${n} services × 1–2 endpoints)`,
    n,
    performance.now() - t,
  );

  t = performance.now();
  const nftables: Mode = { netfilter: new Netfilter(), nft: new Nftables() };
  nftables.nft.load(
    renderNftables({ config, serviceCIDRs: ["172.0.0.0/8"], servicePorts: ports }),
    "kube-proxy.nft",
  );
  record(`sim nft -f of kube-proxy's ruleset (${n} services × 1–2 endpoints)`, n, performance.now() - t);

  // Each run sends the same seeded sequence in both modes; runs alternate so drift hits both alike.
  const packetsIpt = Math.max(200, Math.round(2_000 * Math.min(1, scale * 10)));
  const packetsNft = 50_000;
  run(iptables, ports, Math.min(200, packetsIpt), 7);
  run(nftables, ports, 5_000, 7);
  const ipt: number[] = [];
  const nft: number[] = [];
  for (let r = 0; r < 7; r++) {
    ipt.push((run(iptables, ports, packetsIpt, 100 + r) / packetsIpt) * 1000);
    nft.push((run(nftables, ports, packetsNft, 100 + r) / packetsNft) * 1000);
  }
  // The same nft ruleset with traffic to only 10 of the services: what is left is the per-packet cost itself,
  // without the cache misses of touching a different service's chains on every packet.
  const hot = ports.slice(0, 10);
  const nftHot: number[] = [];
  for (let r = 0; r < 7; r++) nftHot.push((run(nftables, hot, packetsNft, 200 + r) / packetsNft) * 1000);
  const mi = median(ipt);
  const mn = median(nft);
  const mh = median(nftHot);
  record(
    `first packet to a cluster IP, iptables mode (${n} services: linear KUBE-SERVICES)`,
    packetsIpt,
    (mi * packetsIpt) / 1000,
    `CPU time, median of 7 runs: ${mi.toFixed(1)} µs/packet (7 hooks, conntrack NEW, DNAT)`,
  );
  record(
    `first packet to a cluster IP, nftables mode (${n} services: service-ips verdict map)`,
    packetsNft,
    (mn * packetsNft) / 1000,
    `CPU time, median of 7 runs: ${mn.toFixed(1)} µs/packet; iptables/nftables = ${(mi / mn).toFixed(0)}×`,
  );
  record(
    `first packet to one of 10 cluster IPs, nftables mode (${n} services loaded)`,
    packetsNft,
    (mh * packetsNft) / 1000,
    `CPU time, median of 7 runs: ${mh.toFixed(1)} µs/packet (the lookup does not depend on the number of services)`,
  );
}
