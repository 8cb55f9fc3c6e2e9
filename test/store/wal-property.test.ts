import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { isTortieError } from "../../src/lib/index.ts";
import { FileBackend } from "../../src/store/file-backend.ts";

// Properties of reading a damaged write-ahead log, over every byte of a real one (in-process: no CLI start-up).
// Seeded and bounded; the seed and case counts are printed.

const SEED = 1616;
const RUNS = 1000;
const root = mkdtempSync(join(tmpdir(), "tortie-wal-prop-"));
after(() => rmSync(root, { recursive: true, force: true }));
let log = Buffer.alloc(0);
/** The key → value map after each revision (index = revision). */
const states: Map<string, unknown>[] = [];

before(async () => {
  const dir = join(root, "orig");
  const b = new FileBackend(dir);
  const ops: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < 8; i++) ops.push(() => b.create(`/k/${i}`, { i, text: "héllo" }));
  for (let i = 0; i < 8; i += 2) ops.push(() => b.update(`/k/${i}`, { i, text: "changed" }));
  for (let i = 1; i < 8; i += 3) ops.push(() => b.delete(`/k/${i}`));
  const state = new Map<string, unknown>();
  states.push(new Map());
  for (const op of ops) {
    await op();
    state.clear();
    for (const e of (await b.list("/")).items) state.set(e.key, e.value);
    states.push(new Map(state));
  }
  log = readFileSync(join(dir, "wal.log"));
});

let n = 0;
/** Loads `bytes` as a store's log; the key → value map, or the refusal's message. */
async function load(
  bytes: Buffer,
): Promise<{ state: Map<string, unknown>; rev: number } | { refused: string }> {
  const dir = join(root, `case-${n++}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, "wal.log"), bytes);
    const fresh = new FileBackend(dir);
    const state = new Map<string, unknown>();
    for (const e of (await fresh.list("/")).items) state.set(e.key, e.value);
    return { state, rev: await fresh.revision() };
  } catch (e) {
    if (!isTortieError(e)) throw e;
    return { refused: e.message };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("any single changed byte of the log is refused in one line, or (the last newline only) drops the last record", async () => {
  const last = states.length - 1;
  let refused = 0;
  let dropped = 0;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: log.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, delta) => {
      const bytes = Buffer.from(log);
      bytes[at] = (bytes[at]! + delta) % 256;
      const r = await load(bytes);
      if ("refused" in r) {
        refused++;
        assert.doesNotMatch(r.refused, /\n/);
        assert.match(
          r.refused,
          /store log .*wal\.log (is damaged at line \d+ \(byte \d+|continues revision|ends at)/,
        );
        return;
      }
      // Accepted: only when the final newline was changed, which turns the last record into a torn tail.
      assert.equal(at, log.length - 1, `byte ${at} changed and the log was accepted`);
      assert.equal(r.rev, last - 1);
      assert.deepEqual(r.state, states[last - 1]);
      dropped++;
    }),
    { seed: SEED, numRuns: RUNS },
  );
  console.log(
    `seed ${SEED}: ${RUNS} single-byte changes of a ${log.length}-byte log: ${refused} refused, ${dropped} a torn tail`,
  );
});

test("a log cut at any byte (a crash) reads as exactly the records whose lines are complete; a cut header is refused", async () => {
  const ends: number[] = [];
  for (let i = 0; i < log.length; i++) if (log[i] === 10) ends.push(i + 1);
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: log.length }), async (cut) => {
      cases++;
      const r = await load(log.subarray(0, cut));
      if (cut < ends[0]!) {
        assert.ok("refused" in r, `cut at ${cut} inside the header was accepted`);
        return;
      }
      assert.ok(!("refused" in r), `cut at ${cut}: ${"refused" in r ? r.refused : ""}`);
      const complete = ends.filter((e) => e <= cut).length - 1; // records, not counting the header
      assert.equal(r.rev, complete);
      assert.deepEqual(r.state, states[complete]);
    }),
    { seed: SEED, numRuns: 300 },
  );
  console.log(`seed ${SEED}: ${cases} cuts of a ${log.length}-byte log with ${ends.length - 1} records`);
});

test("any single changed byte of a snapshot is refused in one line", async () => {
  const dir = join(root, "snap-orig");
  const b = new FileBackend(dir);
  for (let i = 0; i < 6; i++) await b.create(`/s/${i}`, { i, text: "snap" });
  await b.compact(await b.revision());
  const snap = readFileSync(join(dir, "snapshot.json"));
  const header = readFileSync(join(dir, "wal.log"));
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: snap.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      async (at, delta) => {
        cases++;
        const bytes = Buffer.from(snap);
        bytes[at] = (bytes[at]! + delta) % 256;
        const d = join(root, `snap-case-${cases}`);
        mkdirSync(d);
        writeFileSync(join(d, "snapshot.json"), bytes);
        writeFileSync(join(d, "wal.log"), header);
        try {
          assert.throws(
            () => new FileBackend(d),
            (e: Error) =>
              isTortieError(e) && /snapshot\.json is damaged: /.test(e.message) && !e.message.includes("\n"),
          );
        } finally {
          rmSync(d, { recursive: true, force: true });
        }
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
  console.log(`seed ${SEED}: ${cases} single-byte changes of a ${snap.length}-byte snapshot, all refused`);
});
