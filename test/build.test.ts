// The bundled binary: dist/tortie.cjs is what the current sources build, bin/tortie runs it (not tsx), it gives
// the same output as the sources, and it is never run stale.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
// @ts-expect-error: a JavaScript build script without type declarations
import { BUNDLE, bundleHash, bundleText } from "../scripts/build-bundle.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "tortie-build-"));
  temps.push(d);
  return d;
}

interface Run {
  code: number | null;
  out: string;
  err: string;
  trace: string[];
}

/** Runs `<packageRoot>/bin/tortie ARGS` with the start-up trace on; `sources` forces the tsx path. */
function tortie(
  packageRoot: string,
  args: string[],
  opts: { stateDir?: string; sources?: boolean } = {},
): Run {
  const r = spawnSync(join(packageRoot, "bin/tortie"), args, {
    encoding: "utf8",
    env: {
      ...process.env,
      TORTIE_STATE_DIR: opts.stateDir ?? temp(),
      TORTIE_TRACE_START: "1",
      TORTIE_SOURCES: opts.sources ? "1" : "",
    },
  });
  const lines = r.stderr.split("\n");
  return {
    code: r.status,
    out: r.stdout,
    err: lines.filter((l) => !l.startsWith("tortie: ")).join("\n"),
    trace: lines.filter((l) => l.startsWith("tortie: ")),
  };
}

test("dist/tortie.cjs is byte for byte what the current sources build, ASCII, with its hash in line 1", async () => {
  const want: string = await bundleText(root);
  const have = readFileSync(join(root, BUNDLE), "latin1");
  assert.ok(have === want, `${BUNDLE} differs from a fresh build of src/ (run npm run build)`);
  const bytes = readFileSync(join(root, BUNDLE));
  assert.ok(
    bytes.every((b) => b < 0x80),
    "the bundle must be ASCII (bin/tortie decodes it as latin1)",
  );
  const hash = bundleHash(have);
  assert.equal(
    hash,
    createHash("sha256")
      .update(have.slice(have.indexOf("\n") + 1))
      .digest("hex"),
  );
});

test("bin/tortie runs the bundle, and it prints what the sources print", () => {
  const cases = [
    ["--help"],
    ["help", "up"],
    ["kubectl", "get", "pods", "-A"],
    ["frobnicate"],
    ["kubectl", "get", "pods", "--no-such-flag"],
  ];
  for (const args of cases) {
    const bundled = tortie(root, args);
    const sources = tortie(root, args, { sources: true });
    assert.ok(
      bundled.trace.some((l) => l.startsWith(`tortie: ran ${BUNDLE}`)),
      `tortie ${args.join(" ")}: ${bundled.trace.join("; ")}`,
    );
    assert.deepEqual(sources.trace, ["tortie: ran the sources through tsx"]);
    assert.deepEqual(
      { code: bundled.code, out: bundled.out, err: bundled.err },
      { code: sources.code, out: sources.out, err: sources.err },
      `tortie ${args.join(" ")}`,
    );
  }
});

test("the bundle brings up the lab with its app (assets are read from src/) as the sources do", () => {
  const bundled = tortie(root, ["up", "--app", "yaobank"]);
  const sources = tortie(root, ["up", "--app", "yaobank"], { sources: true });
  assert.equal(bundled.code, 0, bundled.err);
  assert.match(bundled.out, /app yaobank: customer 1\/1/);
  assert.equal(bundled.out, sources.out);
});

/** A copy of the package (bin, dist, src, scripts; node_modules linked) whose bundle is newer than its sources. */
function packageCopy(): string {
  const dir = temp();
  for (const d of ["bin", "src", "scripts"]) cpSync(join(root, d), join(dir, d), { recursive: true });
  for (const f of ["package.json", "tsconfig.json"]) cpSync(join(root, f), join(dir, f));
  mkdirSync(join(dir, "dist"));
  writeFileSync(join(dir, BUNDLE), readFileSync(join(root, BUNDLE)));
  const later = Date.now() / 1000 + 60;
  utimesSync(join(dir, BUNDLE), later, later);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
}

test("a source newer than the bundle makes bin/tortie rebuild it; without the build script it runs the sources", () => {
  const dir = packageCopy();
  assert.ok(tortie(dir, ["--help"]).trace.some((l) => l.startsWith(`tortie: ran ${BUNDLE}`)));

  const source = join(dir, "src/cli/main.ts");
  const future = statSync(join(dir, BUNDLE)).mtimeMs / 1000 + 5;
  utimesSync(source, future, future);
  const rebuilt = tortie(dir, ["--help"]);
  assert.equal(rebuilt.trace[0], `tortie: rebuilt ${BUNDLE}`);
  assert.ok(rebuilt.trace[1]?.startsWith(`tortie: ran ${BUNDLE}`));
  assert.equal(rebuilt.out, tortie(root, ["--help"]).out);
  assert.ok(statSync(join(dir, BUNDLE)).mtimeMs >= statSync(source).mtimeMs - 1000);

  utimesSync(source, future + 100, future + 100);
  rmSync(join(dir, "scripts/build-bundle.mjs"));
  const fallback = tortie(dir, ["--help"]);
  assert.match(fallback.trace[0] ?? "", /^tortie: cannot build dist\/tortie\.cjs/);
  assert.equal(fallback.trace[1], "tortie: ran the sources through tsx");
  assert.equal(fallback.out, rebuilt.out);
});

test("an input dated in the future (package.json here) makes one rebuild, not one per run", () => {
  const dir = packageCopy();
  // touch keeps the nanoseconds (utimes would round them away), as an editor's or git's write does.
  const future = `@${Math.floor(Date.now() / 1000) + 3600}.123456789`;
  assert.equal(spawnSync("touch", ["-d", future, join(dir, "package.json")]).status, 0);
  assert.equal(tortie(dir, ["--help"]).trace[0], `tortie: rebuilt ${BUNDLE}`);
  const next = tortie(dir, ["--help"]);
  assert.ok(next.trace[0]?.startsWith(`tortie: ran ${BUNDLE}`), next.trace.join("; "));
});

test("the code cache is written after a run, used by the next, and a bad one is ignored and replaced", () => {
  const dir = packageCopy();
  const cache = join(dir, "dist/tortie.cjs.cache");
  const first = tortie(dir, ["--help"]);
  assert.ok(first.trace.includes(`tortie: ran ${BUNDLE} (code cache none)`), first.trace.join("; "));
  const second = tortie(dir, ["--help"]);
  assert.ok(second.trace.includes(`tortie: ran ${BUNDLE} (code cache used)`), second.trace.join("; "));
  assert.equal(second.out, first.out);

  // The right key (the bundle's first line) with data V8 refuses.
  const key = readFileSync(join(dir, BUNDLE), "latin1").split("\n")[0];
  writeFileSync(cache, `${key}\n${"x".repeat(4096)}`);
  const bad = tortie(dir, ["--help"]);
  assert.ok(bad.trace.includes(`tortie: ran ${BUNDLE} (code cache rejected)`), bad.trace.join("; "));
  assert.equal(bad.out, first.out);
  assert.ok(tortie(dir, ["--help"]).trace.includes(`tortie: ran ${BUNDLE} (code cache used)`));

  // A cache of another bundle (another first line) is not even offered to V8.
  writeFileSync(cache, `// tortie bundle sha256=${"0".repeat(64)}\n${"x".repeat(4096)}`);
  assert.ok(tortie(dir, ["--help"]).trace.includes(`tortie: ran ${BUNDLE} (code cache none)`));
});
