/**
 * Loading a kube-proxy-sized ruleset into the sim's netfilter: a full `iptables-restore` of kube-proxy's
 * 10k services × 25 endpoints payload (~78 MB, ~262k nat chains at scale 1), then the `--noflush` payload of
 * one endpoint changing, applied on top of it. Each row's anchor is the real kernel's `iptables-restore` of the
 * same payload into a fresh network namespace, measured in the same run (when root and iptables-restore are
 * there; otherwise the row says why it has none).
 */
import { spawnSync } from "node:child_process";
import { Netfilter } from "../src/dataplane/sim/index.ts";
import { KubeProxyIptablesSyncer, kubeProxyIptablesConfig } from "../src/render/index.ts";
import { syntheticServices } from "./kube-proxy.ts";
import type { Anchor, RecordRow } from "./record.ts";

function ipOf(n: number, base: number): string {
  return [base, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".");
}

/** The payloads: the full sync, and the partial syncs that move one endpoint away and back. */
export function netfilterPayloads(scale: number): {
  services: number;
  full: string;
  natChains: number;
  away: string;
  back: string;
} {
  const n = Math.max(1, Math.round(10_000 * scale));
  const ports = syntheticServices(n, 25);
  const syncer = new KubeProxyIptablesSyncer(
    kubeProxyIptablesConfig({ nodeName: "node-0", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" }),
  );
  const full = syncer.sync(ports);
  const changed = [...ports];
  const victim = changed[n >> 1]!;
  changed[n >> 1] = {
    ...victim,
    endpoints: victim.endpoints.map((e, i) => (i === 0 ? { ...e, ip: ipOf(n * 25 + 1, 11) } : e)),
  };
  const away = syncer.sync(changed).restore;
  const back = syncer.sync(ports).restore;
  return { services: n, full: full.restore, natChains: full.writtenNatChains.size, away, back };
}

function cpuMs(f: () => void): { wall: number; cpu: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  f();
  const d = process.cpuUsage(c);
  return { wall: performance.now() - t, cpu: (d.user + d.system) / 1000 };
}

/** Why the kernel anchor cannot be measured here, or undefined when it can. */
function kernelMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: no network namespace for the kernel's iptables-restore";
  const v = spawnSync("iptables-restore", ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0) return "iptables-restore not found (on Debian: apt-get install -y iptables)";
  const ip = spawnSync("ip", ["-V"], { encoding: "utf8" });
  if (ip.error) return "ip(8) not found (on Debian: apt-get install -y iproute2)";
  return undefined;
}

/**
 * Runs `iptables-restore` of `full`, then of `partial` with --noflush, in a network namespace made for it
 * (kube-proxy's nfacct objects created first, as kube-proxy does) and deleted afterwards, even on failure.
 */
function kernelRestore(
  full: string,
  partial: string,
  timeoutMs: number,
): { full?: number; noflush?: number; why?: string } {
  const ns = `tortie-bench-nf-${process.pid}`;
  const run = (args: string[], input?: string) =>
    spawnSync("ip", ["netns", "exec", ns, ...args], {
      input,
      encoding: "utf8",
      timeout: timeoutMs,
      maxBuffer: 1 << 26,
    });
  const made = spawnSync("ip", ["netns", "add", ns], { encoding: "utf8" });
  if (made.status !== 0) return { why: `ip netns add failed: ${made.stderr.trim()}` };
  try {
    for (const name of ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"]) {
      const r = run(["nfacct", "add", name]);
      if (r.error || r.status !== 0)
        return { why: `nfacct add ${name} failed (kube-proxy's rules need it; apt-get install -y nfacct)` };
    }
    let t = performance.now();
    const f = run(["iptables-restore"], full);
    const fullMs = performance.now() - t;
    if (f.error) return { why: `kernel iptables-restore: ${f.error.message}` };
    if (f.status !== 0) return { why: `kernel iptables-restore failed: ${f.stderr.trim().split("\n")[0]}` };
    t = performance.now();
    const p = run(["iptables-restore", "--noflush"], partial);
    const noflushMs = performance.now() - t;
    if (p.error || p.status !== 0)
      return {
        full: fullMs,
        why: `kernel iptables-restore --noflush failed: ${p.error?.message ?? p.stderr}`,
      };
    return { full: fullMs, noflush: noflushMs };
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
}

/**
 * The rows: the sim's full restore (wall, with CPU in the notes), the sim's `--noflush` of one endpoint moving
 * (median of `noflushRuns`, alternating away and back so every run changes something), each anchored by the
 * kernel's time for the same payload. BENCH_KERNEL_TIMEOUT_S bounds the kernel's run (default 900 s).
 */
export function benchNetfilterLoad(record: RecordRow, scale: number, noflushRuns = 11): void {
  const p = netfilterPayloads(scale);
  const size = `${(p.full.length / 1e6).toFixed(0)} MB, ${p.natChains.toLocaleString("en-US")} nat chains`;
  const missing = kernelMissing();
  const timeoutS = Number(process.env.BENCH_KERNEL_TIMEOUT_S ?? "900");
  const kernel = missing ? { why: missing } : kernelRestore(p.full, p.away, timeoutS * 1000);
  const kernelNote = kernel.why ? `; no kernel anchor: ${kernel.why}` : "";
  const anchor = (what: string, ms: number | undefined): Anchor | undefined =>
    ms === undefined ? undefined : { what, ms };

  const nf = new Netfilter();
  const full = cpuMs(() => nf.restore(p.full));
  let rules = 0;
  for (const t of nf.tables.values()) for (const c of t.values()) rules += c.rules.length;
  record(
    `sim iptables-restore of kube-proxy's full payload (${p.services} services × 25 endpoints)`,
    rules,
    full.wall,
    `${size}; CPU ${full.cpu.toFixed(0)} ms; heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB${kernelNote}`,
    anchor("kernel iptables-restore, fresh netns", kernel.full),
  );

  const samples: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < noflushRuns; i++) {
    const m = cpuMs(() => nf.restore(i % 2 === 0 ? p.away : p.back, { noflush: true }));
    samples.push(m.wall);
    cpu.push(m.cpu);
  }
  samples.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const mid = noflushRuns >> 1;
  record(
    `sim iptables-restore --noflush, one endpoint moved (median of ${noflushRuns})`,
    1,
    samples[mid]!,
    `${(p.away.length / 1e6).toFixed(1)} MB payload (KUBE-SERVICES rewritten in full); CPU ${cpu[mid]!.toFixed(0)} ms${kernelNote}`,
    anchor("kernel iptables-restore --noflush", kernel.noflush),
  );
}
