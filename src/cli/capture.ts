import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { SimCluster } from "../agent/index.ts";
import { compileFilter, encodeIpv4, type PacketFilter } from "../dataplane/sim/index.ts";

/**
 * Packet capture across processes. A `tcpdump` process registers what it captures
 * (`<state-dir>/captures/<pid>.json`: host, interface, filter); every other tortie process that moves packets
 * on the sim appends the matching packets, as bytes with a timestamp, to `<pid>.pkts`, which tcpdump tails.
 * A registration whose process is gone is removed by the next process that sees it.
 */
export interface CaptureRegistration {
  pid: number;
  host: string;
  /** An interface name, or `any`. */
  iface: string;
  filter: string;
}

/** One captured packet: virtual-clock time in epoch microseconds, interface, direction, IPv4 bytes (hex). */
export interface CaptureRecord {
  t: number;
  dev: string;
  dir: "in" | "out";
  /** The frame's source and destination MAC addresses. */
  mac: [string, string];
  hex: string;
}

function capturesDir(stateDir: string): string {
  return join(stateDir, "captures");
}

export function registerCapture(stateDir: string, reg: CaptureRegistration): string {
  const dir = capturesDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const data = join(dir, `${reg.pid}.pkts`);
  writeFileSync(data, "");
  const path = join(dir, `${reg.pid}.json`);
  writeFileSync(`${path}.tmp`, JSON.stringify(reg));
  renameSync(`${path}.tmp`, path);
  return data;
}

export function unregisterCapture(stateDir: string, pid: number): void {
  const dir = capturesDir(stateDir);
  rmSync(join(dir, `${pid}.json`), { force: true });
  rmSync(join(dir, `${pid}.pkts`), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The live captures under the state dir; those of dead processes are removed on the way. */
function liveCaptures(stateDir: string): CaptureRegistration[] {
  let names: string[];
  try {
    names = readdirSync(capturesDir(stateDir));
  } catch {
    return [];
  }
  const out: CaptureRegistration[] = [];
  for (const name of names) {
    const orphan = /^(\d+)\.pkts$/.exec(name);
    if (orphan && !names.includes(`${orphan[1]}.json`) && !alive(Number(orphan[1])))
      rmSync(join(capturesDir(stateDir), name), { force: true });
    if (!name.endsWith(".json")) continue;
    let reg: CaptureRegistration;
    try {
      reg = JSON.parse(readFileSync(join(capturesDir(stateDir), name), "utf8")) as CaptureRegistration;
    } catch {
      continue;
    }
    if (reg.pid === process.pid) continue;
    if (alive(reg.pid)) out.push(reg);
    else unregisterCapture(stateDir, reg.pid);
  }
  return out;
}

/**
 * Points the cluster's network at the live captures: each packet an interface of a captured namespace
 * receives or transmits, if the capture's filter takes it, is appended to that capture's file. Packets in the
 * same virtual millisecond are stamped a microsecond apart, in the order they moved.
 */
export function installCaptureTaps(stateDir: string | undefined, cluster: SimCluster): void {
  if (stateDir === undefined) return;
  const captures = liveCaptures(stateDir);
  if (captures.length === 0) return;
  const taps: { reg: CaptureRegistration; filter: PacketFilter; file: string }[] = [];
  for (const reg of captures) {
    try {
      taps.push({
        reg,
        filter: compileFilter(reg.filter),
        file: join(capturesDir(stateDir), `${reg.pid}.pkts`),
      });
    } catch {
      // tcpdump checked its filter before registering; a bad one is skipped rather than failing this command.
    }
  }
  let last = 0;
  cluster.net.tap = (kernel, dev, dir, p, frame) => {
    for (const t of taps) {
      if (t.reg.host !== kernel.name || (t.reg.iface !== "any" && t.reg.iface !== dev)) continue;
      if (!t.filter(p)) continue;
      last = Math.max(cluster.virtualDate().getTime() * 1000, last + 1);
      const rec: CaptureRecord = {
        t: last,
        dev,
        dir,
        mac: [frame.src, frame.dst],
        hex: Buffer.from(encodeIpv4(p)).toString("hex"),
      };
      try {
        // Append without creating: a capture that ended meanwhile has removed its file.
        const fd = openSync(t.file, constants.O_WRONLY | constants.O_APPEND);
        try {
          writeSync(fd, `${JSON.stringify(rec)}\n`);
        } finally {
          closeSync(fd);
        }
      } catch {
        // The capture ended between the check and the write.
      }
    }
  };
}

/** Reads what was appended to a capture file since the last call. */
export class CaptureTail {
  private offset = 0;
  private partial = "";
  constructor(private readonly file: string) {}

  read(): CaptureRecord[] {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return [];
    }
    const chunks: Buffer[] = [];
    try {
      const buf = Buffer.alloc(65536);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
    const text = this.partial + Buffer.concat(chunks).toString("utf8");
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    return lines.filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as CaptureRecord);
  }
}
