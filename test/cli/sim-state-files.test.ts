import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { SimGlobalState, SimHostState } from "../../src/agent/index.ts";
import { loadSimState, saveSimStateUpdate } from "../../src/cli/sim-state-files.ts";

const route = (dst: number) => ({
  type: "unicast" as const,
  dst: { addr: dst, len: 26, mask: 0xffffffc0 },
  nexthops: [{ via: 0xc6130002, dev: "ens4", weight: 1 }],
  proto: "bird" as const,
  scope: "global" as const,
  metric: 0,
});

function hostState(routes: ReturnType<typeof route>[], packets: number): SimHostState {
  return {
    counters: { "node1|filter|FORWARD|policy": [packets, packets * 60] },
    conntrack: {},
    ephemeral: {},
    neighbours: {},
    bgpRoutes: routes,
    bgpPort: 179,
  } as SimHostState;
}

test("a command replaying saved BGP routes keeps a concurrent full run's outcome when it saves", () => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-simstate-"));
  try {
    const key = {};
    const old: SimGlobalState = { now: 1000, rngState: 1, bgp: { fingerprint: "old", failures: [] } };
    // A full run saved the old outcome; a lazy command loads it (and will replay its routes).
    saveSimStateUpdate(dir, key, {
      global: old,
      hosts: new Map([["node1", hostState([route(0x0a000000)], 0)]]),
      bgpSessions: new Map(),
      logs: new Map(),
    });
    const loaded = loadSimState(dir, key);
    const mine = loaded.host("node1")!;
    // Meanwhile another command runs BGP in full and saves a new outcome.
    const fresh: SimGlobalState = { now: 2000, rngState: 2, bgp: { fingerprint: "new", failures: [] } };
    saveSimStateUpdate(dir, key, {
      global: fresh,
      hosts: new Map([["node1", hostState([route(0x0a000040)], 0)]]),
      bgpSessions: new Map(),
      logs: new Map(),
    });
    // The lazy command saves last: its counters, but the newer BGP outcome.
    saveSimStateUpdate(dir, key, {
      global: { ...loaded.global, now: 3000 },
      hosts: new Map([["node1", { ...mine, counters: { "node1|filter|FORWARD|policy": [5, 300] } }]]),
      source: loaded,
      logs: new Map(),
    });
    const host = JSON.parse(readFileSync(join(dir, "sim", "node1.json"), "utf8")) as SimHostState;
    assert.deepEqual(host.bgpRoutes, [route(0x0a000040)]);
    assert.deepEqual(host.counters["node1|filter|FORWARD|policy"], [5, 300]);
    const global = JSON.parse(readFileSync(join(dir, "sim-state.json"), "utf8")) as SimGlobalState;
    assert.equal(global.bgp?.fingerprint, "new");
    assert.equal(global.now, 3000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
