/**
 * One contract, two kernels: the sim's emulated kernel (agent's SimDataplaneKernel) and the real one
 * (dataplane/linux, root only; skipped with a message otherwise) apply the same fixture and must report the same
 * routes, rules, sets and links, which are the ones test/dataplane/contract.ts expects.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SimDataplaneKernel } from "../../src/agent/index.ts";
import { LinuxDataplane, linuxUnavailable } from "../../src/dataplane/linux/index.ts";
import {
  assertContract,
  assertTunnelContract,
  changedFixture,
  fixtureDataplane,
  queryAll,
  queryTunnels,
  tunnelFixture,
} from "./contract.ts";

test("contract: the sim kernel reports what the description says", async () => {
  const d = fixtureDataplane();
  const k = new SimDataplaneKernel();
  await k.apply(d);
  assertContract(await queryAll(k, d));
  await k.destroy();
});

/** What the sim's kernel reports for a description built afresh (the reference a changed kernel must equal). */
async function simReport(d: ReturnType<typeof fixtureDataplane>) {
  const k = new SimDataplaneKernel();
  await k.apply(d);
  return queryAll(k, d);
}

test("contract: the linux kernel reports what the description says", async (t) => {
  const why = linuxUnavailable();
  if (why) return t.skip(why);
  if (!process.env.TORTIE_BIRD2_DIR && existsSync("/tmp/b2/usr/sbin/bird"))
    process.env.TORTIE_BIRD2_DIR = "/tmp/b2/usr/sbin";
  const d = fixtureDataplane(`k${process.pid}`);
  for (const h of d.hosts) delete h.bird; // the contract is the kernel's state; BIRD is covered by test/kernel
  const stateDir = mkdtempSync(join(tmpdir(), "tt-contract-"));
  const k = new LinuxDataplane({ cluster: d.cluster, stateDir, processArgv: () => ["sleep", "600"] });
  try {
    await k.apply(d);
    assertContract(await queryAll(k, d));
    // Changed with `previous`: only the differences are programmed (iptables-restore deltas, ipset deltas, a pod's
    // namespace removed); the result must be what the sim reports for the changed description built afresh.
    const next = changedFixture(d);
    await k.apply(next, d);
    const got = await queryAll(k, next);
    assert.deepEqual(got, await simReport(next));
    assert.match(got.node1!.iptables!, /^:FORWARD DROP/m);
    assert.equal(got["default/pod-2"], undefined);
  } finally {
    await k.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

for (const mode of ["vxlan", "wireguard"] as const) {
  test(`contract: the sim kernel reports the ${mode} fixture as the real one does`, async () => {
    const d = tunnelFixture(mode);
    const k = new SimDataplaneKernel();
    await k.apply(d);
    assertTunnelContract(mode, await queryTunnels(k, d));
    await k.destroy();
  });

  test(`contract: the linux kernel reports the ${mode} fixture`, async (t) => {
    const why =
      linuxUnavailable() ??
      (mode === "wireguard" &&
      spawnSync("sh", ["-c", "command -v wireguard-go && command -v wg"]).status !== 0
        ? "wireguard-go or wg is not installed (Debian: wireguard-go, wireguard-tools)"
        : undefined);
    if (why) return t.skip(why);
    const d = tunnelFixture(mode, `k${process.pid}${mode.slice(0, 1)}`);
    const stateDir = mkdtempSync(join(tmpdir(), "tt-contract-"));
    const k = new LinuxDataplane({ cluster: d.cluster, stateDir, processArgv: () => undefined });
    try {
      await k.apply(d);
      assertTunnelContract(mode, await queryTunnels(k, d));
    } finally {
      await k.destroy();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
}
