/**
 * `tortie verify` on the lab with YAO Bank and seed 002's database-policy: the sim and the real kernel agree
 * (zero divergences, exit 0), and a rule changed in the sim's description only is reported with its place.
 * Root only (network namespaces, iptables, BIRD 1.6 and BIRD 2); skipped with a message otherwise. Each verify
 * builds its own throwaway cluster (`tt-v<pid>-…`); the test checks none is left behind.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { CommandExit } from "../../src/cli/command-exit.ts";
import { verifyCluster, verifyRefusal } from "../../src/cli/verify.ts";
import { birdSessions } from "../../src/cli/verify-compare.ts";
import { LinuxSide } from "../../src/cli/verify-linux.ts";
import { bird2Binaries, readRecord } from "../../src/dataplane/linux/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { DATABASE_POLICY } from "../policy/seed-manifests.ts";

// This machine keeps BIRD 2 extracted at /tmp/b2; CI sets TORTIE_BIRD2_DIR.
if (!process.env.TORTIE_BIRD2_DIR && existsSync("/tmp/b2/usr/sbin/bird"))
  process.env.TORTIE_BIRD2_DIR = "/tmp/b2/usr/sbin";

function unavailable(): string | undefined {
  const why = verifyRefusal();
  if (why) return why;
  const b = bird2Binaries();
  const missing = [
    b.bird1.bird,
    b.bird1.birdc,
    b.bird2.bird,
    b.bird2.birdc,
    "/usr/bin/curl",
    "/usr/sbin/conntrack",
  ].filter((p) => !existsSync(p));
  return missing.length ? `missing ${missing.join(", ")}` : undefined;
}

const skip = unavailable();
const h = new CliHarness();

/** The namespaces of verify's throwaway cluster `v<pid>` still there. */
function leftovers(cluster = `v${process.pid}`): string[] {
  const prefix = `tt-${cluster}`;
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  return list
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((n) => n === prefix || n.startsWith(`${prefix}-`));
}

before(async () => {
  if (skip) return;
  h.now = new Date();
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
  const apply = await h.run("apply -f -", DATABASE_POLICY);
  assert.equal(apply.code, 0, apply.err);
});

after(() => h.cleanup());

test("verify: the lab with YAO Bank and database-policy has no divergence", {
  timeout: 240_000,
}, async (t) => {
  if (skip) return t.skip(`tortie verify needs root and the kernel's tools: ${skip}`);
  const lines: string[] = [];
  try {
    const r = await verifyCluster(h.silentContext(), { progress: (l) => lines.push(l) });
    assert.ok(r.probes > 20, `only ${r.probes} probes`);
    assert.ok(r.countedProbes > 0, "no probe's counters were compared");
    // Every real BIRD stopped while the counters counted: host counters compared with no BGP exclusion.
    assert.equal(r.birdPaused, true, lines.join("\n"));
    assert.ok(
      lines.some((l) => /^verify: BIRD paused on 4 hosts/.test(l)),
      lines.join("\n"),
    );
    for (const l of lines) t.diagnostic(l);
    t.diagnostic(`${r.probes} probes, ${r.checks} checks, ${r.excluded} counters left out`);
    assert.deepEqual(
      r.divergences,
      [],
      r.divergences.map((d) => `${d.where} ${d.what}: sim ${d.sim} / linux ${d.linux}`).join("\n"),
    );
  } finally {
    assert.deepEqual(leftovers(), [], "verify left namespaces behind");
  }
});

/** The state letter (/proc/PID/stat field 3) of each BIRD a kept cluster's record names: T is stopped. */
function birdStates(stateDir: string): string[] {
  const record = readRecord(stateDir);
  return Object.entries(record?.pids ?? {})
    .filter(([k]) => k.endsWith("/bird"))
    .map(([k, p]) => {
      const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
      return `${k} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]}`;
    });
}

test("verify: a Felix rule changed in the sim only is reported with its place; --keep leaves BIRD running", {
  timeout: 240_000,
}, async (t) => {
  if (skip) return t.skip(`tortie verify needs root and the kernel's tools: ${skip}`);
  let planted = "";
  const r = await verifyCluster(h.silentContext(), {
    keep: true,
    mutateSim: (desc) => {
      // database-policy's ingress rule on the database's node: ACCEPT becomes DROP on the sim only.
      for (const host of desc.hosts)
        for (const ns of host.namespaces) {
          if (planted) return;
          ns.iptables = ns.iptables.map((payload) => {
            if (planted) return payload;
            const line = payload
              .split("\n")
              .find((l) => /^-A cali-pi-\S+ .*--dports 2379 -j MARK --set-xmark/.test(l));
            if (!line) return payload;
            planted = `${host.host} ${line}`;
            return payload.replace(line, line.replace(/-j MARK --set-xmark \S+/, "-j DROP"));
          });
        }
    },
  });
  const kept = r.kept!;
  try {
    // The kept cluster's BIRDs were continued after the probes (SIGCONT), not left stopped.
    const states = birdStates(kept.stateDir);
    assert.equal(states.length, 4, states.join(", "));
    assert.deepEqual(
      states.filter((s) => s.endsWith(" T")),
      [],
      "a BIRD was left stopped",
    );
    // And the sessions outlived the pause: the mesh between control and node1 is still up on both ends (host1's
    // sessions never come up on this lab: no node peers with it yet).
    const side = new LinuxSide(kept.cluster, kept.stateDir);
    const node1 = await side.birdc("node1", "show", "protocols");
    assert.equal(birdSessions(node1).get("Mesh_198_19_0_1"), true, node1);
    const control = await side.birdc("control", "show", "protocols");
    assert.equal(birdSessions(control).get("Mesh_198_19_0_2"), true, control);
  } finally {
    await new LinuxSide(kept.cluster, kept.stateDir).destroy();
    rmSync(kept.stateDir, { recursive: true, force: true });
  }
  assert.ok(planted, "the lab has no database-policy rule to change");
  const host = planted.split(" ")[0]!;
  const place = r.divergences.filter((d) => d.where === host && /^iptables filter cali-pi-/.test(d.what));
  assert.equal(place.length, 1, JSON.stringify(r.divergences, null, 2));
  assert.match(place[0]!.sim, /-j DROP$/);
  assert.match(place[0]!.linux, /-j MARK --set-xmark/);
  // The planted DROP blocks summary → database on the sim: the probes say so too.
  assert.ok(
    r.divergences.some((d) => d.what.startsWith("probe ")),
    "no probe diverged",
  );
  assert.deepEqual(leftovers(), [], "verify left namespaces behind");
});

test("verify: Ctrl-C midway removes the throwaway cluster", { timeout: 120_000 }, async (t) => {
  if (skip) return t.skip(`tortie verify needs root and the kernel's tools: ${skip}`);
  const bin = new URL("../../bin/tortie", import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, "verify", "--state-dir", h.stateDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let cluster = "";
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
  try {
    // Interrupted once the cluster is built and its BIRDs are stopped (SIGSTOP) for the probes: they are
    // continued, then removed with the rest.
    await new Promise<void>((ready, fail) => {
      child.stderr!.on("data", (d) => {
        stderr += d;
        if (stderr.includes("BIRD paused on")) ready();
      });
      child.on("close", () => fail(new Error(`verify ended before it built the cluster: ${stderr}`)));
    });
    cluster = /building the cluster as (v\d+)/.exec(stderr)?.[1] ?? "";
    assert.notDeepEqual(leftovers(cluster), [], "the throwaway cluster was not built");
    child.kill("SIGINT");
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /SIGINT: removing the throwaway cluster/);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
    if (cluster) assert.deepEqual(leftovers(cluster), [], "verify left namespaces behind after SIGINT");
  }
});

test("verify: a missing BIRD 2 is a one-line refusal before anything is built", async (t) => {
  if (skip) return t.skip(`tortie verify needs root and the kernel's tools: ${skip}`);
  const saved = process.env.TORTIE_BIRD2_DIR;
  process.env.TORTIE_BIRD2_DIR = "/nonexistent-bird2";
  const ctx = h.silentContext();
  let err = "";
  ctx.err = (s: string) => {
    err += s;
  };
  try {
    await assert.rejects(verifyCluster(ctx), (e: Error) => e instanceof CommandExit && e.code === 1);
  } finally {
    process.env.TORTIE_BIRD2_DIR = saved;
  }
  assert.match(
    err,
    /^tortie: the linux dataplane cannot run BIRD here: BIRD 2 not found at \/nonexistent-bird2\/bird/,
  );
  assert.equal(err.trim().split("\n").length, 1, err);
  assert.deepEqual(leftovers(), [], "verify built namespaces before refusing");
});
