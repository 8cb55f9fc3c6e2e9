import { Command } from "commander";
import { TortieError } from "../lib/index.ts";
import {
  backupStore,
  checkBackup,
  checkStore,
  formatDatastore,
  readDatastore,
  restoreStore,
  type StoreSummary,
} from "../store/index.ts";
import type { CliContext } from "./context.ts";

/**
 * `tortie store check [FILE] | backup FILE | restore FILE`: verify the state dir's store (or a backup), save it
 * while writers run, put a backup back. Worded after `etcdctl snapshot status|save|restore`.
 */
export function storeProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  const store = program
    .command("store")
    .description("the state dir's store: check (verify every record), backup FILE, restore FILE");
  // makeContext always resolves one (--state-dir, $TORTIE_STATE_DIR, ./.tortie); only an in-memory context has none.
  // These work on the file store's own files; on etcd, etcd's tools do (etcdctl snapshot save|status|restore).
  const stateDir = (what: string) => {
    if (ctx.stateDir === undefined)
      throw new TortieError(
        "Invalid",
        "tortie store needs a state dir; this context keeps its store in memory",
      );
    const datastore = readDatastore(ctx.stateDir);
    if (datastore.type === "etcd")
      throw new TortieError(
        "Unsupported",
        `not supported yet: tortie store ${what} on etcd (${formatDatastore(datastore)}); use etcdctl snapshot ${what === "check" ? "status" : what === "backup" ? "save" : "restore"}`,
      );
    return ctx.stateDir;
  };
  store
    .command("check")
    .description(
      "verify the store's snapshot and every log record (checksums, revisions); with FILE, verify a backup instead",
    )
    .argument("[file]", "a backup made by 'tortie store backup'")
    .action((file: string | undefined) => {
      if (file !== undefined) {
        const b = checkBackup(file);
        ctx.out(`backup ${file}: ok\nrevision: ${b.revision}\nkeys: ${b.keys}\nsize: ${b.bytes} bytes\n`);
        return;
      }
      ctx.out(summaryText(checkStore(stateDir("check"))));
    });
  store
    .command("backup")
    .description(
      "save every key of the store, at one revision, to FILE (consistent while other commands write)",
    )
    .argument("<file>", "where to write the backup (replaced atomically; mode 0600)")
    .action(async (file: string) => {
      const b = await backupStore(stateDir("backup"), file);
      ctx.out(`Snapshot saved at ${file} (revision ${b.revision}, ${b.keys} keys, ${b.bytes} bytes)\n`);
    });
  store
    .command("restore")
    .description("replace the store with a backup made by 'tortie store backup', after verifying it")
    .argument("<file>", "the backup")
    .action(async (file: string) => {
      const r = await restoreStore(stateDir("restore"), file);
      ctx.out(
        `Restored the store from ${file}: ${r.keys} keys at revision ${r.revision}` +
          (r.storeRevision === r.revision ? "" : `, now revision ${r.storeRevision}`) +
          "; the previous contents were replaced\n",
      );
    });
  return program;
}

function summaryText(s: StoreSummary): string {
  const lines = [`store ${s.dir}: ok`, `revision: ${s.revision}`, `keys: ${s.keys}`];
  lines.push(
    s.snapshot
      ? `snapshot: revision ${s.snapshot.revision}, format ${s.snapshot.format}, ${s.snapshot.bytes} bytes`
      : "snapshot: none",
  );
  if (s.log) {
    let log = `log: base ${s.log.base}, format ${s.log.format}, ${s.log.records} records, ${s.log.bytes} bytes`;
    if (s.log.tornBytes > 0)
      log += ` (a torn last record of ${s.log.tornBytes} bytes, from an interrupted write: the next write drops it)`;
    lines.push(log);
  } else lines.push("log: none");
  return `${lines.join("\n")}\n`;
}
