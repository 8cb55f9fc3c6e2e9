/**
 * Felix's overlays on the real kernel (root only; skipped with a message elsewhere): the two-node tunnel
 * fixtures (test/fixtures/dataplane/tunnels.ts) applied by the linux dataplane. VXLAN is a kernel vxlan device with
 * permanent neighbour and fdb entries; WireGuard is wireguard-go on a TUN configured with `wg syncconf`, Felix's
 * rule and table 1. Pods on the two nodes reach each other, and a capture on the underlay's bridge shows the
 * encapsulation (UDP 4789 / 51820). IPIP (where the kernel has no driver) and eBPF mode are refused in one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ClusterDataplane } from "../../src/calc/index.ts";
import {
  BPF_REFUSAL,
  kernelHasIpip,
  LinuxDataplane,
  linuxUnavailable,
  readRecord,
} from "../../src/dataplane/linux/index.ts";
import { type TunnelMode, tunnelCluster } from "../fixtures/dataplane/tunnels.ts";
import {
  alive,
  captureWhile,
  clusterNetns,
  linuxSkipReason,
  scratch,
  takeDown,
  tortie,
} from "./linux-harness.ts";

function missingWireguard(): string | undefined {
  for (const tool of ["wireguard-go", "wg"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (Debian: wireguard-go, wireguard-tools)`;
  return undefined;
}

const skip = linuxUnavailable();
if (skip) console.log(`# skipped: the linux dataplane cannot run here (${skip})`);
const wgSkip = skip ?? missingWireguard();
if (!skip && wgSkip) console.log(`# skipped WireGuard: ${wgSkip}`);

/** The fixture under a cluster name of this process's own. */
function fixture(mode: TunnelMode, suffix: string, options = {}): ClusterDataplane {
  const d = tunnelCluster(mode, options);
  d.cluster = `o${process.pid}${suffix}`;
  return d;
}

/** A linux dataplane on a fresh state dir, destroyed (with the dir) when the test ends, pass or fail. */
function dataplane(t: { after(fn: () => Promise<void>): void }, cluster: string) {
  const stateDir = mkdtempSync(join(tmpdir(), "tt-overlay-"));
  const k = new LinuxDataplane({ cluster, stateDir, processArgv: () => undefined });
  t.after(async () => {
    await k.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { k, stateDir };
}

async function ping(k: LinuxDataplane, from: string, to: string): Promise<void> {
  const r = await k.run(from, ["ping", "-c", "1", "-W", "5", to]);
  assert.equal(r.code, 0, `${from} → ${to}: ${r.stdout}${r.stderr}`);
}

test("vxlan: pods on two nodes reach each other through vxlan.calico; the underlay carries UDP 4789", {
  skip,
}, async (t) => {
  const d = fixture("vxlan", "v");
  const { k } = dataplane(t, d.cluster);
  await k.apply(d);
  assert.match(
    await k.query("node1", "routes"),
    /^10\.244\.2\.0\/24 via 10\.244\.2\.0 dev vxlan\.calico proto 80 onlink$/m,
  );
  assert.match(await k.query("node1", "links"), /^vxlan\.calico UNKNOWN 66:de:6a:00:00:01$/m);
  assert.equal(
    await k.query("node1", "neighbours"),
    "10.244.2.0 dev vxlan.calico lladdr 66:de:6a:00:00:02 PERMANENT",
  );
  assert.equal(
    await k.query("node1", "fdb"),
    "66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 self permanent",
  );
  const details = await k.run("node1", ["ip", "-d", "link", "show", "vxlan.calico"]);
  assert.match(details.stdout, /vxlan id 4096 local 192\.168\.0\.11 dev eth0 .*dstport 4789 nolearning/);
  const seen = await captureWhile(d.cluster, "udp port 4789", () =>
    ping(k, "default/pod-node1", "10.244.2.2"),
  );
  assert.match(seen, /192\.168\.0\.11\.\d+ > 192\.168\.0\.12\.4789: VXLAN, flags \[I\] \(0x08\), vni 4096/);
  await ping(k, "default/pod-node2", "10.244.1.2");

  // Incremental: node1's entries for node2 dropped from the description leave the kernel; put back, they return.
  const without = structuredClone(d);
  const node1 = without.hosts[0]!.namespaces[0]!;
  node1.neighbours = [];
  node1.fdb = [];
  await k.apply(without, d);
  assert.equal(await k.query("node1", "neighbours"), "");
  assert.equal(await k.query("node1", "fdb"), "");
  await k.apply(d, without);
  assert.equal(
    await k.query("node1", "fdb"),
    "66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 self permanent",
  );

  // Drift: an fdb entry deleted by hand is found, and a reconcile of that namespace puts it back.
  await k.run("node1", [
    "bridge",
    "fdb",
    "del",
    "66:de:6a:00:00:02",
    "dev",
    "vxlan.calico",
    "dst",
    "192.168.0.12",
    "self",
  ]);
  const drift = await k.drift(d);
  assert.deepEqual(
    drift.map((x) => [x.namespace, x.why]),
    [["node1", "fdb entry 66:de:6a:00:00:02 dev vxlan.calico dst 192.168.0.12 is missing"]],
  );
  await k.apply(d, d, { reconcile: ["node1"] });
  assert.deepEqual(await k.drift(d), []);
  await ping(k, "default/pod-node1", "10.244.2.2");
});

test("wireguard: wireguard-go on a TUN per node, peers synced in place, the underlay carries UDP 51820", {
  skip: wgSkip,
}, async (t) => {
  const d = fixture("wireguard", "w");
  const { k, stateDir } = dataplane(t, d.cluster);
  await k.apply(d);
  assert.match(await k.query("node1", "links"), /^wireguard\.cali UNKNOWN$/m);
  assert.match(await k.query("node1", "rules"), /^99: not from all fwmark 0x100000\/0x100000 lookup 1$/m);
  assert.match(
    await k.query("node1", "routes"),
    /^10\.244\.2\.0\/24 dev wireguard\.cali table 1 proto 80 scope link$/m,
  );
  const [n1, n2] = d.hosts.map((h) => h.namespaces[0]!.links.find((l) => l.kind === "wireguard")!.wireguard!);
  assert.equal(
    await k.query("node1", "wireguard"),
    [
      `wireguard.cali\t(hidden)\t${n1!.publicKey}\t51820\t0x100000`,
      `wireguard.cali\t${n2!.publicKey}\t(none)\t192.168.0.12:51820\t10.244.2.0/24\t0\t0\t0\toff`,
    ].join("\n"),
  );
  // Each node's wg sees its own device only (the UAPI sockets are per namespace).
  assert.match((await k.run("node2", ["wg", "show", "interfaces"])).stdout, /^wireguard\.cali$/m);
  const seen = await captureWhile(d.cluster, "udp port 51820", () =>
    ping(k, "default/pod-node1", "10.244.2.2"),
  );
  assert.match(seen, /192\.168\.0\.1[12]\.51820 > 192\.168\.0\.1[12]\.51820: UDP, length \d+/);
  await ping(k, "default/pod-node2", "10.244.1.2");

  // A peer's allowed IPs changed: `wg syncconf` in place, the same wireguard-go keeps running.
  const pids = () =>
    Object.fromEntries(Object.entries(readRecord(stateDir)!.pids).map(([key, p]) => [key, p.pid]));
  const before = pids();
  assert.deepEqual(Object.keys(before).sort(), ["node1/wireguard-go", "node2/wireguard-go"]);
  const wider = structuredClone(d);
  const node2Link = wider.hosts[1]!.namespaces[0]!.links.find((l) => l.kind === "wireguard")!;
  node2Link.wireguard!.peers[0]!.allowedIps = ["10.244.1.0/24", "10.244.9.9/32"];
  await k.apply(wider, d);
  assert.deepEqual(pids(), before);
  assert.match(
    await k.query("node2", "wireguard"),
    /\t192\.168\.0\.11:51820\t10\.244\.1\.0\/24,10\.244\.9\.9\/32\t/,
  );
  await k.apply(d, wider);
  assert.match(await k.query("node2", "wireguard"), /\t192\.168\.0\.11:51820\t10\.244\.1\.0\/24\t/);

  // Drift: a peer removed by hand is found and repaired by a reconcile.
  await k.run("node1", ["wg", "set", "wireguard.cali", "peer", n2!.publicKey, "remove"]);
  assert.deepEqual(
    (await k.drift(d)).map((x) => x.namespace),
    ["node1"],
  );
  await k.apply(d, d, { reconcile: ["node1"] });
  assert.deepEqual(await k.drift(d), []);
  await ping(k, "default/pod-node1", "10.244.2.2");

  // Down: no wireguard-go left, no namespace.
  const recorded = Object.values(readRecord(stateDir)!.pids).map((p) => p.pid);
  await k.destroy();
  for (const pid of recorded) assert.equal(alive(pid), false, `wireguard-go ${pid} still runs`);
  assert.deepEqual(clusterNetns(d.cluster), []);
  assert.deepEqual(
    readdirSync("/run/wireguard").filter((f) => f.startsWith("wireguard.cali")),
    [],
  );
});

test("IPIP is refused in one line before anything is programmed, where the kernel has no IPIP driver", {
  skip,
}, async (t) => {
  if (await kernelHasIpip()) return t.skip("this kernel has an IPIP driver: IPIP is built for real");
  const d = fixture("ipip", "i");
  const { k } = dataplane(t, d.cluster);
  await assert.rejects(k.apply(d), {
    message:
      "not supported yet on the linux dataplane: IPIP on host node1 (this kernel has no IPIP tunnel driver; use vxlanMode or the sim)",
  });
  assert.deepEqual(clusterNetns(d.cluster), []);
});

test("Calico's eBPF mode is refused in one line before anything is programmed", { skip }, async (t) => {
  const d = fixture("vxlan", "b");
  d.hosts[0]!.bpf = {} as NonNullable<ClusterDataplane["hosts"][number]["bpf"]>;
  const { k } = dataplane(t, d.cluster);
  await assert.rejects(k.apply(d), { message: BPF_REFUSAL });
  assert.deepEqual(clusterNetns(d.cluster), []);
});

test("up --dataplane linux, then calicoctl apply of an IPIP pool: one warning line, nothing reprogrammed", {
  skip: skip ?? linuxSkipReason(),
  timeout: 180_000,
}, async (t) => {
  if (await kernelHasIpip()) return t.skip("this kernel has an IPIP driver: IPIP is built for real");
  const s = scratch("p");
  t.after(() => {
    takeDown(s);
  });
  const up = tortie(s.dir, ["up", "--topology", s.topology, "--dataplane", "linux"]);
  assert.equal(up.code, 0, up.err);
  const before = readRecord(s.dir)!.applied;
  const pool = [
    "apiVersion: projectcalico.org/v3",
    "kind: IPPool",
    "metadata:",
    "  name: ipip-pool",
    "spec:",
    "  cidr: 198.19.24.0/21",
    "  ipipMode: Always",
    "  natOutgoing: true",
    "",
  ].join("\n");
  const apply = tortie(s.dir, ["calicoctl", "apply", "-f", "-"], pool);
  assert.equal(apply.code, 0, apply.err);
  assert.equal(
    apply.err,
    'warning: the linux dataplane was not reprogrammed (not supported yet on the linux dataplane: IPIP pool "ipip-pool" (this kernel has no IPIP tunnel driver; use vxlanMode or the sim)); the kernel keeps its last good rules and the next command retries\n',
  );
  assert.deepEqual(readRecord(s.dir)!.applied, before);
});

test("up --dataplane linux with an IPIP default pool is refused in one line before anything is stored", {
  skip: skip ?? linuxSkipReason(),
  timeout: 120_000,
}, async (t) => {
  if (await kernelHasIpip()) return t.skip("this kernel has an IPIP driver: IPIP is built for real");
  const s = scratch("q");
  t.after(() => {
    takeDown(s);
  });
  const topology = JSON.parse(readFileSync(s.topology, "utf8"));
  topology.spec.defaultPool.encapsulation = "IPIPCrossSubnet";
  writeFileSync(s.topology, JSON.stringify(topology));
  const up = tortie(s.dir, ["up", "--topology", s.topology, "--dataplane", "linux"]);
  assert.equal(up.code, 1);
  assert.equal(
    up.err,
    'error: not supported yet on the linux dataplane: IPIP pool "default-ipv4-ippool" (this kernel has no IPIP tunnel driver; use vxlanMode or the sim)\n',
  );
  assert.deepEqual(clusterNetns(s.name), []);
  const status = tortie(s.dir, ["status"]);
  assert.match(status.out + status.err, /no cluster/i);
});
