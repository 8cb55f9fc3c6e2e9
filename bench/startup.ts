/**
 * Start-up: what one tortie command costs as a process, bundled (dist/tortie.cjs, what bin/tortie runs) and from
 * the TypeScript sources through tsx (TORTIE_SOURCES=1), measured side by side with the real
 * `kubectl version --client` as the anchor. Each iteration runs every command once, in turn, so machine noise
 * hits them alike; each row is the median of `n` iterations (wall time; children's CPU time in the notes).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Anchor, RecordRow } from "./record.ts";
import { median } from "./record.ts";

interface Timed {
  wallMs: number;
  /** user+system CPU of the child, from /proc (10 ms ticks); undefined off Linux. */
  cpuMs: number | undefined;
}

/** CPU time (ms) of this process's waited-for children so far, or undefined without /proc. */
function childrenCpuMs(): number | undefined {
  try {
    // Fields after the command name: state is field 3; cutime and cstime are fields 16 and 17.
    const stat = readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Timed & { ok: boolean; why: string } {
  const cpu0 = childrenCpuMs();
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", env });
  const wallMs = performance.now() - t;
  const cpu1 = childrenCpuMs();
  return {
    wallMs,
    cpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0,
    ok: !r.error && r.status === 0,
    why: r.error?.message ?? r.stderr.trim().split("\n")[0] ?? "",
  };
}

interface Case {
  what: string;
  args: string[];
  /** A fresh state dir per run (for `up`), else the lab's. */
  fresh?: boolean;
}

/**
 * Records, for the bundle and for the tsx sources: `tortie --help`, `tortie kubectl get pods -A` on the lab
 * (`tortie up --app yaobank`, made once), and `tortie up --app yaobank` into a fresh state dir; each row anchored
 * by `kubectl version --client` measured in the same iterations.
 */
export function benchStartup(record: RecordRow, bin: string, tmp: () => string, n = 5): void {
  const lab = tmp();
  const base = { ...process.env, TORTIE_STATE_DIR: lab, TORTIE_SOURCES: "" };
  const up = timed(bin, ["up", "--app", "yaobank"], base);
  if (!up.ok) throw new Error(`tortie up --app yaobank failed: ${up.why}`);
  const cases: Case[] = [
    { what: "tortie --help", args: ["--help"] },
    { what: "tortie kubectl get pods -A (the lab with yaobank)", args: ["kubectl", "get", "pods", "-A"] },
    { what: "tortie up --app yaobank (fresh state dir)", args: ["up", "--app", "yaobank"], fresh: true },
  ];
  const modes = [
    { name: "bundle", env: { TORTIE_SOURCES: "" } },
    { name: "tsx sources", env: { TORTIE_SOURCES: "1" } },
  ];
  // Once each, untimed: bin/tortie rebuilds a stale bundle and writes its code cache on a first run.
  for (const m of modes) timed(bin, ["--help"], { ...base, ...m.env });

  const kubectl: Timed[] = [];
  let kubectlMissing: string | undefined;
  const results = new Map<string, Timed[]>();
  for (let i = 0; i < n; i++) {
    if (!kubectlMissing) {
      const k = timed("kubectl", ["version", "--client"], process.env);
      if (k.ok) kubectl.push(k);
      else kubectlMissing = `no kubectl anchor (${k.why})`;
    }
    for (const c of cases)
      for (const m of modes) {
        const env = { ...base, ...m.env, ...(c.fresh ? { TORTIE_STATE_DIR: tmp() } : {}) };
        const r = timed(bin, c.args, env);
        if (!r.ok) throw new Error(`tortie ${c.args.join(" ")} (${m.name}) failed: ${r.why}`);
        const key = `${c.what}, ${m.name}`;
        results.set(key, [...(results.get(key) ?? []), r]);
      }
  }
  const cpuNote = (ts: Timed[]) => {
    const cpus = ts.map((t) => t.cpuMs).filter((c): c is number => c !== undefined);
    return cpus.length === ts.length ? `CPU ${median(cpus).toFixed(0)} ms` : "";
  };
  const anchor: Anchor | undefined =
    kubectl.length > 0
      ? { what: "kubectl version --client", ms: median(kubectl.map((k) => k.wallMs)) }
      : undefined;
  const anchorNote = anchor ? `kubectl version --client, ${cpuNote(kubectl)}` : kubectlMissing;
  for (const [what, ts] of results)
    record(
      what,
      1,
      median(ts.map((t) => t.wallMs)),
      [`median of ${ts.length}`, cpuNote(ts), anchorNote ? `(anchor: ${anchorNote})` : ""]
        .filter(Boolean)
        .join("; "),
      anchor,
    );
}
