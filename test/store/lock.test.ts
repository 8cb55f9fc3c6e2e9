import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileBackend } from "../../src/store/file-backend.ts";
import { ProcessLock } from "../../src/store/process-lock.ts";

const dirs: string[] = [];
const servers: Server[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tortie-lock-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const bind = (name: string) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(name, () => {
      servers.push(s);
      resolve(s);
    });
  });

test("a squatter on the old path-derived lock name does not block writes", async () => {
  const dir = tempDir();
  // The name tortie used before: derived from the store's path alone, so anyone could compute it.
  await bind(`\0tortie-store-${createHash("sha256").update(dir).digest("hex").slice(0, 32)}`);
  const b = new FileBackend(dir);
  const started = Date.now();
  await b.create("/a", 1);
  assert.ok(Date.now() - started < 5_000);
  const key = join(dir, "lock.key");
  assert.match(readFileSync(key, "utf8"), /^[0-9a-f]{32}\n$/);
  assert.equal(statSync(key).mode & 0o777, 0o600);
});

test("the lock name comes from the key file: the same for every process of the store, different per store", () => {
  const a = tempDir();
  const b = tempDir();
  assert.equal(new ProcessLock(a).lockName(), new ProcessLock(a).lockName());
  assert.notEqual(new ProcessLock(a).lockName(), new ProcessLock(b).lockName());
});

test("a lock held too long names its holder (this process)", async () => {
  const dir = tempDir();
  const name = new ProcessLock(dir).lockName();
  await bind(`\0${name}`);
  await assert.rejects(
    new ProcessLock(dir).withLock(() => undefined, 100),
    (e: Error) =>
      new RegExp(`is locked by process ${process.pid} \\(.*\\) \\(waited 100 ms\\)$`).test(e.message),
  );
});

test("two processes writing one store at once exclude each other: every write lands, revisions stay one apart", async () => {
  const dir = tempDir();
  const backend = new URL("../../src/store/file-backend.ts", import.meta.url).href;
  const script = (who: string) =>
    `const { FileBackend } = await import(${JSON.stringify(backend)});
     const b = new FileBackend(${JSON.stringify(dir)});
     for (let i = 0; i < 100; i++) await b.create("/${who}/" + i, i);`;
  const run = (who: string) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script(who)], {
        stdio: "inherit",
      });
      child.on("exit", (code) => resolve(code));
    });
  assert.deepEqual(await Promise.all([run("a"), run("b")]), [0, 0]);
  const b = new FileBackend(dir);
  const s = b.summary();
  assert.equal(s.revision, 200);
  assert.equal(s.keys, 200);
  assert.equal(s.log?.records, 200);
});

test("a damaged lock key fails writes in one line saying what to do; reads still work", async () => {
  const dir = tempDir();
  const b = new FileBackend(dir);
  await b.create("/a", 1);
  writeFileSync(join(dir, "lock.key"), "not a key\n");
  const again = new FileBackend(dir);
  assert.equal((await again.get("/a"))?.value, 1);
  await assert.rejects(
    again.create("/b", 2),
    /the store's lock key .*lock\.key is damaged; delete it when no tortie process is running$/,
  );
});
