import { join, resolve } from "node:path";
import { FileBackend } from "./file-backend.ts";
import { secureStateDir } from "./permissions.ts";
import { ResourceClient } from "./resource-client.ts";

/** The state directory: `--state-dir`, else $TORTIE_STATE_DIR, else ./.tortie (CLI.md). */
export function resolveStateDir(flag?: string): string {
  return resolve(flag ?? process.env.TORTIE_STATE_DIR ?? ".tortie");
}

export function openFileStore(stateDir: string, options: { now?: () => Date } = {}): ResourceClient {
  secureStateDir(stateDir);
  return new ResourceClient(new FileBackend(join(stateDir, "store")), options);
}
