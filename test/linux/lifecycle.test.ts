/**
 * The CLI on the linux dataplane, through bin/tortie as a user runs it: up with YAO Bank, the real tools through
 * exec, status, down; a tortie killed with -9 mid-up is cleaned up by down; a non-root up is refused in one line.
 * Root only (skipped with a message elsewhere); every cluster has a name unique to this process and is taken down
 * in `finally`, even on failure.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  alive,
  BIN,
  clusterNetns,
  linuxSkipReason,
  netnsPids,
  type Run,
  scratch,
  takeDown,
  tortie,
} from "./linux-harness.ts";

const skip = linuxSkipReason();
if (skip) console.log(`# skipped: the linux dataplane cannot run here (${skip})`);

test("up --dataplane linux with YAO Bank: namespaces, routes, the node port page, status, down", {
  skip,
}, () => {
  const s = scratch("x");
  try {
    const up = tortie(s.dir, ["up", "--topology", s.topology, "--dataplane", "linux", "--app", "yaobank"]);
    assert.equal(up.code, 0, up.err);
    assert.match(up.out, /^dataplane linux: \d+ namespaces, \d+ processes, BIRD on \d+ hosts/m);
    const netns = clusterNetns(s.name);
    for (const host of ["control", "node1", "node2", "host1"])
      assert.ok(netns.includes(`tt-${s.name}-${host}`), host);

    // A second up is idempotent.
    const again = tortie(s.dir, ["up", "--topology", s.topology]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /was already up/);

    // The same cluster name from another state dir is refused before anything is stored there.
    const other = mkdtempSync(join(tmpdir(), "tortie-linux-"));
    try {
      const twin = tortie(other, ["up", "--topology", s.topology, "--dataplane", "linux"]);
      assert.equal(twin.code, 1, twin.out);
      assert.match(
        twin.err,
        new RegExp(
          `^tortie: a cluster named ${s.name} already runs on the linux dataplane of this machine from the state dir ${s.dir}:`,
        ),
      );
      assert.match(tortie(other, ["status"]).err, /no cluster is up/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }

    const routes = tortie(s.dir, ["exec", "node1", "--", "ip", "route"]);
    assert.equal(routes.code, 0, routes.err);
    assert.match(routes.out, /^\d+\.\d+\.\d+\.\d+ dev cali\w+ scope link/m);

    const page = tortie(s.dir, [
      "exec",
      "host1",
      "--",
      "curl",
      "-s",
      "--max-time",
      "5",
      "http://198.19.0.2:30180/",
    ]);
    assert.equal(page.code, 0, page.err);
    assert.match(page.out, /Welcome to YAO Bank/);

    // A write reprograms the kernel: a policy denying the customer's ingress blocks the page; deleting it opens it.
    const policy = join(s.dir, "deny-customer.yaml");
    writeFileSync(
      policy,
      "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: deny-customer\nspec:\n  selector: app == 'customer'\n  types: [Ingress]\n",
    );
    const deny = tortie(s.dir, ["apply", "-f", policy]);
    assert.equal(deny.code, 0, deny.err);
    assert.doesNotMatch(deny.err, /warning/);
    const curl = [
      "exec",
      "host1",
      "--",
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--max-time",
      "2",
    ];
    const blocked = tortie(s.dir, [...curl, "http://198.19.0.2:30180/"]);
    assert.notEqual(blocked.code, 0, blocked.out);
    const open = tortie(s.dir, ["delete", "-f", policy]);
    assert.equal(open.code, 0, open.err);
    assert.doesNotMatch(open.err, /warning/);
    assert.equal(tortie(s.dir, [...curl, "http://198.19.0.2:30180/"]).out, "200");
    // A settled cluster's drift check finds nothing: the kernel's rules read back equal to the description (a rule
    // iptables-save prints differently, such as Felix's `-p 4` saved as `-p ipencap`, once made every exec reload).
    process.env.TORTIE_TIMINGS = "1";
    const quiet = tortie(s.dir, ["exec", "host1", "--", "true"]);
    delete process.env.TORTIE_TIMINGS;
    assert.match(quiet.err, /kernel apply \(nothing to do\)/, quiet.err);

    const status = tortie(s.dir, ["status"]);
    assert.equal(status.code, 0, status.err);
    assert.match(status.out, new RegExp(`^cluster ${s.name}: dataplane linux, `, "m"));
    assert.match(status.out, /^node node1: .*BIRD running/m);

    const pids = netnsPids(clusterNetns(s.name));
    assert.ok(pids.length > 0);
    const down = tortie(s.dir, ["down"]);
    assert.equal(down.code, 0, down.err);
    assert.deepEqual(clusterNetns(s.name), []);
    assert.deepEqual(pids.filter(alive), []);
  } finally {
    takeDown(s);
  }
});

test("down after a kill -9 mid-up leaves no namespace and no process", { skip }, async () => {
  const s = scratch("y");
  try {
    const child = spawn(
      process.execPath,
      [BIN, "up", "--topology", s.topology, "--dataplane", "linux", "--state-dir", s.dir],
      { stdio: "ignore" },
    );
    // Killed while it programs the kernel: once its first namespace exists (or after 30 s at most).
    const deadline = Date.now() + 30_000;
    await new Promise((r) => setTimeout(r, 1000));
    while (clusterNetns(s.name).length === 0 && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const pids = netnsPids(clusterNetns(s.name));
    const down = tortie(s.dir, ["down"]);
    assert.equal(down.code, 0, down.err);
    assert.deepEqual(clusterNetns(s.name), []);
    assert.deepEqual(pids.filter(alive), []);
  } finally {
    takeDown(s);
  }
});

test("down while an up programs the kernel waits for it, then leaves no namespace and no process", {
  skip,
}, async () => {
  const s = scratch("w");
  try {
    const up = spawn(
      process.execPath,
      [BIN, "up", "--topology", s.topology, "--dataplane", "linux", "--state-dir", s.dir],
      { stdio: "ignore" },
    );
    const upExit = new Promise<number | null>((r) => up.once("exit", (code) => r(code)));
    // The up is held still mid-apply (its first namespace made, the kernel's lock held) while `down` starts.
    const deadline = Date.now() + 30_000;
    while (clusterNetns(s.name).length === 0 && Date.now() < deadline && up.exitCode === null)
      await new Promise((r) => setTimeout(r, 5));
    up.kill("SIGSTOP");
    const down = spawn(process.execPath, [BIN, "down", "--state-dir", s.dir], { stdio: "ignore" });
    const downExit = new Promise<number | null>((r) => down.once("exit", (code) => r(code)));
    await new Promise((r) => setTimeout(r, 2000));
    const downEarly = down.exitCode;
    up.kill("SIGCONT");
    // The up finishes its apply (down never swept under it), then down takes everything away.
    assert.equal(await upExit, 0, "the up failed: down removed its namespaces under it");
    assert.equal(await downExit, 0);
    assert.equal(downEarly, null, "down did not wait for the up's apply");
    const left = clusterNetns(s.name);
    const pids = netnsPids(left);
    assert.deepEqual(left, []);
    assert.deepEqual(pids.filter(alive), []);
  } finally {
    takeDown(s);
  }
});

test("a non-root up --dataplane linux is refused in one line", { skip }, () => {
  const s = scratch("z");
  try {
    chownSync(s.dir, 65534, 65534);
    const r = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        BIN,
        "up",
        "--dataplane",
        "linux",
        "--state-dir",
        s.dir,
      ],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, HOME: s.dir } },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      "tortie: the linux dataplane needs root (it creates network namespaces, veths and iptables rules): run as root or use --dataplane sim\n",
    );
    assert.deepEqual(clusterNetns(s.name), []);
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test("drift repaired by the next command: a route, a sysctl, a pod address, an ipset member; a host namespace deleted; down ends every process", {
  skip,
}, () => {
  const s = scratch("r");
  try {
    const up = tortie(s.dir, ["up", "--topology", s.topology, "--dataplane", "linux", "--app", "yaobank"]);
    assert.equal(up.code, 0, up.err);
    // Later commands find BIRD 2 through the record: TORTIE_BIRD2_DIR is `up`'s only.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.TORTIE_BIRD2_DIR;
    const later = (args: string[]): Run => {
      const r = spawnSync(process.execPath, [BIN, ...args, "--state-dir", s.dir], {
        encoding: "utf8",
        timeout: 120_000,
        env,
      });
      return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
    };
    const node1 = `tt-${s.name}-node1`;
    assert.match(later(["exec", "node1", "--", "ip", "route"]).out, /^default via /m);
    spawnSync("ip", ["-n", node1, "route", "del", "default"]);
    const repaired = later(["exec", "node1", "--", "ip", "route"]);
    assert.equal(repaired.code, 0, repaired.err);
    assert.doesNotMatch(repaired.err, /warning/);
    assert.match(
      repaired.out,
      /^default via \S+ dev \S+ proto static/m,
      "the next command put the route back",
    );

    // A sysctl (rp_filter on a cali device), a pod's address and an ipset member changed by hand: the next exec
    // finds them (the cheap drift check) and a full pass of those namespaces puts them back.
    const podNs = clusterNetns(s.name).find((n) => n.startsWith(`${node1}-cali`));
    assert.ok(podNs, "node1 runs a pod");
    const cali = podNs.slice(node1.length + 1);
    const rpFilter = `net.ipv4.conf.${cali}.rp_filter`;
    const sh = (args: string[]) => spawnSync(args[0]!, args.slice(1), { encoding: "utf8" }).stdout;
    assert.equal(sh(["ip", "netns", "exec", node1, "sysctl", "-n", rpFilter]).trim(), "1");
    const podAddress = /inet (\S+)/.exec(
      sh(["ip", "-n", podNs, "-4", "-o", "address", "show", "dev", "eth0"]),
    )?.[1];
    assert.ok(podAddress, "the pod has an address");
    const member = /^add (\S+) (\S+)$/m.exec(sh(["ip", "netns", "exec", node1, "ipset", "save"]));
    assert.ok(member, "node1 has an ipset with a member");
    spawnSync("ip", ["netns", "exec", node1, "sysctl", "-q", "-w", `${rpFilter}=0`]);
    spawnSync("ip", ["-n", podNs, "address", "del", podAddress, "dev", "eth0"]);
    spawnSync("ip", ["netns", "exec", node1, "ipset", "del", member[1]!, member[2]!]);
    const fixed = later(["exec", "node1", "--", "sysctl", "-n", rpFilter]);
    assert.equal(fixed.code, 0, fixed.err);
    assert.doesNotMatch(fixed.err, /warning/);
    assert.equal(fixed.out.trim(), "1", "the next command set rp_filter back");
    assert.match(
      sh(["ip", "-n", podNs, "-4", "-o", "address", "show", "dev", "eth0"]),
      new RegExp(`inet ${podAddress.replace(/\./g, "\\.")} `),
    );
    assert.match(
      sh(["ip", "netns", "exec", node1, "ipset", "list", member[1]!]),
      new RegExp(`^${member[2]!.replace(/\./g, "\\.")}$`, "m"),
    );

    // node2's namespace deleted by hand while its BIRD and services run: the next command rebuilds node2 and its
    // pods, and the processes left in the orphaned namespace are ended.
    const node2 = `tt-${s.name}-node2`;
    const orphans = netnsPids([node2]);
    assert.ok(orphans.length > 0);
    spawnSync("ip", ["netns", "del", node2]);
    const rebuilt = later(["exec", "node2", "--", "ip", "-br", "link"]);
    assert.equal(rebuilt.code, 0, rebuilt.err);
    assert.doesNotMatch(rebuilt.err, /warning/);
    assert.match(rebuilt.out, /^cali\w+@if\d+ +UP/m);
    assert.deepEqual(orphans.filter(alive), [], "no process survives in the orphaned namespace");
    const page = later(["exec", "host1", "--", "curl", "-s", "--max-time", "5", "http://198.19.0.3:30180/"]);
    assert.match(page.out, /Welcome to YAO Bank/, page.err);

    // down with node2's namespace gone again: its processes are found by the record and ended too.
    const all = netnsPids(clusterNetns(s.name));
    spawnSync("ip", ["netns", "del", node2]);
    const down = later(["down"]);
    assert.equal(down.code, 0, down.err);
    assert.deepEqual(clusterNetns(s.name), []);
    assert.deepEqual(all.filter(alive), []);
  } finally {
    takeDown(s);
  }
});

test("up --dataplane linux without BIRD 2 is refused in one line before anything is stored", { skip }, () => {
  const s = scratch("b");
  try {
    const r = spawnSync(
      process.execPath,
      [BIN, "up", "--dataplane", "linux", "--topology", s.topology, "--state-dir", s.dir],
      {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, TORTIE_BIRD2_DIR: join(s.dir, "no-bird2") },
      },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^tortie: the linux dataplane cannot run BIRD here: BIRD 2 not found at .*no-bird2\/bird/,
    );
    assert.equal(r.stderr.split("\n").length, 2);
    // Nothing was stored: status says no cluster is up, and the kernel has none of its namespaces.
    assert.match(tortie(s.dir, ["status"]).err, /no cluster is up/);
    assert.deepEqual(clusterNetns(s.name), []);
  } finally {
    takeDown(s);
  }
});
