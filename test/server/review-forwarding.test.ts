/**
 * Review (issue 18, R1): `POST /tortie/v1/commands` must run only what a `tortie …` client forwards. The client
 * keeps `store`, `internal`, `up`, `down`, `serve`, `exec`, `shell`, … local (src/cli/forward.ts), but the server
 * runs any argv it is sent: `store backup FILE` writes anywhere the server can, and `internal serve-app` listens
 * on 0.0.0.0:80 inside the API server and never returns, which wedges every later forwarded command and settle.
 * The issue: "no endpoint writes outside the state dir".
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/tortie", import.meta.url));

interface Endpoint {
  url: string;
  token: string;
  caCertPem: string;
}

/** `tortie serve` on a fresh state dir; stopped (by its pid) and removed after the test. */
async function serve(t: TestContext): Promise<{ root: string; endpoint: Endpoint }> {
  const root = mkdtempSync(join(tmpdir(), "tortie-review-fwd-"));
  const stateDir = join(root, "state");
  const child: ChildProcess = spawn(process.execPath, [BIN, "--state-dir", stateDir, "serve"], {
    stdio: "ignore",
    env: { ...process.env, TORTIE_NO_SERVER: "" },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });
  const path = join(stateDir, "server", "endpoint.json");
  for (let i = 0; i < 3000; i++) {
    if (child.exitCode !== null) throw new Error(`tortie serve exited with ${child.exitCode}`);
    try {
      const record = JSON.parse(readFileSync(path, "utf8"));
      if (record.state === "listening") return { root, endpoint: record };
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("tortie serve never listened");
}

/** Posts one forwarded command line; resolves with the HTTP status and the frames' text (or undefined: no answer). */
function forward(
  e: Endpoint,
  argv: string[],
  cwd: string,
): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ argv, cwd, env: {} });
    const req = httpsRequest(
      `${e.url}/tortie/v1/commands`,
      {
        method: "POST",
        ca: e.caCertPem,
        headers: { authorization: `Bearer ${e.token}`, "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    // A command that never ends (internal serve-app) never answers: the test reports that, it does not hang.
    req.setTimeout(10_000, () => {
      req.destroy();
      resolve(undefined);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A refusal: a 400 Status, or a command that exits non-zero without running. */
function refused(r: { status: number; text: string } | undefined): boolean {
  if (!r) return false;
  return r.status === 400 || /"exit":[1-9]/.test(r.text);
}

test("the server refuses a forwarded `store backup FILE` and writes nothing outside the state dir", async (t) => {
  const { root, endpoint } = await serve(t);
  const outside = join(root, "outside.bak");
  const r = await forward(endpoint, ["store", "backup", outside], root);
  assert.ok(refused(r), JSON.stringify(r));
  assert.equal(existsSync(outside), false, "the backup was written outside the state dir");
});

test("the server refuses the commands its clients never forward", async (t) => {
  const { root, endpoint } = await serve(t);
  for (const argv of [
    ["store", "restore", join(root, "nothing.bak")],
    ["serve"],
    ["kubeconfig"],
    ["down"],
    ["internal", "serve-app", "--image", "nothing"],
  ]) {
    const r = await forward(endpoint, argv, root);
    assert.equal(r?.status, 400, `${argv.join(" ")}: ${JSON.stringify(r)}`);
  }
});

test("a forwarded `internal serve-app` neither listens on another address nor wedges later commands", async (t) => {
  const { root, endpoint } = await serve(t);
  const log = join(root, "outside", "deep", "app.log");
  const first = await forward(
    endpoint,
    ["internal", "serve-app", "--image", "calico/yaobank-customer:certification", "--log", log],
    root,
  );
  assert.ok(refused(first), JSON.stringify(first));
  assert.equal(
    existsSync(join(root, "outside")),
    false,
    "serve-app created directories outside the state dir",
  );
  const next = await forward(endpoint, ["version"], root);
  assert.ok(next !== undefined, "a later forwarded command never got an answer");
});
