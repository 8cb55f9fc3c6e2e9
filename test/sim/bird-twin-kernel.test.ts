/**
 * The sim's BIRD against the real ones (BIRD 2 on host1, BIRD 1.6 on a node) in two namespaces of this test's own:
 * the same configuration texts, the same `birdc show route`, `show protocols` order and `proto bird` routes.
 * Root, ip, /usr/sbin/bird and BIRD 2 (TORTIE_BIRD2_DIR) are needed; otherwise skipped with the reason.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { bird2Binaries } from "../../src/dataplane/linux/index.ts";
import { type BgpFabric, parseBirdConfig } from "../../src/dataplane/sim/bird/index.ts";
import { formatRoutes } from "../../src/dataplane/sim/index.ts";
import { kernelUnavailable, run } from "../kernel/kernel-run.ts";
import { BgpNet } from "./bgp-net.ts";

const BIRD = bird2Binaries();
const why =
  kernelUnavailable() ??
  [BIRD.bird1.bird, BIRD.bird1.birdc, BIRD.bird2.bird, BIRD.bird2.birdc]
    .filter((p) => !existsSync(p))
    .map((p) => `missing ${p}`)[0];
if (why) console.log(`# skipped: the real-BIRD twin tests need root and both BIRDs: ${why}`);
const skip = why ? why : false;

const LAB = readFileSync(new URL("../fixtures/bird/host1-lab.conf", import.meta.url), "utf8");
const NO_DIRECT = (() => {
  const start = LAB.indexOf("protocol direct {");
  return LAB.slice(0, start) + LAB.slice(LAB.indexOf("}\n", start) + 2);
})();

/** node2 (BIRD 1.6): two blackholes announced to host1 over iBGP; `global` adds a peer confd would sort first. */
function node2Config(global: boolean): string {
  return [
    "router id 198.19.0.3;",
    'filter statics { if proto = "static1" then accept; reject; }',
    ...(global
      ? [
          "protocol bgp Global_198_19_0_9 { local as 64512; neighbor 198.19.0.9 as 64512; multihop; export none; }",
        ]
      : []),
    "protocol device { }",
    'protocol direct { interface "ens4"; }',
    "protocol static { route 198.19.25.96/29 blackhole; route 198.19.32.0/20 blackhole; }",
    "protocol bgp host1 { local as 64512; neighbor 198.19.15.254 as 64512; multihop; import all;",
    "  export filter statics; add paths on; connect delay time 1; }",
    "",
  ].join("\n");
}

const NS = `tt-h9tw-${process.pid}`;
const h1 = `${NS}-h1`;
const n2 = `${NS}-n2`;
let dir = "";

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 15000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.err}`);
  return r.out;
}

const birdc = (host: "h1" | "n2", args: string[]) =>
  sh(host === "h1" ? BIRD.bird2.birdc : BIRD.bird1.birdc, ["-s", join(dir, `${host}.ctl`), ...args]);

/** Times and the version banner differ between the runs; everything else must not. */
const normal = (out: string) =>
  out
    .replace(/^BIRD \S+ ready\.\n/, "")
    .replace(/\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d(\.\d{3})?/g, "T")
    .replace(/^Reading configuration.*\n/m, "");

const names = (out: string) =>
  out
    .split("\n")
    .slice(2)
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(/\s+/)[0]);

async function poll<T>(what: string, f: () => Promise<T | undefined>, seconds = 20): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The sim: the same two hosts and texts, converged as the lab would be after a while. */
const sim = new BgpNet();
let fabric: BgpFabric;
function simConverge(host1: string, global: boolean): BgpFabric {
  fabric = sim.converge({
    host1: { config: parseBirdConfig({ "bird.conf": host1 }, "bird.conf", "bird2") },
    node2: { config: parseBirdConfig({ "bird.cfg": node2Config(global) }, "bird.cfg", "bird1") },
  });
  return fabric;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), `${NS}-`));
  writeFileSync(join(dir, "h1.conf"), NO_DIRECT);
  writeFileSync(join(dir, "n2.conf"), node2Config(false));
  const veth = `h9t${process.pid}`;
  await sh("ip", ["netns", "add", h1]);
  await sh("ip", ["netns", "add", n2]);
  await sh("ip", ["link", "add", `${veth}a`, "type", "veth", "peer", "name", `${veth}b`]);
  for (const [end, ns, addr] of [
    ["a", h1, "198.19.15.254/20"],
    ["b", n2, "198.19.0.3/20"],
  ] as const) {
    await sh("ip", ["link", "set", `${veth}${end}`, "netns", ns]);
    await sh("ip", ["-n", ns, "link", "set", `${veth}${end}`, "name", "ens4"]);
    await sh("ip", ["-n", ns, "addr", "add", addr, "dev", "ens4"]);
    await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    await sh("ip", ["-n", ns, "link", "set", "ens4", "up"]);
  }
  const start = (ns: string, bird: string, host: string) =>
    sh("ip", [
      "netns",
      "exec",
      ns,
      bird,
      "-c",
      join(dir, `${host}.conf`),
      "-s",
      join(dir, `${host}.ctl`),
      "-P",
      join(dir, `${host}.pid`),
    ]);
  await start(n2, BIRD.bird1.bird, "n2");
  await start(h1, BIRD.bird2.bird, "h1");
  sim.host("host1", "198.19.15.254", 20, "ens4");
  sim.host("node2", "198.19.0.3", 20, "ens4");
  sim.net.now = 3_600_000;
});

after(async () => {
  if (skip || !dir) return;
  for (const host of ["h1", "n2"]) {
    const pidFile = join(dir, `${host}.pid`);
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (pid > 0) {
        try {
          process.kill(pid);
        } catch {
          // already gone
        }
      }
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const ns of [h1, n2]) await run("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
});

const established = (out: string) => (/^node2 +BGP +--- +up .*Established/m.test(out) ? out : undefined);

async function realRoutes(): Promise<string> {
  const out = await sh("ip", ["-n", h1, "route"]);
  return `${out
    .split("\n")
    .filter((l) => l.includes(" proto bird"))
    .join("\n")}\n`;
}

test("host1 without `protocol direct`: unreachable on real BIRD 2 and on the sim", { skip }, async () => {
  await poll("host1's session with node2", async () => established(await birdc("h1", ["show", "protocols"])));
  const real = await poll("both routes on host1", async () => {
    const out = await birdc("h1", ["show", "route"]);
    return out.split("\n").filter((l) => /^\d/.test(l)).length === 2 ? out : undefined;
  });
  const f = simConverge(NO_DIRECT, false);
  assert.equal(normal(f.birdc("host1", ["show", "route"]).out), normal(real));
  assert.match(real, /unreachable \[node2 /);
  assert.equal(
    formatRoutes(sim.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird")),
    await realRoutes(),
  );
});

test("host1 reconfigured with `protocol direct`: the same routes and protocol list on both", {
  skip,
}, async () => {
  writeFileSync(join(dir, "h1.conf"), LAB);
  await birdc("h1", ["configure"]);
  const real = await poll("routes via node2", async () => {
    const out = await birdc("h1", ["show", "route"]);
    return (out.match(/\tvia 198\.19\.0\.3 on ens4/g) ?? []).length === 2 ? out : undefined;
  });
  const f = simConverge(LAB, false);
  assert.equal(normal(f.birdc("host1", ["show", "route"]).out), normal(real));
  assert.equal(
    formatRoutes(sim.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird")),
    await realRoutes(),
  );
  // BIRD 2 puts a protocol added by `configure` where the file has it: direct1 after device1.
  assert.deepEqual(
    names(f.birdc("host1", ["show", "protocols"]).out),
    names(await birdc("h1", ["show", "protocols"])),
  );
});

test("node2 (BIRD 1.6) reconfigured with a new peer: listed last on both", { skip }, async () => {
  writeFileSync(join(dir, "n2.conf"), node2Config(true));
  await birdc("n2", ["configure"]);
  const real = await poll("the new protocol", async () => {
    const out = await birdc("n2", ["show", "protocols"]);
    return out.includes("Global_198_19_0_9") ? out : undefined;
  });
  const f = simConverge(LAB, true);
  const order = names(f.birdc("node2", ["show", "protocols"]).out);
  assert.deepEqual(order, names(real));
  assert.equal(order.at(-1), "Global_198_19_0_9");
});
