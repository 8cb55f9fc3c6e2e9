/**
 * Anchors measured by run.ts in the same run as the rows they anchor: the real kubectl's start-up for rows that
 * start a tortie process, the disk's fdatasync for durable writes, the calibration loop for CPU-time rows.
 */
import { spawnSync } from "node:child_process";
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { calibrate } from "./calibrate.ts";
import type { Anchor, Sample } from "./record.ts";
import { median } from "./record.ts";

/** Why the kubectl anchor is missing, once it has been found missing. */
export let kubectlMissing: string | undefined;

/** The real `kubectl version --client`, wall time, median of `n` runs; undefined (and why) without kubectl. */
export function kubectlAnchor(n = 5): Anchor | undefined {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
    const ms = performance.now() - t;
    if (r.error || r.status !== 0) {
      kubectlMissing = `kubectl version --client failed (${r.error?.message ?? r.stderr.trim()}); on Debian: apt-get install -y kubectl`;
      return undefined;
    }
    times.push(ms);
  }
  return { what: "kubectl version --client", ms: median(times) };
}

/** `n` appends of 250 bytes, each followed by fdatasync: the floor of a durable write on this disk. */
export function fsyncAnchor(dir: string, n: number): Anchor {
  const fd = openSync(join(dir, "fsync-floor"), "w");
  const buf = Buffer.alloc(250, 120);
  const t = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, buf);
      fdatasyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
  return { what: "write 250 B + fdatasync", ms: performance.now() - t, count: n };
}

/** The calibration loop's CPU time, as the anchor of CPU-time rows. */
export function calibrationAnchor(): Anchor {
  return { what: "calibration loop (CPU)", ms: calibrate().cpuMs };
}

/** Gives every sample of `samples` matching `which` the anchor, unless it has its own. */
export function anchorRows(
  samples: Sample[],
  anchor: Anchor | undefined,
  which: (what: string) => boolean,
): void {
  if (!anchor) return;
  for (const s of samples) if (!s.anchor && which(s.what)) s.anchor = anchor;
}

/**
 * Pairs rows with a row of the same run: `isAnchor` picks anchor rows (e.g. the naive evaluator's, or the
 * store's floor); each other row matching `anchored` gets the nearest anchor row before it, or else the first
 * one after it.
 */
export function pairWithRow(
  samples: Sample[],
  isAnchor: (what: string) => boolean,
  anchored: (what: string) => boolean = () => true,
): void {
  const anchors = samples.map((s, i) => (isAnchor(s.what) ? i : -1)).filter((i) => i >= 0);
  if (anchors.length === 0) return;
  samples.forEach((s, i) => {
    if (s.anchor || isAnchor(s.what) || !anchored(s.what)) return;
    const before = anchors.filter((a) => a < i);
    const a = samples[before.length > 0 ? before[before.length - 1]! : anchors[0]!]!;
    s.anchor = { what: a.what, ms: a.ms, count: a.count };
  });
}
