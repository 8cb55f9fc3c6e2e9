/**
 * Which state dir a command line names. Kept free of heavy imports: the forwarding fast path (dist/forward.cjs,
 * src/cli/forward.ts) needs it before anything else is loaded, and bin/tortie repeats the same few lines.
 */
import { resolve } from "node:path";

/** Pulls `--state-dir DIR` / `--state-dir=DIR` out of argv wherever it appears. */
export function extractStateDir(argv: string[]): { stateDir?: string; rest: string[] } {
  const rest: string[] = [];
  let stateDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--state-dir") stateDir = argv[++i];
    else if (a.startsWith("--state-dir=")) stateDir = a.slice("--state-dir=".length);
    else rest.push(a);
  }
  return stateDir === undefined ? { rest } : { stateDir, rest };
}

/**
 * The state dir's absolute path: the flag, else TORTIE_STATE_DIR, else ./.tortie. The store's resolveStateDir
 * rule, repeated because importing the store here would load it (test/build.test.ts checks that they agree).
 */
export function stateDirPath(flag?: string): string {
  return resolve(flag ?? process.env.TORTIE_STATE_DIR ?? ".tortie");
}
