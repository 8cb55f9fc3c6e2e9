// The bundled binary: dist/tortie.cjs is what the current sources build, bin/tortie runs it (not tsx), it gives
// the same output as the sources, and it is never run stale.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
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
import type { IncomingMessage } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
// @ts-expect-error: a JavaScript build script without type declarations
import { BUNDLE, bundleHash, bundleText, bundleTexts, FORWARD_BUNDLE } from "../scripts/build-bundle.mjs";
import { processStartTime, writeEndpoint } from "../src/cli/serve-endpoint.ts";
import { stateDirPath } from "../src/cli/state-dir-flag.ts";
import { ensureCredentials } from "../src/server/index.ts";
import { resolveStateDir } from "../src/store/index.ts";

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

/**
 * Runs `<packageRoot>/bin/tortie ARGS` with the start-up trace on; `sources` forces the tsx path. No API server
 * (`up` starts none) unless `env` says otherwise.
 */
function tortie(
  packageRoot: string,
  args: string[],
  opts: {
    stateDir?: string;
    sources?: boolean;
    env?: Record<string, string>;
    input?: string;
    cwd?: string;
  } = {},
): Run {
  const r = spawnSync(join(packageRoot, "bin/tortie"), args, {
    encoding: "utf8",
    ...(opts.input === undefined ? {} : { input: opts.input }),
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    env: {
      ...process.env,
      TORTIE_STATE_DIR: opts.stateDir ?? temp(),
      TORTIE_TRACE_START: "1",
      TORTIE_SOURCES: opts.sources ? "1" : "",
      TORTIE_NO_SERVER: "1",
      ...opts.env,
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
  const later = Date.now() / 1000 + 60;
  for (const bundle of [BUNDLE, FORWARD_BUNDLE]) {
    writeFileSync(join(dir, bundle), readFileSync(join(root, bundle)));
    utimesSync(join(dir, bundle), later, later);
  }
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
  assert.equal(rebuilt.trace[0], `tortie: rebuilt ${BUNDLE} and ${FORWARD_BUNDLE}`);
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
  assert.equal(tortie(dir, ["--help"]).trace[0], `tortie: rebuilt ${BUNDLE} and ${FORWARD_BUNDLE}`);
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

test("dist/forward.cjs is what the sources build, ASCII, small, and needs node's built-ins only", async () => {
  const want: string = (await bundleTexts(root))[FORWARD_BUNDLE];
  const have = readFileSync(join(root, FORWARD_BUNDLE), "latin1");
  assert.ok(have === want, `${FORWARD_BUNDLE} differs from a fresh build of src/ (run npm run build)`);
  assert.ok(readFileSync(join(root, FORWARD_BUNDLE)).every((b) => b < 0x80));
  const required = [...have.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!);
  assert.deepEqual(
    required.filter((m) => !m.startsWith("node:")),
    [],
  );
  // The point of the fast path: it loads a small fraction of the big bundle.
  assert.ok(have.length < 64 * 1024, `${FORWARD_BUNDLE} is ${have.length} bytes`);
});

test("`tortie kubectl`'s modules do not load the API server's libraries (hono, ws, node-forge) until it starts", async () => {
  const { build } = await import("esbuild");
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/cli/kubectl.ts"],
    bundle: true,
    write: false,
    platform: "node",
    format: "esm",
    metafile: true,
    outdir: temp(),
    logLevel: "silent",
  });
  const inputs = result.metafile.inputs;
  // What evaluating kubectl.ts evaluates: its static imports, transitively (dynamic imports load on demand).
  const loaded = new Set<string>();
  const visit = (path: string) => {
    if (loaded.has(path)) return;
    loaded.add(path);
    for (const i of inputs[path]?.imports ?? [])
      if (i.kind !== "dynamic-import" && !i.external) visit(i.path);
  };
  visit("src/cli/kubectl.ts");
  const heavy = [...loaded].filter((p) => /^node_modules\/(hono|@hono\/node-server|ws|node-forge)\//.test(p));
  assert.deepEqual(heavy, []);
  assert.ok(loaded.has("src/server/table.ts"), "the check follows kubectl.ts into the server's tables");
});

test("the state dir rule of the fast path is the store's", () => {
  const saved = process.env.TORTIE_STATE_DIR;
  try {
    for (const env of [undefined, "", "/srv/x", "rel/y"]) {
      if (env === undefined) delete process.env.TORTIE_STATE_DIR;
      else process.env.TORTIE_STATE_DIR = env;
      for (const flag of [undefined, "", "a", "/abs", "../up"])
        assert.equal(stateDirPath(flag), resolveStateDir(flag), `flag ${flag}, TORTIE_STATE_DIR ${env}`);
    }
  } finally {
    if (saved === undefined) delete process.env.TORTIE_STATE_DIR;
    else process.env.TORTIE_STATE_DIR = saved;
  }
});

/** A stand-in for `tortie serve`'s command endpoint, in this process, recorded in `stateDir`'s endpoint.json. */
async function fakeServer(
  t: TestContext,
  stateDir: string,
  answer: (body: { argv: string[]; stdin?: string }) => { status: number; frames?: object[] },
): Promise<{ bodies: { argv: string[]; stdin?: string }[] }> {
  const credentials = await ensureCredentials(join(stateDir, "server"));
  const bodies: { argv: string[]; stdin?: string }[] = [];
  const server = createServer(
    { key: credentials.keyPem, cert: credentials.certPem },
    async (req: IncomingMessage, res) => {
      let text = "";
      for await (const chunk of req) text += chunk;
      assert.equal(req.headers.authorization, `Bearer ${credentials.token}`);
      assert.equal(req.url, "/tortie/v1/commands");
      const body = JSON.parse(text);
      bodies.push(body);
      const { status, frames = [] } = answer(body);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(frames.map((f) => `${JSON.stringify(f)}\n`).join(""));
    },
  );
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  writeEndpoint(stateDir, {
    pid: process.pid,
    start: processStartTime(process.pid),
    state: "listening",
    port,
    url: `https://127.0.0.1:${port}`,
    caCertPem: credentials.caCertPem,
    token: credentials.token,
  });
  return { bodies };
}

/** bin/tortie in a child process without blocking this one (which may be serving it). */
function tortieAsync(
  args: string[],
  opts: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {},
): Promise<Run> {
  const env: Record<string, string> = {};
  const merged = {
    ...process.env,
    TORTIE_TRACE_START: "1",
    TORTIE_SOURCES: "",
    TORTIE_NO_SERVER: "",
    ...opts.env,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
  const child = spawn(join(root, "bin/tortie"), args, { env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  child.stdin.end(opts.input ?? "");
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  return new Promise((done) =>
    child.on("close", (code) => {
      const lines = err.split("\n");
      done({
        code,
        out,
        err: lines.filter((l) => !l.startsWith("tortie: ")).join("\n"),
        trace: lines.filter((l) => l.startsWith("tortie: ")),
      });
    }),
  );
}

test("while a server serves the state dir, the command goes through dist/forward.cjs alone", async (t) => {
  const cwd = temp();
  const stateDir = join(cwd, ".tortie");
  mkdirSync(stateDir);
  const { bodies } = await fakeServer(t, stateDir, () => ({
    status: 200,
    frames: [{ o: "NAME   READY\n" }, { e: "a warning\n" }, { exit: 3 }],
  }));
  // The state dir named each way the store resolves it: the flag (both spellings), the variable, ./.tortie.
  const ways: [string[], Record<string, string | undefined>, string | undefined][] = [
    [["--state-dir", stateDir], { TORTIE_STATE_DIR: "/nonexistent" }, undefined],
    [[`--state-dir=${stateDir}`], {}, undefined],
    [[], { TORTIE_STATE_DIR: stateDir }, undefined],
    [[], { TORTIE_STATE_DIR: undefined }, cwd],
  ];
  for (const [flag, env, dir] of ways) {
    const r = await tortieAsync([...flag, "kubectl", "get", "pods"], { env, ...(dir ? { cwd: dir } : {}) });
    const how = `${flag.join(" ")} ${JSON.stringify(env)}`;
    assert.deepEqual(
      { code: r.code, out: r.out, err: r.err },
      { code: 3, out: "NAME   READY\n", err: "a warning\n" },
      how,
    );
    assert.equal(r.trace[0], `tortie: ran ${FORWARD_BUNDLE}`, how);
    assert.match(r.trace[1] ?? "", /^tortie: forwarded the command/, how);
    assert.ok(!r.trace.some((l) => l.startsWith(`tortie: ran ${BUNDLE}`)), `${how}: ${r.trace.join("; ")}`);
  }
  assert.equal(bodies.length, ways.length);
  assert.deepEqual(bodies[0]!.argv, ["--state-dir", stateDir, "kubectl", "get", "pods"]);

  // Commands that run here, and TORTIE_NO_SERVER=1, go to the big bundle without asking the server.
  const help = await tortieAsync(["--state-dir", stateDir, "--help"]);
  assert.ok(
    help.trace.some((l) => l.startsWith(`tortie: ran ${BUNDLE}`)),
    help.trace.join("; "),
  );
  const noServer = await tortieAsync(["--state-dir", stateDir, "kubectl", "get", "pods"], {
    env: { TORTIE_NO_SERVER: "1" },
  });
  assert.equal(noServer.code, 0, noServer.err);
  assert.ok(!noServer.trace.includes(`tortie: ran ${FORWARD_BUNDLE}`), noServer.trace.join("; "));
  assert.equal(bodies.length, ways.length);
});

test("a server that refuses the command: it runs here once, with the stdin the fast path read", async (t) => {
  const stateDir = temp();
  const { bodies } = await fakeServer(t, stateDir, () => ({ status: 503 }));
  const manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-stdin\n";
  const r = await tortieAsync(["--state-dir", stateDir, "kubectl", "apply", "-f", "-"], { input: manifest });
  assert.deepEqual({ code: r.code, out: r.out }, { code: 0, out: "configmap/from-stdin created\n" }, r.err);
  assert.equal(r.trace[0], `tortie: ran ${FORWARD_BUNDLE}`);
  assert.match(r.trace[1] ?? "", /^tortie: ran locally, the server did not take the command/);
  assert.ok(r.trace[2]?.startsWith(`tortie: ran ${BUNDLE}`), r.trace.join("; "));
  assert.equal(r.trace.length, 3, "the big bundle does not ask the server again");
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0]!.stdin, manifest);
});

test("a stale endpoint (its process has exited) is not used: the command runs here", async () => {
  const stateDir = temp();
  const exited = spawnSync(process.execPath, ["-e", "0"]).pid;
  mkdirSync(join(stateDir, "server"), { recursive: true });
  writeEndpoint(stateDir, {
    pid: exited,
    start: 1,
    state: "listening",
    port: 1,
    url: "https://127.0.0.1:1",
    caCertPem: "x",
    token: "x",
  });
  const r = await tortieAsync(["--state-dir", resolve(stateDir), "kubectl", "get", "pods"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.trace[0], `tortie: ran ${FORWARD_BUNDLE}`);
  assert.ok(r.trace[1]?.startsWith(`tortie: ran ${BUNDLE}`), r.trace.join("; "));
});
