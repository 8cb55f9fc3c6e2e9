import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { SimGlobalState, SimHostState } from "../../src/agent/index.ts";
import { loadSimState, saveSimStateUpdate } from "../../src/cli/sim-state-files.ts";
import { TortieError } from "../../src/lib/index.ts";

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

test("a damaged sim state file is one line naming the file and the fix, never a stack trace", () => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-simstate-"));
  try {
    const key = {};
    const global: SimGlobalState = { now: 1000, rngState: 1 };
    saveSimStateUpdate(dir, key, {
      global,
      hosts: new Map([["node1", hostState([route(0x0a000000)], 0)]]),
      bgpSessions: new Map(),
      logs: new Map(),
    });
    const globalFile = join(dir, "sim-state.json");
    const hostFile = join(dir, "sim", "node1.json");
    const good = readFileSync(hostFile, "utf8");
    for (const text of ["null", "[]", "5", "{"]) {
      writeFileSync(globalFile, text);
      assert.throws(
        () => loadSimState(dir, key),
        (e: Error) =>
          e instanceof TortieError &&
          e.message.startsWith(`${globalFile}: the sim dataplane's saved state is unreadable`),
        text,
      );
    }
    writeFileSync(globalFile, JSON.stringify(global));
    for (const text of ["null", "{}", '{"counters":{},"conntrack":{},"ephemeral":{},"neighbours":{"x":5}}']) {
      writeFileSync(hostFile, text);
      assert.throws(
        () => loadSimState(dir, key).host("node1"),
        (e: Error) =>
          e instanceof TortieError &&
          !e.message.includes("\n") &&
          e.message.includes(`${hostFile}: the sim dataplane's saved state is unreadable`) &&
          e.message.endsWith(`delete ${globalFile} to start the dataplane afresh`),
        text,
      );
    }
    writeFileSync(hostFile, good);
    assert.deepEqual(loadSimState(dir, key).host("node1")?.bgpPort, 179);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
