#!/usr/bin/env node
// Builds dist/tortie.cjs, the one-file JavaScript bundle bin/tortie runs: src/cli/index.ts and every npm
// dependency, compiled by esbuild; and dist/forward.cjs, the small one bin/tortie runs first while an API server
// serves the state dir (src/cli/forward.ts: it sends the command there, node built-ins only). `npm run build` and `npm install` (prepare) run it; bin/tortie runs it when a
// source is newer than the bundle. `node scripts/build-bundle.mjs --check` exits 1 if dist/ is not what the
// sources build; `--optional` (npm's prepare) skips the build when esbuild is not installed.
//
// Why CommonJS and ASCII: bin/tortie compiles the bundle with vm.Script and V8's code cache, which needs a
// classic script (Node 20 has no code cache for ES modules), and reads it as latin1, which is ~50x cheaper
// than decoding UTF-8 (a 2 MB file: ~1 ms against ~40 ms). esbuild escapes non-ASCII in strings and
// identifiers; what it keeps verbatim (comments, regular expression literals) is escaped here as \uXXXX, which
// means the same there.
import { createHash } from "node:crypto";
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The bundle bin/tortie runs, relative to the package root. */
export const BUNDLE = "dist/tortie.cjs";
/** The forwarding fast path's bundle (~10 KB against ~3 MB: loading the big one is most of a forwarded command). */
export const FORWARD_BUNDLE = "dist/forward.cjs";
/** Each bundle's entry point. */
const ENTRIES = { [BUNDLE]: "src/cli/index.ts", [FORWARD_BUNDLE]: "src/cli/forward.ts" };
const HEADER = "// tortie bundle sha256=";

/** Inputs of the bundle besides src/: the same list as bin/tortie's EXTRA_INPUTS. */
const EXTRA_INPUTS = ["package.json", "package-lock.json", "tsconfig.json", "scripts/build-bundle.mjs"];

/** The newest mtime of bin/tortie's staleness inputs (src/ but tests, EXTRA_INPUTS), for the stamp. */
function newestInputMtime(root) {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (!e.name.endsWith(".test.ts")) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(root, "src"));
  for (const f of EXTRA_INPUTS)
    newest = Math.max(newest, statSync(join(root, f), { throwIfNoEntry: false })?.mtimeMs ?? 0);
  return newest;
}

/** Each source module's own `import.meta.url`, as it is when tsx runs the sources (assets are read from src/). */
function importMetaUrlPlugin(root) {
  return {
    name: "import-meta-url",
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta.url")) return undefined;
        const rel = relative(root, args.path).split("\\").join("/");
        return {
          contents: text.replaceAll("import.meta.url", `__tortieSourceUrl(${JSON.stringify(rel)})`),
          loader: "ts",
        };
      });
    },
  };
}

/** Non-ASCII characters left in the output (comments, regex literals) as \uXXXX escapes. */
function escapeNonAscii(text) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is "everything above ASCII"
  return text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Each bundle's text (by its path, BUNDLE and FORWARD_BUNDLE) for the sources under `root`: a first line with
 * the sha256 of the rest, then the code. Deterministic: the same sources give the same bytes.
 */
export async function bundleTexts(root, { logLevel = "warning" } = {}) {
  const { build } = await import("esbuild");
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.entries(ENTRIES).map(([out, entry]) => ({
      in: entry,
      out: out.replace(/\.cjs$/, ""),
    })),
    outdir: root,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    write: false,
    platform: "node",
    format: "cjs",
    target: "node20",
    charset: "ascii",
    legalComments: "eof",
    logLevel,
    banner: {
      js: 'const __tortieSourceUrl = (p) => require("node:url").pathToFileURL(require("node:path").join(__dirname, "..", p)).href;',
    },
    plugins: [importMetaUrlPlugin(root)],
  });
  const texts = {};
  for (const file of result.outputFiles) {
    const code = escapeNonAscii(file.text);
    const hash = createHash("sha256").update(code).digest("hex");
    texts[relative(root, file.path).split("\\").join("/")] = `${HEADER}${hash}\n${code}`;
  }
  return texts;
}

/** The text of dist/tortie.cjs (bundleTexts' first bundle). */
export async function bundleText(root, options = {}) {
  return (await bundleTexts(root, options))[BUNDLE];
}

/** The hash bundleText wrote in the first line of `text`, or undefined when `text` is not a bundle. */
export function bundleHash(text) {
  const nl = text.indexOf("\n");
  return text.startsWith(HEADER) && nl > 0 ? text.slice(HEADER.length, nl) : undefined;
}

/**
 * Builds both bundles and replaces each atomically (concurrent builds are safe); dist/forward.cjs first, so
 * that once dist/tortie.cjs is fresh both are. Their mtime is set to when the build started (minus the
 * filesystem clock's coarseness), so a source saved during the build makes them stale. Returns
 * dist/tortie.cjs's path.
 */
export async function buildBundle(root, options = {}) {
  const started = Date.now();
  const newest = newestInputMtime(root);
  const texts = await bundleTexts(root, options);
  // An input dated in the future would otherwise make every run rebuild. utimes takes seconds as a double,
  // which drops the sub-microsecond digits: a millisecond more keeps the stamp at or after that input.
  const stamp = (newest > started ? Math.ceil(newest) + 1 : started - 50) / 1000;
  for (const bundle of [FORWARD_BUNDLE, BUNDLE]) {
    const out = join(root, bundle);
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, texts[bundle], "latin1");
      utimesSync(tmp, stamp, stamp);
      renameSync(tmp, out);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return join(root, BUNDLE);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  if (process.argv.includes("--check")) {
    const texts = await bundleTexts(root);
    for (const [bundle, want] of Object.entries(texts)) {
      let have = "";
      try {
        have = readFileSync(join(root, bundle), "latin1");
      } catch {}
      if (have !== want) {
        console.error(`${bundle} is not built from the current sources; run npm run build`);
        process.exit(1);
      }
      console.log(`${bundle} matches the sources (sha256 ${bundleHash(want)})`);
    }
  } else {
    // npm's prepare passes --optional: an install that cannot load esbuild (it normally comes with tsx, a
    // dependency) must not fail; bin/tortie then runs the sources through tsx.
    if (process.argv.includes("--optional")) {
      try {
        await import("esbuild");
      } catch {
        console.log("esbuild is not installed: bin/tortie will run the TypeScript sources through tsx");
        process.exit(0);
      }
    }
    await buildBundle(root);
    console.log(
      `built ${[BUNDLE, FORWARD_BUNDLE].map((b) => relative(process.cwd(), join(root, b))).join(" and ")}`,
    );
  }
}
