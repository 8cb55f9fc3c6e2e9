import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TortieError } from "../lib/index.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import type { StoreBackend } from "./backend.ts";
import { EtcdBackend } from "./etcd-backend.ts";
import { FileBackend } from "./file-backend.ts";
import { secureStateDir } from "./permissions.ts";

/**
 * Which backend holds a state dir's cluster: the file store in `<stateDir>/store` (the default), or etcd v3 (Calico's
 * etcd datastore mode). `tortie up --datastore` records the choice in `<stateDir>/datastore.json` (0600), so every
 * later command on the state dir opens the same backend.
 */
export type Datastore = { type: "file" } | { type: "etcd"; endpoints: string[] };

export const DATASTORE_FILE = "datastore.json";

/**
 * `file`, or etcd endpoints: `etcd://127.0.0.1:2379` (tortie's spelling), `http://127.0.0.1:2379`, several joined
 * by commas (`etcd://10.0.0.1:2379,10.0.0.2:2379`; a bare host:port after a comma takes the first one's form).
 */
export function parseDatastore(text: string): Datastore {
  const spec = text.trim();
  if (spec === "file") return { type: "file" };
  const endpoints = spec.split(",").map((part, i) => {
    const p = part.trim();
    const m = /^(?:(etcd|http|https):\/\/)?([^/\s]+?)\/?$/.exec(p);
    if (!m || (i === 0 && !m[1]))
      throw new TortieError(
        "Usage",
        `invalid --datastore "${text}": expected "file" or etcd endpoints such as etcd://127.0.0.1:2379`,
      );
    if (m[1] === "https")
      throw new TortieError("Unsupported", `not supported yet: TLS to etcd (${p}); use an http:// endpoint`);
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(m[2]!))
      throw new TortieError("Usage", `invalid etcd endpoint "${p}": expected host:port, e.g. 127.0.0.1:2379`);
    return `http://${m[2]}`;
  });
  return { type: "etcd", endpoints };
}

/** The choice as `--datastore` spells it. */
export function formatDatastore(d: Datastore): string {
  return d.type === "file" ? "file" : d.endpoints.map((e) => e.replace(/^http:\/\//, "etcd://")).join(",");
}

/** The state dir's recorded datastore; the file store when none was chosen. */
export function readDatastore(stateDir: string): Datastore {
  const path = join(stateDir, DATASTORE_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { type: "file" };
    throw new TortieError("Invalid", `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const json = JSON.parse(text);
    if (json?.type === "file") return { type: "file" };
    if (json?.type === "etcd" && Array.isArray(json.endpoints) && json.endpoints.length > 0)
      return parseDatastore(json.endpoints.join(","));
  } catch (e) {
    if (e instanceof TortieError) throw new TortieError("Invalid", `${path} is damaged: ${e.message}`);
  }
  throw new TortieError(
    "Invalid",
    `${path} is damaged: expected {"type":"file"} or {"type":"etcd","endpoints":[...]}`,
  );
}

/** Opens the state dir's backend (the file store, or a client of the recorded etcd endpoints). */
export function openBackend(stateDir: string): StoreBackend {
  const d = readDatastore(stateDir);
  return d.type === "etcd" ? new EtcdBackend(d.endpoints) : new FileBackend(join(stateDir, "store"));
}

/**
 * Records `wanted` as the state dir's datastore. A state dir whose current datastore still holds a cluster keeps
 * it: moving would leave that cluster behind, so `tortie down` comes first.
 */
export async function chooseDatastore(stateDir: string, wanted: Datastore): Promise<void> {
  secureStateDir(stateDir);
  const current = readDatastore(stateDir);
  if (formatDatastore(current) === formatDatastore(wanted)) return;
  const backend = openBackend(stateDir);
  try {
    const { items } = await backend.list("/registry/");
    if (items.length > 0)
      throw new TortieError(
        "Conflict",
        `the cluster in ${stateDir} is on the datastore ${formatDatastore(current)}; run "tortie down" first to bring it up on ${formatDatastore(wanted)}`,
      );
  } finally {
    await backend.close();
  }
  if (wanted.type === "etcd") {
    // An etcd that does not answer is refused now, not recorded for every later command to fail on.
    const etcd = new EtcdBackend(wanted.endpoints);
    await etcd.revision().finally(() => etcd.close());
  }
  writeFileAtomic(stateDir, DATASTORE_FILE, `${JSON.stringify(wanted)}\n`);
}
