#!/usr/bin/env node
// npm run bench [-- SECTION...]: bundles bench/run.ts with esbuild into a temporary file (as the product runs:
// no keepNames, so no per-closure __name calls) and runs it with node --expose-gc, passing the arguments on.
// BENCH_TSX=1 (npm run bench:tsx) runs the TypeScript sources through tsx instead.
// Module-relative paths keep working: every `import.meta.url` in a bundled source reads as that source file's
// URL (src/lab reads its manifests next to itself; run.ts finds bin/tortie).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const entry = join(here, "run.ts");
const args = process.argv.slice(2);

function run(nodeArgs) {
  const r = spawnSync(process.execPath, ["--expose-gc", ...nodeArgs, ...args], { stdio: "inherit" });
  if (r.error) throw r.error;
  return r.status ?? (r.signal ? 128 : 1);
}

if (process.env.BENCH_TSX === "1") process.exit(run(["--import", "tsx", entry]));

let esbuild;
try {
  esbuild = await import("esbuild");
} catch (e) {
  console.error(
    `bench: esbuild is needed to bundle the benchmark (${e.message}); or run it through tsx: BENCH_TSX=1`,
  );
  process.exit(2);
}

const sourceUrls = {
  name: "source-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (a) => {
      const text = readFileSync(a.path, "utf8");
      const contents = text.includes("import.meta.url")
        ? text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(a.path).href))
        : text;
      return { contents, loader: "ts" };
    });
  },
};

const dir = mkdtempSync(join(tmpdir(), "tortie-bench-bundle-"));
let status = 1;
try {
  const outfile = join(dir, "run.mjs");
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "warning",
    plugins: [sourceUrls],
    // CommonJS dependencies (commander) require() Node's built-ins; an ES module has no require of its own.
    banner: {
      js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);",
    },
  });
  status = run([outfile]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(status);
