/**
 * `tortie verify` pauses every real BIRD of its throwaway cluster (SIGSTOP) while it zeroes the counters, runs
 * the probes and reads counters and conntrack, so that no TCP 179 packet (keepalives, BIRD 2 on host1 retrying
 * sessions to nodes that do not peer with it) crosses the hosts' chains: the sim's sessions leave no trace by
 * design, and the counters can then be compared without leaving BGP's path out. A stopped BIRD keeps its routes
 * in the kernel and its established sessions send nothing; they survive as long as no hold timer expires, which
 * `pauseBudget` bounds from the configurations both kernels run.
 */
import { readFileSync } from "node:fs";
import type { ClusterDataplane } from "../calc/index.ts";
import { type RecordedProcess, readRecord, sameProcess } from "../dataplane/linux/index.ts";
import { parseBirdConfig } from "../dataplane/sim/index.ts";

/**
 * Seconds kept in hand below the hold timers: the stop and the resume are not instantaneous, and a resumed BIRD
 * runs its expired timers before it reads the keepalives waiting in its sockets.
 */
const PAUSE_MARGIN_S = 10;

/** After every BIRD stopped: the kernel's delayed ACKs (at most 200 ms) to their last segments settle first. */
export const PAUSE_QUIET_MS = 1000;

/** How long verify may keep every BIRD stopped, and the hold and keepalive times that bound it. */
export interface PauseBudget {
  /** Seconds; may be 0 or less (then pausing is refused). */
  seconds: number;
  /** The lowest hold time of any BGP protocol (240: BIRD's default, which Calico's confd and host1 keep). */
  holdTime: number;
  /** The highest keepalive time (BIRD's default: a third of the hold time). */
  keepaliveTime: number;
}

/**
 * The pause every session survives. A session's hold time is the lower of its two ends' (both run in the
 * cluster), and its peer's last keepalive may have been sent up to a keepalive time before the stop, so the pause
 * must end before `lowest hold − highest keepalive` (less a margin). A hold time of 0 (no hold timer) bounds
 * nothing. Undefined when no host runs BIRD with a BGP protocol.
 */
export function pauseBudget(desc: ClusterDataplane): PauseBudget | undefined {
  let holdTime = Number.POSITIVE_INFINITY;
  let keepaliveTime = 0;
  for (const h of desc.hosts) {
    if (!h.bird || h.birdFailure) continue;
    const config = parseBirdConfig(h.bird.files, h.bird.main, h.bird.dialect);
    for (const p of config.protocols) {
      if (p.kind !== "bgp" || p.holdTime === 0) continue;
      holdTime = Math.min(holdTime, p.holdTime);
      keepaliveTime = Math.max(keepaliveTime, p.keepaliveTime);
    }
  }
  if (holdTime === Number.POSITIVE_INFINITY) return undefined;
  return { seconds: holdTime - keepaliveTime - PAUSE_MARGIN_S, holdTime, keepaliveTime };
}

/**
 * An upper bound of the pause: every probe taking its whole time limit (`limitMs` each, `concurrency` at a
 * time), plus reading each namespace's counters and conntrack (`readMs` each).
 */
export function pauseWindowMs(
  limitsMs: number[],
  concurrency: number,
  namespaces: number,
  readMs: number,
): number {
  const total = limitsMs.reduce((a, b) => a + b, 0);
  const longest = Math.max(0, ...limitsMs);
  return Math.ceil(total / Math.max(1, concurrency)) + longest + namespaces * readMs + PAUSE_QUIET_MS;
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Every BIRD of a linux cluster stopped at once; `resume` (idempotent, synchronous) continues them all. */
export class BirdPause {
  private resumed = false;

  /** The processes `find` returned; nothing is signalled before `stop`. */
  constructor(private readonly processes: Map<string, RecordedProcess>) {}

  /**
   * The recorded BIRD of each host in `hosts` (the linux dataplane's record in `stateDir`), or why one cannot be
   * paused (one line).
   */
  static find(stateDir: string, hosts: string[]): Map<string, RecordedProcess> | string {
    const record = readRecord(stateDir);
    const out = new Map<string, RecordedProcess>();
    for (const host of hosts) {
      const p = record?.pids[`${host}/bird`];
      if (!p || !sameProcess(p)) return `${host}'s BIRD is not running`;
      const comm = (() => {
        try {
          return readFileSync(`/proc/${p.pid}/comm`, "utf8").trim();
        } catch {
          return "";
        }
      })();
      if (comm !== "bird") return `${host}'s recorded pid ${p.pid} is ${comm || "gone"}, not BIRD`;
      out.set(host, p);
    }
    return out;
  }

  /**
   * SIGSTOPs every process and waits until each is stopped (a failure resumes the ones already stopped). The
   * caller holds the pause before this starts, so a signal meanwhile can resume it.
   */
  async stop(): Promise<void> {
    try {
      for (const [host, p] of this.processes) {
        if (!sameProcess(p))
          throw new Error(`verify: ${host}'s BIRD (pid ${p.pid}) ended before it was paused`);
        process.kill(p.pid, "SIGSTOP");
      }
      const deadline = Date.now() + 5000;
      for (const [host, p] of this.processes) {
        while (processState(p.pid) !== "T") {
          if (Date.now() > deadline) throw new Error(`verify: ${host}'s BIRD (pid ${p.pid}) did not stop`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } catch (e) {
      this.resume();
      throw e;
    }
  }

  get active(): boolean {
    return !this.resumed;
  }

  /** SIGCONT to every BIRD still the process that was stopped (never to a reused pid). */
  resume(): void {
    if (this.resumed) return;
    this.resumed = true;
    for (const p of this.processes.values()) {
      if (!sameProcess(p)) continue;
      try {
        process.kill(p.pid, "SIGCONT");
      } catch {}
    }
  }
}
