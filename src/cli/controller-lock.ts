import { join } from "node:path";
import { isTortieError, TortieError } from "../lib/index.ts";
import { ProcessLock } from "../store/index.ts";

/**
 * How long a command waits for another process's controllers to finish before giving up on settling: 2 minutes,
 * or `TORTIE_CONTROLLER_WAIT_MS` (tests).
 */
function waitMs(): number {
  const raw = process.env.TORTIE_CONTROLLER_WAIT_MS;
  return raw && /^\d+$/.test(raw) ? Number(raw) : 120_000;
}

/**
 * The controllers' leader lock (what leader election is to kube-controller-manager): one tortie process at a
 * time runs the controllers on a state dir, so two settling processes never act on the same pod at once (two
 * addresses for one pod, a pod's handle released under it). It is the store's ProcessLock under the name
 * "controllers" (`store/controllers.lock`): only the state dir's owner can take it, and a holder that died, even
 * by SIGKILL, is detected as stale. It is taken around a whole settle, never inside a store write: the store's
 * own lock stays per commit.
 *
 * Runs `fn` as the state dir's only controller process; waits (up to 2 minutes) while another one settles.
 * (Two settles in one process also take turns: the second sees the first's live holder and waits.)
 */
export async function asControllerLeader<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  const wait = waitMs();
  let started = false;
  try {
    return await new ProcessLock(join(stateDir, "store"), "controllers").withLock(() => {
      started = true;
      return fn();
    }, wait);
  } catch (e) {
    if (!started && isTortieError(e) && e.code === "Locked")
      throw new TortieError(
        "Locked",
        `another tortie process has been running the controllers for over ${wait} ms`,
      );
    throw e;
  }
}
