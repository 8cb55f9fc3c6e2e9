import { chmodSync, mkdirSync, statSync } from "node:fs";

/**
 * The cluster's state (Secrets included) is the owner's alone: the state dir is 0700, files in the store 0600.
 * The CLI also sets umask 077, so everything else tortie writes under the state dir (sim state, logs, captures)
 * is made private too. Directories made by an older tortie or under a loose umask are tightened when opened.
 */
export function secureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    tighten(stateDir, 0o700);
  } catch {
    // The store reports an unusable directory itself, in one line, when it opens it.
  }
}

/** chmods `path` to `mode` if it is looser and ours; a path that is not there, or another user's, is left. */
export function tighten(path: string, mode: number): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if ((st.mode & 0o777 & ~mode) === 0) return;
  if (typeof process.getuid === "function" && st.uid !== process.getuid()) return;
  chmodSync(path, mode);
}
