/**
 * The calibration figure `npm run bench` prints first: a fixed CPU-bound loop (an integer hash over 50M
 * iterations: no allocation, no memory traffic, nothing the code under test can change). Its time on a machine,
 * and how it drifts during a run, say how fast and how noisy that machine was, so figures from two runs (or two
 * machines) can be compared as ratios to it.
 */

export const CALIBRATION_ITERATIONS = 50_000_000;

/** h ← (h xor i) × 0x85ebca6b mod 2³², then h ← h xor (h >>> 13), for i = 0 … iterations − 1. */
export function hashLoop(iterations: number, seed = 0x9e3779b9): number {
  let h = seed | 0;
  for (let i = 0; i < iterations; i++) {
    h = Math.imul(h ^ i, 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

export interface Calibration {
  /** CPU time of this process (user + system) for the loop. */
  cpuMs: number;
  wallMs: number;
  /** The loop's result, so the loop cannot be optimised away (and can be checked). */
  hash: number;
}

export function calibrate(iterations = CALIBRATION_ITERATIONS): Calibration {
  const t = performance.now();
  const c = process.cpuUsage();
  const hash = hashLoop(iterations);
  const used = process.cpuUsage(c);
  return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t, hash };
}
