/**
 * Processes inside the cluster's namespaces: started detached (their own session, output to a file), ended by
 * their pid, and only when the pid is still the process that was started: same start time (a pid reused by
 * another process is never signalled). The start time, not the namespace, identifies it: a process whose
 * namespace was deleted by hand runs on in the orphaned namespace and must still be found and ended.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { runCommand } from "./exec.ts";

export interface RecordedProcess {
  pid: number;
  netns: string;
  /** Its start time (clock ticks since boot, /proc/PID/stat field 22); absent in records of older tortie. */
  start?: number;
}

/** A process's start time in clock ticks since boot, or undefined when it is gone. */
export function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may hold spaces and parentheses: state is field 3, starttime 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** The record's entry for a process just started: its pid, namespace and start time. */
export function recorded(pid: number, netns: string): RecordedProcess {
  return { pid, netns, start: startTime(pid) };
}

/**
 * Whether the recorded process still runs (wherever its namespace is now): same pid and start time; for a record
 * without a start time, running in the recorded namespace.
 */
export function sameProcess(p: RecordedProcess): boolean {
  if (!alive(p.pid)) return false;
  return p.start !== undefined ? startTime(p.pid) === p.start : runsIn(p.pid, p.netns);
}

/** Whether `pid` runs in the named namespace (its /proc/PID/ns/net is /run/netns/NAME). */
export function runsIn(pid: number, netns: string): boolean {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`); // "net:[INODE]"
    const ino = Number(/\[(\d+)\]/.exec(link)?.[1]);
    return statSync(`/run/netns/${netns}`).ino === ino;
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is gone
  } catch {
    return false;
  }
}

/** Starts `argv` in `netns`, detached (setsid), stdout and stderr to `logFile`; returns its pid. */
export function startInNetns(netns: string, argv: string[], logFile: string, cwd?: string): number {
  const fd = openSync(logFile, "a", 0o600);
  try {
    const child = spawn("ip", ["netns", "exec", netns, ...argv], {
      detached: true,
      stdio: ["ignore", fd, fd],
      cwd,
    });
    if (child.pid === undefined) throw new Error(`${netns}: cannot start ${argv.join(" ")}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM to the process group, then SIGKILL once `graceMs` passed; true when it was running. */
export async function stopProcess(p: RecordedProcess, graceMs = 1000): Promise<boolean> {
  if (!sameProcess(p)) return false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-p.pid, s);
    } catch {
      try {
        process.kill(p.pid, s);
      } catch {}
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive(p.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (alive(p.pid)) signal("SIGKILL");
  const hard = Date.now() + 2000;
  while (alive(p.pid) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
  return true;
}

/** Kills every process left in a namespace (`ip netns pids`). Returns how many. */
export async function killNetnsPids(netns: string): Promise<number> {
  const r = await runCommand("ip", ["netns", "pids", netns]);
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  return pids.length;
}
