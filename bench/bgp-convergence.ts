/**
 * BGP convergence on the sim: a 1,000-node full iBGP mesh and 5,000 nodes with two route reflectors, each node
 * originating one /26 block (a static blackhole, as bird_ipam.cfg gives it) and exporting only that (as
 * calico_export_to_bgp_peers does), add paths on, `gateway recursive`, the kernel protocol with `merge paths`.
 * Every session is one TCP probe through the emulated network (netfilter, routing, ARP on one shared segment).
 *
 * The BirdConfig objects are built directly, as the parser would produce them from confd's mesh templates,
 * rather than parsing 1,000 generated files: parsing is per node and linear, and would only add its own cost.
 * One filter object is shared by all sessions with the same filter text, as identical filters are; the
 * exchange caches results per (filter, route), so this is what lets 5,000 clients share reflected routes.
 */

import { getHeapStatistics } from "node:v8";
import {
  BgpFabric,
  type BgpProtocol,
  type BirdConfig,
  type BirdFilter,
  type BirdProtocol,
  type BirdRoute,
  type BirdSavedState,
  joinSegment,
  Kernel,
  Network,
  type Segment,
} from "../src/dataplane/sim/index.ts";
import type { RecordRow } from "./ipam.ts";

const AS = 64512;
const FILE = "bird.cfg";

function decide(accepted: boolean, line: number, text: string, route: BirdRoute) {
  return { decision: { accepted, file: FILE, line, text }, route };
}

const acceptAll: BirdFilter = { name: "all", run: (r) => decide(true, 0, "import all", r) };
/** calico_export_to_bgp_peers, reduced to what these nodes have: their own block (a static route). */
const exportBlocks: BirdFilter = {
  run: (r) =>
    (r.net.addr & 0xffc00000) >>> 0 === ((10 << 24) | (64 << 16)) >>> 0
      ? decide(true, 12, "if ( net ~ 10.64.0.0/10 ) then { accept; }", r)
      : decide(false, 20, "reject;", r),
};
/** calico_kernel_programming: every route but the direct ones goes to the kernel. */
const kernelProgramming: BirdFilter = {
  name: "calico_kernel_programming",
  run: (r) => (r.source === "RTS_DEVICE" ? decide(false, 30, "reject;", r) : decide(true, 31, "accept;", r)),
};

/** 10.0.0.0/16 underlay: node i at 10.0.(i >> 8).(i & 255) + 1 offset; its block 10.64.0.0/10 + i × 64. */
function nodeIp(i: number): number {
  return (10 << 24) + i + 1;
}
function blockOf(i: number) {
  return { addr: ((10 << 24) + (64 << 16) + i * 64) >>> 0, len: 26, mask: 0xffffffc0 };
}
function name(ip: number): string {
  return `Mesh_10_${(ip >>> 16) & 255}_${(ip >>> 8) & 255}_${ip & 255}`;
}

function session(local: number, peer: number, more: Partial<BgpProtocol> = {}): BgpProtocol {
  return {
    kind: "bgp",
    name: name(peer),
    file: FILE,
    line: 1,
    table: "master",
    import: acceptAll,
    export: exportBlocks,
    localAs: AS,
    neighbor: { ip: peer, as: AS },
    sourceAddress: local,
    passive: local < peer,
    multihop: true,
    ttlSecurity: false,
    addPaths: true,
    rrClient: false,
    nextHopSelf: false,
    nextHopKeep: false,
    gateway: "recursive",
    connectDelayTime: 2,
    connectRetryTime: 5,
    holdTime: 240,
    keepaliveTime: 80,
    errorWaitTime: [5, 30],
    gracefulRestart: 120,
    ...more,
  };
}

function config(i: number, peers: BgpProtocol[]): BirdConfig {
  const base = { file: FILE, line: 1, table: "master", import: acceptAll, export: acceptAll };
  const protocols: BirdProtocol[] = [
    {
      ...base,
      kind: "kernel",
      metric: 0,
      name: "kernel1",
      export: kernelProgramming,
      learn: true,
      persist: true,
      scanTime: 2,
      mergePaths: true,
      gracefulRestart: true,
    },
    { ...base, kind: "device", name: "device1", scanTime: 2 },
    {
      ...base,
      kind: "direct",
      name: "direct1",
      interfaces: [
        { pattern: "cali*", exclude: true },
        { pattern: "kube-ipvs*", exclude: true },
        { pattern: "*", exclude: false },
      ],
    },
    { ...base, kind: "static", name: "static1", routes: [{ net: blockOf(i), dest: "blackhole" }] },
    ...peers,
  ];
  return { dialect: "bird1", file: FILE, routerId: nodeIp(i), protocols, filters: new Map() };
}

function hosts(n: number) {
  const net = new Network(() => 0.5);
  const lan: Segment = { name: "underlay", members: [] };
  const kernels: Kernel[] = [];
  for (let i = 0; i < n; i++) {
    const k = new Kernel(`node${i}`);
    const link = k.addLink({
      name: "eth0",
      kind: "ether",
      mac: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
      mtu: 1500,
    });
    joinSegment(lan, k, link);
    k.addAddress("eth0", { addr: 10 << 24, len: 16, mask: 0xffff0000 }, nodeIp(i));
    kernels.push(k);
  }
  net.now = 1000;
  return { net, kernels };
}

function measure(record: RecordRow, what: string, n: number, build: (i: number) => BgpProtocol[]): void {
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const { net, kernels } = hosts(n);
  const specs = kernels.map((kernel, i) => ({
    host: kernel.name,
    kernel,
    config: config(i, build(i)),
    version: "v0.3.3+birdv1.6.8",
  }));
  // The sessions were Established by an earlier command (a fresh one waits out its connect delay first): this
  // converge probes every session once and exchanges all routes.
  const saved: BirdSavedState = {};
  for (const sp of specs) {
    const h: BirdSavedState[string] = {};
    for (const p of sp.config.protocols) if (p.kind === "bgp") h[p.name] = { state: "Established", since: 0 };
    saved[sp.host] = h;
  }
  const fabric = new BgpFabric({
    net,
    hosts: specs,
    saved,
    clock: () => new Date(Date.UTC(2026, 0, 1) + net.now),
  });
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  fabric.converge();
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const ms = performance.now() - t;
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
  const rssMb = process.memoryUsage().rss / 1e6;
  let sessions = 0;
  let established = 0;
  let learned = 0;
  for (const s of fabric.speakers.values()) {
    for (const e of s.ends) {
      sessions++;
      if (e.state.bgpState === "Established") established++;
    }
    for (const list of s.table.nets.values()) for (const r of list) if (r.source === "RTS_BGP") learned++;
  }
  const sample = kernels[n - 1]!.main.routes.filter((r) => r.proto === "bird").length;
  const fibOk = kernels.every((k) => k.main.routes.filter((r) => r.proto === "bird").length === n);
  if (!fibOk) throw new Error(`${what}: not every node has ${n} proto bird routes`);
  record(
    what,
    learned,
    ms,
    `CPU ${(cpuMs / 1000).toFixed(1)} s (wall: sessions ${(fabric.timings.sessionsMs / 1000).toFixed(1)} s, routes ${(fabric.timings.routesMs / 1000).toFixed(1)} s, kernel FIBs ${(fabric.timings.kernelMs / 1000).toFixed(1)} s); ${n} nodes, ${sessions / 2} sessions (${established / 2} Established), ${sample} FIB routes per node (${n - 1} via peers + own blackhole), ${learned.toLocaleString("en-US")} BGP routes in all tables; heap +${heapMb.toFixed(0)} MB, RSS ${rssMb.toFixed(0)} MB`,
  );
}

export function benchBgpConvergence(record: RecordRow, scale: number, only?: "mesh" | "rr"): void {
  const mesh = Math.max(10, Math.round(1000 * scale));
  if (only !== "rr")
    measure(record, `BGP full mesh converge (${mesh} nodes, route = one learned path)`, mesh, (i) => {
      const out: BgpProtocol[] = [];
      for (let j = 0; j < mesh; j++) if (j !== i) out.push(session(nodeIp(i), nodeIp(j)));
      return out;
    });
  if (only === "mesh") return;
  const big = Math.max(10, Math.round(5000 * scale));
  // Every client holds two paths to every block (one per reflector) and one FIB route: about 265 bytes per
  // client and block were measured (6.6 GB at 5,000 nodes). Refuse rather than die of a heap limit.
  const needGb = (265 * big * big) / 1e9;
  const limitGb = getHeapStatistics().heap_size_limit / 1e9;
  if (needGb > 0.8 * limitGb) {
    console.error(
      `BGP two route reflectors (${big} nodes): not run, it needs about ${needGb.toFixed(1)} GB of heap and the limit is ${limitGb.toFixed(1)} GB; run with NODE_OPTIONS=--max-old-space-size=${Math.ceil(needGb * 1.5) * 1000}`,
    );
    return;
  }
  const rrs = [0, 1];
  const cluster = nodeIp(0);
  measure(record, `BGP two route reflectors converge (${big} nodes, route = one learned path)`, big, (i) => {
    if (rrs.includes(i)) {
      const out: BgpProtocol[] = [];
      for (let j = 0; j < big; j++)
        if (j !== i)
          out.push(session(nodeIp(i), nodeIp(j), { rrClient: !rrs.includes(j), rrClusterId: cluster }));
      return out;
    }
    return rrs.map((r) => session(nodeIp(i), nodeIp(r), { passive: false }));
  });
}
