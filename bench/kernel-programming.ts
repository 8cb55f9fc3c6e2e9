/**
 * Programming kube-proxy's 10k-service ruleset into the real kernel, as `--dataplane linux` does: full (render
 * the sync, pipe it to `iptables-restore` in a fresh network namespace) and partial (one service's endpoint
 * moved: render the partial sync, `iptables-restore --noflush`). Each row's anchor is the floor measured in the
 * same run: the kernel's own `iptables-restore` loading the same bytes from a file into a second fresh
 * namespace, no tortie code in the timed span. Root only; elsewhere the section prints why it was skipped.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyServicePort,
} from "../src/render/index.ts";
import { syntheticServices } from "./kube-proxy.ts";
import type { RecordRow } from "./record.ts";

const ENDPOINTS = 25;
/** kube-proxy's nfacct runner ensures these before its first restore; the payload names them. */
const NFACCT_COUNTERS = ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"];

/** Why the section cannot run here (it is then reported as skipped), or undefined when it can. */
function kernelMissing(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root (network namespaces and iptables-restore)";
  for (const [tool, pkg] of [
    ["ip", "iproute2"],
    ["iptables-restore", "iptables"],
    ["nfacct", "nfacct"],
  ] as const)
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `needs ${tool} (on Debian: apt-get install -y ${pkg})`;
  return undefined;
}

/** One fresh namespace holding kube-proxy's nfacct objects; `del` removes it (and every rule in it). */
class BenchNamespace {
  constructor(
    readonly name: string,
    private readonly timeoutMs: number,
  ) {
    mustSucceed(spawnSync("ip", ["netns", "add", name], { encoding: "utf8" }), `ip netns add ${name}`);
    for (const counter of NFACCT_COUNTERS) this.exec(["nfacct", "add", counter]);
  }

  /** Runs a command inside the namespace; throws one line when it fails. */
  exec(args: string[], input?: string): void {
    const r = spawnSync("ip", ["netns", "exec", this.name, ...args], {
      input,
      encoding: "utf8",
      timeout: this.timeoutMs,
      maxBuffer: 1 << 26,
    });
    mustSucceed(r, `${args.join(" ")} in ${this.name}`);
  }

  del(): void {
    spawnSync("ip", ["netns", "del", this.name]);
  }
}

function mustSucceed(r: ReturnType<typeof spawnSync>, what: string): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${what} exited ${r.status}: ${String(r.stderr).trim().split("\n")[0]}`);
}

function timed(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

/** The same service list with service `index`'s first endpoint moved to `ip`. */
function withMovedEndpoint(ports: ProxyServicePort[], index: number, ip: string): ProxyServicePort[] {
  const changed = [...ports];
  const victim = changed[index]!;
  changed[index] = { ...victim, endpoints: victim.endpoints.map((e, i) => (i === 0 ? { ...e, ip } : e)) };
  return changed;
}

const fmt = (xs: number[]) => xs.map((x) => `${x.toFixed(0)} ms`).join(", ");

/** Which of tortie and the floor goes first alternates between runs, so neither always meets a busier kernel. */
let runIndex = 0;

/**
 * The rows: full and partial programming, each against the floor of the same run. The partial row is the
 * median of `partialRuns` syncs that move one endpoint away and back, so every one changes something.
 * BENCH_KERNEL_TIMEOUT_S bounds each kernel command (default 900 s).
 */
export function benchKernelProgramming(
  record: RecordRow,
  scale: number,
  partialRuns = 3,
): string | undefined {
  const missing = kernelMissing();
  if (missing) return `kernel-programming: skipped: ${missing}`;
  const timeoutMs = Number(process.env.BENCH_KERNEL_TIMEOUT_S ?? "900") * 1000;
  const n = Math.max(1, Math.round(10_000 * scale));
  const ports = syntheticServices(n, ENDPOINTS);
  const moved = withMovedEndpoint(ports, n >> 1, "11.255.255.254");
  const config = kubeProxyIptablesConfig({
    nodeName: "node-0",
    nodeIP: "192.168.0.2",
    clusterCIDR: "10.0.0.0/8",
  });
  const floorFirst = runIndex++ % 2 === 1;

  const dir = mkdtempSync(join(tmpdir(), "tortie-bench-kprog-"));
  const spaces: BenchNamespace[] = [];
  try {
    const tortieNs = new BenchNamespace(`tortie-bench-kp-${process.pid}-t`, timeoutMs);
    spaces.push(tortieNs);
    const floorNs = new BenchNamespace(`tortie-bench-kp-${process.pid}-f`, timeoutMs);
    spaces.push(floorNs);
    const syncer = new KubeProxyIptablesSyncer(config);
    // When the floor goes first it needs the bytes before tortie's timed run: a twin syncer fed the same
    // inputs renders them untimed (rendering is pure, so they are the same bytes; checked below).
    const twin = new KubeProxyIptablesSyncer(config);

    // Full: tortie renders and pipes; the floor reads the very bytes tortie produced from a file.
    let fullPayload = "";
    const tortieFull = () =>
      timed(() => {
        fullPayload = syncer.sync(ports).restore;
        tortieNs.exec(["iptables-restore"], fullPayload);
      });
    const fullFile = join(dir, "full.rules");
    const floorFull = () => timed(() => floorNs.exec(["iptables-restore", fullFile]));
    let tortieFullMs: number;
    let floorFullMs: number;
    if (floorFirst) {
      const bytes = twin.sync(ports).restore;
      writeFileSync(fullFile, bytes);
      floorFullMs = floorFull();
      tortieFullMs = tortieFull();
      if (bytes !== fullPayload) throw new Error("the twin syncer rendered other bytes than the timed one");
    } else {
      tortieFullMs = tortieFull();
      writeFileSync(fullFile, fullPayload);
      floorFullMs = floorFull();
    }
    console.error(`  floor (kernel iptables-restore from a file): ${floorFullMs.toFixed(0)} ms`);
    const natChains = fullPayload.match(/^:KUBE-/gm)?.length ?? 0;
    record(
      `kernel: program kube-proxy's full ruleset (${n} services × ${ENDPOINTS} endpoints; render + iptables-restore, fresh netns)`,
      n,
      tortieFullMs,
      `${(fullPayload.length / 1e6).toFixed(0)} MB, ${natChains.toLocaleString("en-US")} chains; ${floorFirst ? "floor ran first" : "tortie ran first"}`,
      { what: "kernel iptables-restore of the same bytes from a file, fresh netns", ms: floorFullMs },
    );

    // Partial: one service changes; tortie renders its partial sync and applies it with --noflush, the floor
    // applies the same bytes to its namespace, which holds the same ruleset.
    const tortieMs: number[] = [];
    const floorMs: number[] = [];
    let partialBytes = 0;
    for (let i = 0; i < partialRuns; i++) {
      const next = i % 2 === 0 ? moved : ports;
      let partial = "";
      const partialFile = join(dir, `partial-${i}.rules`);
      const tortiePartial = () =>
        timed(() => {
          const out = syncer.sync(next);
          if (out.full) throw new Error("the syncer did a full sync where a partial one was expected");
          partial = out.restore;
          tortieNs.exec(["iptables-restore", "--noflush"], partial);
        });
      const floorPartial = () => timed(() => floorNs.exec(["iptables-restore", "--noflush", partialFile]));
      if (floorFirst) {
        const bytes = twin.sync(next).restore;
        writeFileSync(partialFile, bytes);
        floorMs.push(floorPartial());
        tortieMs.push(tortiePartial());
        if (bytes !== partial) throw new Error("the twin syncer rendered other bytes than the timed one");
      } else {
        tortieMs.push(tortiePartial());
        writeFileSync(partialFile, partial);
        floorMs.push(floorPartial());
      }
      partialBytes = partial.length;
    }
    console.error(`  partial, tortie: ${fmt(tortieMs)}; floor: ${fmt(floorMs)}`);
    const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    record(
      `kernel: program one service changed (partial sync + iptables-restore --noflush; median of ${partialRuns})`,
      1,
      mid(tortieMs),
      `${(partialBytes / 1e6).toFixed(1)} MB payload; ${floorFirst ? "floor ran first" : "tortie ran first"}`,
      { what: "kernel iptables-restore --noflush of the same bytes from a file", ms: mid(floorMs) },
    );
    return undefined;
  } finally {
    for (const ns of spaces) ns.del();
    rmSync(dir, { recursive: true, force: true });
  }
}
