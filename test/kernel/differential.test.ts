/**
 * The sim's netfilter, conntrack and NAT against the real Linux kernel (see test/kernel/scenario.ts for how a
 * scenario runs on both sides and what is compared). Needs root, iproute2, iptables (nft), conntrack, ipset,
 * nfacct and python3; skipped with a message otherwise. Every namespace it creates is named
 * `tdiff-<pid>-<random>-…` and deleted when the scenario ends, failed or not; namespaces left behind by a
 * test process that no longer runs are swept at the start. Packets never leave those namespaces.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import fc from "fast-check";
import { kernelUnavailable, run } from "./kernel-run.ts";
import { labScenario } from "./lab.ts";
import { scenarioArb } from "./random-rules.ts";
import { runScenario } from "./scenario.ts";

const unavailable = kernelUnavailable();
const base = `tdiff-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
const SEED = Number(process.env.TDIFF_SEED ?? 20261202);
const RUNS = Number(process.env.TDIFF_RUNS ?? 20);

/** Deletes tdiff-PID-… namespaces whose test process is gone (and the helpers still running in them). */
async function sweepLeftovers(): Promise<void> {
  const list = await run("ip", ["netns", "list"]);
  for (const line of list.out.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = /^tdiff-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // its test is still running
    } catch {}
    const pids = await run("ip", ["netns", "pids", name]);
    for (const pid of pids.out.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
    await run("ip", ["netns", "del", name]);
  }
}

before(async () => {
  if (!unavailable) await sweepLeftovers();
});

test("lab node1: kube-proxy's and Felix's rules, host1 and two pods, same verdicts, NAT, counters and conntrack as Linux", async (t) => {
  if (unavailable) return t.skip(`needs root and iptables: ${unavailable}`);
  const missing = await run("sh", ["-c", "command -v nfacct"]);
  if (missing.code !== 0) return t.skip("needs nfacct (kube-proxy's rules count with -m nfacct)");
  const s = await labScenario();
  const r = await runScenario(s, `${base}-lab`);
  assert.ok(r.packets > 40, `the capture saw only ${r.packets} packets`);
  // The lab's verdicts, so a broken scenario cannot pass by being equally broken on both sides.
  assert.deepEqual(
    r.kernelOutcomes.map((o) => (o.ok ? "ok" : o.error)),
    ["ok", "ok", "ok", "refused", "ok", "timeout", "timeout", "timeout", "ok", "ok", "ok", "ok", "ok", "ok"],
  );
  assert.deepEqual(r.divergences, [], r.divergences.join("\n"));
});

test(`random rulesets (seed ${SEED}, ${RUNS} runs): same verdicts, NAT, counters and conntrack as Linux`, async (t) => {
  if (unavailable) return t.skip(`needs root and iptables: ${unavailable}`);
  const failures: string[] = [];
  let packets = 0;
  const scenarios = fc.sample(scenarioArb, { seed: SEED, numRuns: RUNS });
  for (const [i, s] of scenarios.entries()) {
    const r = await runScenario(s, `${base}-r${i}`, SEED + i);
    packets += r.packets;
    if (r.divergences.length)
      failures.push(
        `run ${i} (TDIFF_SEED=${SEED}):\n${r.divergences.join("\n")}\nflows: ${JSON.stringify(s.flows)}\nrules:\n${s.iptables}`,
      );
  }
  assert.ok(packets > RUNS * 5, `the captures saw only ${packets} packets in ${RUNS} runs`);
  assert.deepEqual(failures, [], failures.join("\n\n"));
});
