import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  ensureCredentials,
  kubeconfigText,
  type ServerHost,
  startApiServer,
} from "../../src/server/index.ts";
import { CliHarness } from "../cli/harness.ts";

const KUBECTL = "/usr/bin/kubectl";
const run = promisify(execFile);

/**
 * The real kubectl prints from the API server's Table; tortie's kubectl prints from the same Table in-process.
 * For the same objects and clock, the two must print the same text.
 */
test("real kubectl's get tables through the server equal tortie kubectl's", {
  skip: !existsSync(KUBECTL) && "no /usr/bin/kubectl",
}, async (t) => {
  const h = new CliHarness();
  t.after(() => h.cleanup());
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  const host: ServerHost = {
    store: h.store(),
    now: () => h.now,
    afterWrite: async () => {},
    podLogs: async () => "",
    execInPod: async () => 0,
    commandRefusal: () => undefined,
    runCommand: async () => 0,
  };
  const dir = join(h.stateDir, "server");
  const server = await startApiServer({ host, dir });
  t.after(() => server.close());
  const { token, caCertPem } = await ensureCredentials(dir);
  const kubeconfig = join(h.stateDir, "kubeconfig");
  writeFileSync(kubeconfig, kubeconfigText({ url: server.url, caCertPem, token, clusterName: "test" }), {
    mode: 0o600,
  });
  const cacheDir = join(h.stateDir, "kube-cache");
  const lines = [
    "get pods -n yaobank -o wide",
    "get pods -n yaobank",
    "get pods -A",
    "get pods -A -o wide",
    "get svc -n yaobank",
    "get svc -n yaobank -o wide",
    "get deploy -n yaobank -o wide",
    "get deploy -A",
    "get nodes",
    "get nodes -o wide",
    "get ns",
    "get pods -n yaobank --show-labels",
    "get pods -n yaobank -L app",
    "get ippools",
  ];
  for (const line of lines) {
    const args = line.split(" ");
    const real = await run(KUBECTL, [...args, "--cache-dir", cacheDir], {
      env: { PATH: process.env.PATH ?? "", HOME: h.stateDir, KUBECONFIG: kubeconfig },
    });
    const tortie = await h.run(["kubectl", ...args]);
    assert.equal(tortie.code, 0, tortie.err);
    assert.match(tortie.out, /^NAME(SPACE)? /, `kubectl ${line} printed a table`);
    assert.equal(real.stdout, tortie.out, `kubectl ${line}`);
  }
});
