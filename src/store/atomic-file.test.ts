import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeFileAtomic } from "./atomic-file.ts";

const root = mkdtempSync(join(tmpdir(), "tortie-atomic-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("a write that cannot be put in place (the target is a directory) leaves no temp file behind", () => {
  const dir = join(root, "a");
  mkdirSync(join(dir, "target"), { recursive: true });
  assert.throws(() => writeFileAtomic(dir, "target", "x"), /EISDIR|EEXIST|ENOTEMPTY/);
  assert.deepEqual(readdirSync(dir), ["target"]);
});

test("a file or link already at the temp name is replaced, never written through", () => {
  const dir = join(root, "b");
  mkdirSync(dir);
  const victim = join(root, "victim");
  writeFileSync(victim, "keep");
  symlinkSync(victim, join(dir, `.out.${process.pid}.tmp`));
  writeFileAtomic(dir, "out", "secret");
  assert.equal(readFileSync(victim, "utf8"), "keep");
  assert.equal(readFileSync(join(dir, "out"), "utf8"), "secret");
  assert.equal(statSync(join(dir, "out")).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ["out"]);
});
