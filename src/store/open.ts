import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { openBackend, readDatastore } from "./datastore.ts";
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

/** The state dir's store on its recorded datastore (datastore.ts): the file store unless `up --datastore` chose etcd. */
export function openStateStore(stateDir: string, options: { now?: () => Date } = {}): ResourceClient {
  secureStateDir(stateDir);
  // On etcd, <stateDir>/store still holds the processes' locks (the controllers' leader lock, the dataplane's).
  if (readDatastore(stateDir).type === "etcd")
    mkdirSync(join(stateDir, "store"), { recursive: true, mode: 0o700 });
  return new ResourceClient(openBackend(stateDir), options);
}
