/**
 * What the machine offers: whether the linux dataplane can run here, where the two BIRDs are, and the kernel
 * features rendering depends on (probed as kube-proxy does).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { KernelFeatures } from "../../calc/index.ts";
import { runCommand } from "./exec.ts";
import { alive } from "./processes.ts";

export interface BirdBinaries {
  bird1: { bird: string; birdc: string };
  bird2: { bird: string; birdc: string };
}

/** BIRD 1.6 from the distribution (/usr/sbin); BIRD 2 extracted to TORTIE_BIRD2_DIR (default /opt/tortie/bird2/usr/sbin). */
export function bird2Binaries(): BirdBinaries {
  const dir2 = process.env.TORTIE_BIRD2_DIR || "/opt/tortie/bird2/usr/sbin";
  return {
    bird1: { bird: "/usr/sbin/bird", birdc: "/usr/sbin/birdc" },
    bird2: { bird: join(dir2, "bird"), birdc: join(dir2, "birdc") },
  };
}

const TOOLS = ["ip", "iptables-restore", "iptables-save", "ipset", "nft", "sysctl", "nsenter"];

/** One line saying why the linux dataplane cannot run here, or undefined when it can. */
export function linuxUnavailable(): string | undefined {
  if (process.platform !== "linux") return "the linux dataplane needs Linux";
  if (process.getuid?.() !== 0) return "the linux dataplane needs root (network namespaces, iptables)";
  const missing = TOOLS.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
  if (missing.length) return `the linux dataplane needs ${missing.join(", ")} (not found on PATH)`;
  return undefined;
}

/** Why a BIRD binary is missing, if it is (checked when a host needs that dialect). */
export function birdUnavailable(dialect: "bird1" | "bird2", binaries = bird2Binaries()): string | undefined {
  const b = binaries[dialect];
  const missing = [b.bird, b.birdc].filter((p) => !existsSync(p));
  if (!missing.length) return undefined;
  return dialect === "bird2"
    ? `BIRD 2 not found at ${missing.join(", ")} (extract Debian's bird2 there or set TORTIE_BIRD2_DIR)`
    : `BIRD 1.6 not found at ${missing.join(", ")} (install Debian's bird)`;
}

/**
 * nfacct is usable when `nfacct add` creates an object in a fresh network namespace (kube-proxy probes the same
 * way before it renders `-m nfacct` matches).
 */
export async function probeKernelFeatures(): Promise<KernelFeatures> {
  await removeDeadProbes();
  const ns = `tt-probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const add = await runCommand("ip", ["netns", "add", ns]);
  if (add.code !== 0) return { nfacct: false };
  try {
    const r = await runCommand("ip", ["netns", "exec", ns, "nfacct", "add", "tortie_probe"], {
      timeoutMs: 5000,
    });
    return { nfacct: r.code === 0 };
  } finally {
    await runCommand("ip", ["netns", "del", ns]);
  }
}

/** Probe namespaces of tortie processes that died mid-probe (a `kill -9`): no cluster's `down` would find them. */
async function removeDeadProbes(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync("/run/netns");
  } catch {}
  for (const ns of names) {
    const pid = Number(/^tt-probe-(\d+)-[a-z0-9]+$/.exec(ns)?.[1]);
    if (pid > 0 && !alive(pid)) await runCommand("ip", ["netns", "del", ns]);
  }
}
