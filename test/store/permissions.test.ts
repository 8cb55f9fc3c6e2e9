import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { bin, manifest, TempDirs } from "./corruption-helpers.ts";

const temp = new TempDirs();
after(() => temp.cleanup());

/** bin/tortie under umask 000 (the loosest): what it makes must still be private. */
function looseTortie(stateDir: string, args: string[]) {
  return spawnSync(
    "sh",
    ["-c", 'umask 000 && exec "$0" "$@"', process.execPath, bin, "--state-dir", stateDir, ...args],
    {
      encoding: "utf8",
      timeout: 60_000,
    },
  );
}

function modes(dir: string, out: Record<string, number> = {}, rel = ""): Record<string, number> {
  out[rel || "."] = statSync(dir).mode & 0o777;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) modes(p, out, `${rel}${e}/`);
    else out[`${rel}${e}`] = statSync(p).mode & 0o777;
  }
  return out;
}

test("under umask 000, the state dir and everything tortie writes in it are 0700 / 0600", () => {
  const dir = temp.make("tortie-perm-");
  const s = join(dir, "state");
  const m = join(dir, "m.yaml");
  writeFileSync(m, manifest("t", 3, "v"));
  // up writes the sim's state and logs; apply the store; backup a file of its own.
  for (const args of [
    ["up"],
    ["apply", "-f", m],
    ["exec", "node1", "--", "ping", "-c", "1", "198.19.0.2"],
    ["store", "backup", join(s, "backup.snap")],
  ]) {
    const r = looseTortie(s, args);
    assert.equal(r.status, 0, r.stderr);
  }
  const all = modes(s);
  assert.ok(Object.keys(all).length >= 8, JSON.stringify(all));
  for (const [path, mode] of Object.entries(all))
    assert.equal(
      mode,
      statSync(join(s, path)).isDirectory() ? 0o700 : 0o600,
      `${path} is ${mode.toString(8)}`,
    );
});

test("a state dir left 0755/0644 (older tortie, loose umask) is tightened when a command opens it", () => {
  const dir = temp.make("tortie-perm-old-");
  const s = join(dir, "state");
  const m = join(dir, "m.yaml");
  writeFileSync(m, manifest("t", 2, "v"));
  assert.equal(looseTortie(s, ["apply", "-f", m]).status, 0);
  chmodSync(s, 0o755);
  chmodSync(join(s, "store"), 0o755);
  chmodSync(join(s, "store", "wal.log"), 0o644);
  mkdirSync(join(s, "store-other"), { mode: 0o755 }); // not tortie's: left as it is
  const r = looseTortie(s, ["kubectl", "get", "cm", "-n", "t"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(s).mode & 0o777, 0o700);
  assert.equal(statSync(join(s, "store")).mode & 0o777, 0o700);
  assert.equal(statSync(join(s, "store", "wal.log")).mode & 0o777, 0o600);
});
