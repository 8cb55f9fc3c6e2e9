#!/usr/bin/env node
// Lists the test files explicitly, refuses to run with none, and runs them with node:test through tsx. Builds
// dist/tortie.cjs first: the tests run bin/tortie, which runs that bundle, and test/build.test.ts checks that it
// is what the sources build.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const roots = ["src", "test"];

function collect(dir, out) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (entry === "node_modules" || entry === "fixtures" || entry === "golden") continue;
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const filter = process.argv.slice(2);
let files = roots.flatMap((r) => collect(join(root, r), []));
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(1);
}
const build = spawnSync(process.execPath, [join(root, "scripts/build-bundle.mjs")], {
  cwd: root,
  stdio: "inherit",
});
// A failed build is reported by test/build.test.ts; bin/tortie meanwhile runs the sources through tsx.
if (build.status !== 0)
  console.error("run-tests: building dist/tortie.cjs failed; the bundle test will fail");
console.log(`run-tests: ${files.length} test files`);
for (const f of files) console.log(`  ${f}`);
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", ...files],
  // A test's `bin/tortie up` starts no API server in the background (the serve tests clear this themselves).
  { cwd: root, stdio: "inherit", env: { ...process.env, TORTIE_NO_SERVER: "1" } },
);
process.exit(result.status ?? 1);
