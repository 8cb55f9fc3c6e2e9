/**
 * Packets through the emulated kernels on the lab with YAO Bank: host1 → control's node port 30180 → DNAT and
 * masquerade → node1 → the customer pod, and back. Two rows:
 * - established segments: one connection is opened (SYN, SYN-ACK, ACK), then data segments of the established
 *   flow go forth and back. Each segment crosses three or four namespaces, each with raw/mangle/nat/filter hooks,
 *   conntrack and routing, exactly as `tortie exec host1 -- curl` sends them. A "packet" is one end-to-end
 *   segment (host1 → pod or pod → host1).
 * - whole curls: `SimCluster.fetch` (what `tortie exec host1 -- curl` runs) of http://198.19.0.1:30180/, each a
 *   new connection: the handshake, the request, the app's response and the FIN exchange, with conntrack
 *   creation, DNAT and masquerade, policy, the socket lookup and the customer app's handler.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SimCluster } from "../src/agent/index.ts";
import { makeContext } from "../src/cli/context.ts";
import { openSimCluster } from "../src/cli/exec.ts";
import { runCli } from "../src/cli/main.ts";
import { type Kernel, parseIpv4 } from "../src/dataplane/sim/index.ts";
import type { RecordRow } from "./ipam.ts";

const TCP = 6;
const SYN = 2;
const ACK = 16;
const PSH = 8;
const NODE_PORT_URL = "http://198.19.0.1:30180/";

function segment(src: number, dst: number, sport: number, dport: number, flags: number, len = 52) {
  return { src, dst, proto: TCP, sport, dport, len, mark: 0, tcpFlags: flags, icmpType: 0, icmpCode: 0 };
}

/** Opens host1 → 198.19.0.1:30180 and returns a function sending one data segment each way. */
function establishedFlow(cluster: SimCluster): () => void {
  const host1 = cluster.kernel("host1") as Kernel;
  const nodePort = parseIpv4("198.19.0.1")!;
  const sport = 40000;
  const syn = segment(0, nodePort, sport, 30180, SYN, 60);
  const d = cluster.net.send(host1, syn);
  if (d.kind !== "delivered") throw new Error(`the SYN was not delivered: ${JSON.stringify(d)}`);
  const server = d.kernel;
  const seen = d.packet;
  const back = () => cluster.net.send(server, segment(seen.dst, seen.src, seen.dport, seen.sport, ACK | PSH));
  const forth = () => cluster.net.send(host1, segment(syn.src, nodePort, sport, 30180, ACK | PSH));
  if (back().kind !== "delivered" || forth().kind !== "delivered") throw new Error("the handshake failed");
  return () => {
    forth();
    back();
  };
}

/** One curl from host1 to the node port; throws unless the customer app answered 200. */
function curl(cluster: SimCluster, host1: Kernel): void {
  const r = cluster.fetch(host1, NODE_PORT_URL);
  if (!r.ok || r.status !== 200) throw new Error(`curl ${NODE_PORT_URL} failed: ${JSON.stringify(r)}`);
}

/** The segments one curl sends through the network, counted once by wrapping `send` (not while timing). */
function segmentsPerCurl(cluster: SimCluster, host1: Kernel): number {
  const net = cluster.net;
  const send = net.send;
  let n = 0;
  net.send = function (this: typeof net, ...args: Parameters<typeof send>) {
    n++;
    return send.apply(this, args);
  };
  try {
    curl(cluster, host1);
  } finally {
    net.send = send;
  }
  return n;
}

/** CPU time (ms) of `runs` batches of `fn`, sorted: on a shared machine wall time mostly measures the neighbours. */
function cpuTimes(runs: number, batch: number, fn: () => void): number[] {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const t = process.cpuUsage();
    for (let i = 0; i < batch; i++) fn();
    const used = process.cpuUsage(t);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b);
}

async function labCluster(dir: string): Promise<SimCluster> {
  const ctx = makeContext(dir);
  const quiet = { ...ctx, out: () => {}, err: () => {} };
  if ((await runCli(["up", "--app", "yaobank"], quiet)) !== 0) throw new Error("tortie up failed");
  return openSimCluster(quiet);
}

export async function benchSimPackets(record: RecordRow, scale: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tortie-bench-sim-"));
  try {
    const cluster = await labCluster(dir);
    const exchange = establishedFlow(cluster);
    const n = Math.max(1000, Math.round(100_000 * scale));
    for (let i = 0; i < 20_000; i++) exchange(); // warm up the JIT
    const times = cpuTimes(5, n / 2, exchange);
    record(
      "sim: established TCP segments host1 ⇄ customer pod via node port (CPU time, median of 5)",
      n,
      times[2]!,
      "each segment crosses 3–4 namespaces' hooks, conntrack and routing",
    );

    // Whole curls, each a new connection (a new ephemeral port: 28,232 before they wrap, so runs stay below).
    const host1 = cluster.kernel("host1") as Kernel;
    const curls = Math.max(200, Math.round(2_000 * scale));
    const perCurl = segmentsPerCurl(cluster, host1);
    for (let i = 0; i < curls; i++) curl(cluster, host1); // warm up
    const curlTimes = cpuTimes(5, curls, () => curl(cluster, host1));
    const ms = curlTimes[2]!;
    record(
      "sim: whole curls host1 → node port → customer pod, new connection each (CPU time, median of 5)",
      curls,
      ms,
      `${perCurl} segments each: ${Math.round(((curls * perCurl) / ms) * 1000).toLocaleString("en-US")} packets/s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
