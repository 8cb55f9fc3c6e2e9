import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FileBackend } from "../../src/store/file-backend.ts";
import { ProcessLock } from "../../src/store/process-lock.ts";
import { tortie } from "./corruption-helpers.ts";

const dirs: string[] = [];
const children: ChildProcess[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tortie-lock-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * The squatter: another user (nobody) who watches /proc/net/unix for anything named like tortie's and binds it
 * the moment it is free, and tries to make, rename or remove entries of the store dir. Plain JS (no tsx), so it
 * needs nothing it cannot read. Prints what it saw and did as one JSON line when told to stop (SIGTERM).
 */
const SQUATTER = `
const fs = require("node:fs");
const net = require("node:net");
const storeDir = process.argv[1];
const seen = new Set(), bound = new Set(), fsErrors = {};
let reads = 0, binds = 0;
const tryBind = (name) => {
  if (bound.has(name)) return;
  binds++;
  const s = net.createServer();
  s.once("error", () => {});
  s.listen("\\0" + name, () => bound.add(name));
};
const scan = () => {
  let text = "";
  try { text = fs.readFileSync("/proc/net/unix", "utf8"); reads++; } catch {}
  for (const line of text.split("\\n")) {
    const path = line.trim().split(/\\s+/)[7];
    if (path && /^@.*tortie/i.test(path)) { const name = path.slice(1).replace(/@+$/, ""); seen.add(name); tryBind(name); }
  }
  for (const [what, op] of [
    ["readdir", () => fs.readdirSync(storeDir)],
    ["mkdir store.lock", () => fs.mkdirSync(storeDir + "/store.lock")],
    ["mkdir store.lock/x", () => fs.mkdirSync(storeDir + "/store.lock/x")],
    ["create store.lock/h.1.1.1.1", () => fs.writeFileSync(storeDir + "/store.lock/h.1.1.1.1", "")],
    ["rename store.lock", () => fs.renameSync(storeDir + "/store.lock", "/tmp/stolen-" + process.pid)],
    ["rmdir store.lock", () => fs.rmdirSync(storeDir + "/store.lock")],
  ]) {
    try { op(); fsErrors[what] = "ok"; } catch (e) { fsErrors[what] = e.code; }
  }
  setImmediate(scan);
};
process.on("SIGTERM", () => {
  process.stdout.write(JSON.stringify({ uid: process.getuid(), reads, binds, seen: [...seen], bound: [...bound], fsErrors }) + "\\n");
  process.exit(0);
});
scan();
console.error("squatting");
`;

test("another user can neither take nor block the store's lock: the owner's writes never wait a second", {
  skip: isRoot ? false : "needs root to run the squatter as uid 65534 (nobody); skipped",
}, async () => {
  const dir = tempDir();
  const storeDir = join(dir, "store");
  mkdirSync(storeDir, { mode: 0o700 });
  const b = new FileBackend(storeDir);
  await b.create("/first", 0); // the store's files exist before the squatter starts
  const child = spawn(process.execPath, ["-e", SQUATTER, storeDir], {
    uid: 65534,
    gid: 65534,
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d) => {
      err += d;
      if (err.includes("squatting")) resolve();
    });
    child.once("exit", () => reject(new Error(`the squatter exited: ${err}`)));
  });
  const prevTimeout = process.env.TORTIE_LOCK_TIMEOUT_MS;
  process.env.TORTIE_LOCK_TIMEOUT_MS = "2000"; // the old lock: a squatted write fails after 2 s, not 30
  let worst = 0;
  let writes = 0;
  const failures: string[] = [];
  try {
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const t0 = Date.now();
      try {
        await b.create(`/k/${writes}`, writes);
      } catch (e) {
        failures.push((e as Error).message);
      }
      worst = Math.max(worst, Date.now() - t0);
      writes++;
      await sleep(3); // commands are not back to back: give the squatter its window
    }
  } finally {
    if (prevTimeout === undefined) delete process.env.TORTIE_LOCK_TIMEOUT_MS;
    else process.env.TORTIE_LOCK_TIMEOUT_MS = prevTimeout;
  }
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  const report = JSON.parse(out.trim() || "{}");
  console.log(
    `# squatter (uid ${report.uid}): ${report.reads} scans of /proc/net/unix, ${report.binds} binds, saw ${JSON.stringify(report.seen)}, bound ${JSON.stringify(report.bound)}, store dir: ${JSON.stringify(report.fsErrors)}; owner: ${writes} writes, worst ${worst} ms, ${failures.length} failed`,
  );
  assert.equal(report.uid, 65534);
  assert.ok(report.reads > 0, "the squatter read /proc/net/unix");
  // The store dir is the owner's (0700): the squatter cannot list, make, rename or remove anything in it.
  for (const [what, code] of Object.entries(report.fsErrors)) assert.equal(code, "EACCES", what);
  assert.deepEqual(failures, [], "no write failed");
  assert.ok(worst < 1_000, `the worst write waited ${worst} ms`);
  assert.equal(b.summary().keys, writes + 1);
  await b.close();
});

/** A child process that takes `name`'s lock of `storeDir` through the real ProcessLock and keeps it. */
async function holder(storeDir: string, name = "store"): Promise<ChildProcess> {
  const lock = new URL("../../src/store/process-lock.ts", import.meta.url).href;
  const script = `const { ProcessLock } = await import(${JSON.stringify(lock)});
    setInterval(() => {}, 60_000);
    await new ProcessLock(${JSON.stringify(storeDir)}, ${JSON.stringify(name)}).withLock(() => {
      console.log("held");
      return new Promise(() => {});
    });`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      if (String(d).includes("held")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the holder exited with ${code}`)));
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** This process's boot id (8 hex) and start time: a holder file that names a live process (this one). */
function selfParts(): { start: string; boot: string } {
  const stat = readFileSync("/proc/self/stat", "latin1");
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] as string;
  const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8);
  return { start, boot };
}

/** A state dir with a store of one key; returns [stateDir, storeDir]. */
async function smallStore(): Promise<[string, string]> {
  const state = join(tempDir(), "state");
  const store = join(state, "store");
  const b = new FileBackend(store);
  await b.create("/a", 1);
  await b.close();
  return [state, store];
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const r = await fn();
  return [r, Date.now() - t0];
}

test("a holder killed by SIGKILL while holding the lock is detected as stale: the next write lands at once", async () => {
  const [state, store] = await smallStore();
  const child = await holder(store);
  const held = readdirSync(join(store, "store.lock"));
  assert.match(held[0] ?? "", new RegExp(`^h\\.${child.pid}\\.\\d+\\.[0-9a-f]{8}\\.[0-9a-f]+$`));
  await kill9(child);
  const b = new FileBackend(store);
  const [, ms] = await timed(() => b.create("/b", 2));
  console.log(`# write after the holder's SIGKILL: ${ms} ms`);
  assert.ok(ms < 1_000, `${ms} ms`);
  await b.close();
  assert.equal(existsSync(join(store, "store.lock")), false, "released: no lock dir left");
  const r = tortie(state, ["store", "check"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /keys: 2\n/);
});

test("a holder file naming a live pid with another start time (pid reuse), another boot, or a zombie is stale", async () => {
  const { start, boot } = selfParts();
  const other = boot === "00000000" ? "00000001" : "00000000";
  // A zombie: sh's background child exits, and sh (exec'd into sleep) never waits for it.
  const sh = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(sh);
  const zombie = await new Promise<number>((resolve) => sh.stdout.once("data", (d) => resolve(Number(d))));
  let zstart = "";
  let zstate = "";
  for (let i = 0; i < 100 && zstate !== "Z"; i++) {
    if (i > 0) await sleep(10);
    const stat = readFileSync(`/proc/${zombie}/stat`, "latin1");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    [zstate = "", zstart = ""] = [rest[0], rest[19]];
  }
  assert.equal(zstate, "Z", `process ${zombie} is a zombie`);
  const cases: [string, string][] = [
    ["another start time", `h.${process.pid}.${Number(start) + 1}.${boot}.aa`],
    ["another boot", `h.${process.pid}.${start}.${other}.bb`],
    ["a zombie", `h.${zombie}.${zstart}.${boot}.cc`],
  ];
  for (const [what, file] of cases) {
    const [, store] = await smallStore();
    mkdirSync(join(store, "store.lock"));
    writeFileSync(join(store, "store.lock", file), "");
    const b = new FileBackend(store);
    const [, ms] = await timed(() => b.create("/b", 2, undefined));
    assert.ok(ms < 1_000, `${what}: ${ms} ms`);
    assert.equal(existsSync(join(store, "store.lock")), false, `${what}: reaped and released`);
    await b.close();
  }
  // The control: the same file with this process's real start time is a live holder.
  const [, store] = await smallStore();
  mkdirSync(join(store, "store.lock"));
  writeFileSync(join(store, "store.lock", `h.${process.pid}.${start}.${boot}.dd`), "");
  await assert.rejects(
    new ProcessLock(store).withLock(() => undefined, 50),
    /is locked by process/,
  );
  assert.ok(existsSync(join(store, "store.lock", `h.${process.pid}.${start}.${boot}.dd`)));
  sh.kill("SIGKILL");
});

test("a live holder in another process makes a waiter time out, naming it in one line; the CLI exits 1", async () => {
  const [state, store] = await smallStore();
  const child = await holder(store);
  try {
    const [err, ms] = await timed(() =>
      new ProcessLock(store)
        .withLock(() => "ran", 300)
        .then(
          () => undefined,
          (e: Error) => e,
        ),
    );
    assert.ok(err, "timed out");
    assert.match(
      err.message,
      new RegExp(`^the store ${store} is locked by process ${child.pid} \\(.*node.*\\) \\(waited 300 ms\\)$`),
    );
    assert.ok(ms >= 300 && ms < 2_000, `${ms} ms`);
    const r = tortie(state, ["kubectl", "create", "namespace", "x"], { TORTIE_LOCK_TIMEOUT_MS: "300" });
    assert.equal(r.code, 1, r.err);
    assert.match(
      r.err,
      new RegExp(
        `^error: the store ${store} is locked by process ${child.pid} \\(.*\\) \\(waited 300 ms\\)\\n$`,
      ),
    );
    assert.equal(
      readdirSync(store).filter((n) => n.startsWith(".store.lock.")).length,
      0,
      "no temp dir left",
    );
  } finally {
    await kill9(child);
  }
});

test("a second ProcessLock of the same store in the same process waits for the first (its pid is alive)", async () => {
  const [, store] = await smallStore();
  const first = new ProcessLock(store);
  let release: () => void = () => {};
  const holding = first.withLock(() => new Promise<void>((r) => (release = r)));
  await sleep(20);
  await assert.rejects(
    new ProcessLock(store).withLock(() => undefined, 100),
    new RegExp(`is locked by process ${process.pid} \\(.*\\) \\(waited 100 ms\\)$`),
  );
  const order: string[] = [];
  const waiter = new ProcessLock(store).withLock(() => order.push("second"), 5_000);
  await sleep(30);
  order.push("first done");
  release();
  await holding;
  await waiter;
  assert.deepEqual(order, ["first done", "second"]);
  // The controllers' lock is another name: held, it does not block the store's.
  const ctl = new ProcessLock(store, "controllers");
  await ctl.withLock(() => new ProcessLock(store).withLock(() => undefined, 100));
});

test("anything else in the lock dir is refused in one line naming it; the store is unchanged", async () => {
  const [state, store] = await smallStore();
  mkdirSync(join(store, "store.lock"));
  writeFileSync(join(store, "store.lock", "junk"), "");
  const r = tortie(state, ["kubectl", "create", "namespace", "x"]);
  assert.equal(r.code, 1, r.err);
  assert.equal(
    r.err,
    `error: the store ${store} has an unexpected lock entry store.lock/junk; remove it when no tortie process is running\n`,
  );
  assert.equal(new FileBackend(store).summary().keys, 1);
  assert.deepEqual(readdirSync(join(store, "store.lock")), ["junk"]);
});

test("temp dirs of processes that died while taking the lock are swept; a live process's never; lock.key is ignored", async () => {
  const [, store] = await smallStore();
  const { start, boot } = selfParts();
  const dead = spawnSync("true").pid as number;
  const deadTemp = `.store.lock.${dead}.1.${boot}.ab`;
  const liveTemp = `.store.lock.${process.pid}.${start}.${boot}.cd`;
  for (const t of [deadTemp, liveTemp]) {
    mkdirSync(join(store, t));
    writeFileSync(join(store, t, `h.${t.slice(".store.lock.".length)}`), "");
  }
  writeFileSync(join(store, "lock.key"), "a key from an older tortie\n");
  const b = new FileBackend(store);
  await b.create("/b", 2);
  await b.close();
  // The dead process's temp dir is gone, the live one's stays, the old key is left alone (and unused).
  assert.deepEqual(readdirSync(store).sort(), [liveTemp, "lock.key", "wal.log"].sort());
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
      children.push(child);
      child.on("exit", (code) => resolve(code));
    });
  assert.deepEqual(await Promise.all([run("a"), run("b")]), [0, 0]);
  const b = new FileBackend(dir);
  const s = b.summary();
  assert.equal(s.revision, 200);
  assert.equal(s.keys, 200);
  assert.equal(s.log?.records, 200);
  assert.deepEqual(readdirSync(dir).sort(), ["wal.log"], "no lock or temp dir left behind");
});
