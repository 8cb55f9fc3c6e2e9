import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  type BgpProtocol,
  BirdConfigError,
  type BirdDialect,
  type BirdProtocol,
  type DirectProtocol,
  type KernelProtocol,
  parseBirdConfig,
  parseIpv4,
  type StaticProtocol,
} from "../../src/dataplane/sim/index.ts";

const ROOT = join(import.meta.dirname, "../fixtures/confd/compiled_templates");
const ip = (s: string) => parseIpv4(s)!;

/** Every scenario directory with a v4 bird.cfg. */
function scenarioDirs(dir = ROOT): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...scenarioDirs(p));
    else if (e === "bird.cfg") out.push(dir);
  }
  return out;
}

function v4Files(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const f of ["bird.cfg", "bird_aggr.cfg", "bird_ipam.cfg"])
    files[f] = readFileSync(join(dir, f), "utf8");
  return files;
}

function goldenConfig(scenario: string) {
  return parseBirdConfig(v4Files(join(ROOT, scenario)), "bird.cfg", "bird1");
}

function proto<K extends BirdProtocol["kind"]>(
  protocols: BirdProtocol[],
  name: string,
  kind: K,
): Extract<BirdProtocol, { kind: K }> {
  const p = protocols.find((x) => x.name === name);
  assert.ok(p, `protocol ${name}`);
  assert.equal(p.kind, kind);
  return p as Extract<BirdProtocol, { kind: K }>;
}

test("every golden v4 BIRD configuration confd renders parses (bird.cfg with its includes)", () => {
  const dirs = scenarioDirs();
  assert.equal(dirs.length, 88);
  for (const dir of dirs) {
    const c = parseBirdConfig(v4Files(dir), "bird.cfg", "bird1");
    const names = c.protocols.map((p) => p.name).filter((n) => n !== "static1");
    assert.deepEqual(names.slice(0, 3), ["kernel1", "device1", "direct1"], dir);
    assert.ok(c.filters.has("calico_kernel_programming"), dir);
  }
});

test("mesh/communities: router id, listen, templates resolved into the protocols", () => {
  const c = goldenConfig("mesh/communities");
  assert.equal(c.dialect, "bird1");
  assert.equal(c.file, "bird.cfg");
  assert.equal(c.routerId, ip("10.192.0.2"));
  assert.deepEqual(c.listen, { port: 177 });
  assert.deepEqual(
    c.protocols.map((p) => `${p.kind} ${p.name} ${p.file}:${p.line}`),
    [
      "static static1 bird_aggr.cfg:9",
      "kernel kernel1 bird.cfg:34",
      "device device1 bird.cfg:45",
      "direct direct1 bird.cfg:49",
      "bgp Mesh_10_192_0_3 bird.cfg:66",
      "bgp Mesh_10_192_0_4 bird.cfg:88",
    ],
  );
  const kernel: KernelProtocol = proto(c.protocols, "kernel1", "kernel");
  assert.equal(kernel.table, "master");
  assert.equal(kernel.learn, true);
  assert.equal(kernel.persist, true);
  assert.equal(kernel.scanTime, 2);
  assert.equal(kernel.mergePaths, true);
  assert.equal(kernel.mergePathsLimit, 16);
  assert.equal(kernel.gracefulRestart, true);
  assert.equal(kernel.import.name, "all");
  assert.equal(kernel.export.name, "calico_kernel_programming");
  assert.equal(kernel.export, c.filters.get("calico_kernel_programming"));
  assert.equal(proto(c.protocols, "device1", "device").scanTime, 2);
  const direct: DirectProtocol = proto(c.protocols, "direct1", "direct");
  assert.deepEqual(direct.interfaces, [
    { pattern: "cali*", exclude: true },
    { pattern: "kube-ipvs*", exclude: true },
    { pattern: "*", exclude: false },
  ]);
  assert.equal(direct.import.name, "all");
  assert.equal(direct.export.name, "none");
  const stat: StaticProtocol = proto(c.protocols, "static1", "static");
  assert.deepEqual(
    stat.routes.map((r) => [r.net.addr, r.net.len, r.dest]),
    [
      [ip("10.0.0.0"), 30, "blackhole"],
      [ip("10.1.0.0"), 24, "blackhole"],
      [ip("192.168.221.192"), 26, "blackhole"],
      [ip("192.168.221.64"), 26, "blackhole"],
    ],
  );
  const bgp: BgpProtocol = proto(c.protocols, "Mesh_10_192_0_3", "bgp");
  const { import: imp, export: exp, ...fields } = bgp;
  assert.equal(imp.name, undefined);
  assert.equal(exp.name, undefined);
  assert.deepEqual(fields, {
    name: "Mesh_10_192_0_3",
    file: "bird.cfg",
    line: 66,
    description: "Connection to BGP peer",
    table: "master",
    kind: "bgp",
    localAs: 64512,
    neighbor: { ip: ip("10.192.0.3"), as: 64512, port: 177 },
    sourceAddress: ip("10.192.0.2"),
    passive: true,
    multihop: true,
    ttlSecurity: false,
    addPaths: true,
    rrClient: false,
    nextHopSelf: false,
    nextHopKeep: false,
    gateway: "recursive",
    connectDelayTime: 2,
    connectRetryTime: 5,
    holdTime: 240,
    keepaliveTime: 80,
    errorWaitTime: [5, 30],
    gracefulRestart: 120,
  });
});

test("peerings: route reflector clients, passwords, next hop keep, ttl security, restart time, local AS", () => {
  const rr = goldenConfig("explicit_peering/route_reflector");
  const client = proto(rr.protocols, "Node_10_192_0_3", "bgp");
  assert.equal(client.rrClient, true);
  assert.equal(client.rrClusterId, ip("10.0.0.1"));
  assert.equal(client.neighbor.as, 64532);

  const pw = goldenConfig("mesh/password/step2");
  assert.ok(pw.protocols.some((p) => p.kind === "bgp" && p.password === "password-a"));

  const keep = goldenConfig("explicit_peering/keepnexthop");
  assert.ok(keep.protocols.some((p) => p.kind === "bgp" && p.nextHopKeep && !p.nextHopSelf));

  const ttl = goldenConfig("ttl_security/global");
  const g = proto(ttl.protocols, "Global_10_192_0_3", "bgp");
  assert.equal(g.ttlSecurity, true);
  assert.equal(g.multihop, 1);

  const restart = goldenConfig("mesh/restart-time");
  assert.equal(proto(restart.protocols, "Mesh_10_192_0_3", "bgp").gracefulRestart, 10);

  const localAs = goldenConfig("explicit_peering/local-as");
  assert.ok(localAs.protocols.some((p) => p.kind === "bgp" && p.allowLocalAs === 1));
});

test("host1's BIRD 2 configurations (lab and seed 000)", () => {
  const lab = readFileSync(join(import.meta.dirname, "../fixtures/bird/host1-lab.conf"), "utf8");
  const c = parseBirdConfig({ "bird.conf": lab }, "bird.conf", "bird2");
  assert.equal(c.routerId, ip("198.19.15.254"));
  assert.deepEqual(
    c.protocols.map((p) => `${p.kind} ${p.name} ${p.table} ${p.import.name}/${p.export.name}`),
    [
      "device device1 master4 all/none",
      "direct direct1 master4 all/none",
      "kernel kernel1 master4 all/all",
      "bgp control master4 calico_routes/none",
      "bgp node1 master4 calico_routes/none",
      "bgp node2 master4 calico_routes/none",
    ],
  );
  // Its subnet in BIRD's table, so that the multihop sessions' next hops resolve (`gateway recursive`).
  assert.deepEqual(proto(c.protocols, "direct1", "direct").interfaces, [{ pattern: "ens4", exclude: false }]);
  const kernel = proto(c.protocols, "kernel1", "kernel");
  assert.equal(kernel.learn, true);
  assert.equal(kernel.mergePaths, true);
  assert.equal(kernel.persist, false);
  const peers = c.protocols.filter((p): p is BgpProtocol => p.kind === "bgp");
  assert.deepEqual(
    peers.map((p) => [p.neighbor.ip, p.neighbor.as, p.localAs, p.multihop, p.addPaths, p.passive]),
    [
      [ip("198.19.0.1"), 64512, 64512, true, true, false],
      [ip("198.19.0.2"), 64512, 64512, true, true, false],
      [ip("198.19.0.3"), 64512, 64512, true, true, false],
    ],
  );
  const seed000 = readFileSync(join(import.meta.dirname, "../fixtures/bird/host1-seed000.conf"), "utf8");
  const s = parseBirdConfig({ "bird.conf": seed000 }, "bird.conf", "bird2");
  assert.equal(s.routerId, ip("10.0.0.20"));
  assert.deepEqual(proto(s.protocols, "direct1", "direct").interfaces, [
    { pattern: "ens160", exclude: false },
  ]);
  assert.deepEqual(
    s.protocols.filter((p): p is BgpProtocol => p.kind === "bgp").map((p) => `${p.name} ${p.neighbor.ip}`),
    [`master1 ${ip("10.0.0.10")}`, `worker1 ${ip("10.0.0.11")}`, `worker2 ${ip("10.0.0.12")}`],
  );
});

test("unnamed protocols are numbered per kind, skipping names already taken; templates copy", () => {
  const text = [
    "template bgp peers { local as 65000; multihop 3; hold time 90; }",
    "protocol static { route 10.0.0.0/8 via 192.168.1.1; route 10.1.0.0/16 unreachable; }",
    "protocol static static2 { route 10.2.0.0/16 prohibit; }",
    "protocol static { }",
    "protocol bgp from peers { neighbor 192.168.1.2 as 65001; keepalive time 10; }",
    "protocol bgp direct_one { local 192.168.1.9 as 65000; neighbor 192.168.1.3 port 1179 as 65000; direct; }",
  ].join("\n");
  const c = parseBirdConfig({ "bird.cfg": text }, "bird.cfg", "bird1");
  assert.deepEqual(
    c.protocols.map((p) => p.name),
    ["static1", "static2", "static3", "bgp1", "direct_one"],
  );
  const s1 = proto(c.protocols, "static1", "static");
  assert.deepEqual(s1.routes[0], {
    net: { addr: ip("10.0.0.0"), len: 8, mask: 0xff000000 },
    dest: "unicast",
    via: ip("192.168.1.1"),
  });
  assert.equal(s1.routes[1]?.dest, "unreachable");
  const b = proto(c.protocols, "bgp1", "bgp");
  assert.equal(b.multihop, 3);
  assert.equal(b.holdTime, 90);
  assert.equal(b.keepaliveTime, 10);
  assert.equal(b.gateway, "recursive");
  assert.equal(b.gracefulRestart, undefined);
  const d = proto(c.protocols, "direct_one", "bgp");
  assert.equal(d.multihop, undefined);
  assert.equal(d.gateway, "direct"); // BIRD: recursive only for multihop sessions
  assert.equal(d.sourceAddress, ip("192.168.1.9"));
  assert.deepEqual(d.neighbor, { ip: ip("192.168.1.3"), as: 65000, port: 1179 });
});

function refusal(files: Record<string, string>, dialect: BirdDialect = "bird1", main = "bird.cfg"): string {
  try {
    parseBirdConfig(files, main, dialect);
  } catch (e) {
    assert.ok(e instanceof BirdConfigError, String(e));
    assert.equal(e.message, `${e.file}:${e.line}:${e.column} ${e.reason}`);
    return e.message;
  }
  return assert.fail("accepted");
}

test("errors name file:line:col, inside included files too", () => {
  assert.equal(
    refusal({ "bird.cfg": "router id 1.2.3.4;\nprotocol ospf {\n}\n" }),
    "bird.cfg:2:10 not supported yet: protocol ospf",
  );
  assert.equal(
    refusal({ "bird.cfg": 'include "a.cfg";\n', "a.cfg": "# x\nfilter f {\n  if net = 5 then accept;\n}\n" }),
    "a.cfg:3:10 Can't compare values of types prefix and int",
  );
  assert.equal(
    refusal({ "bird.cfg": 'include "missing.cfg";\n' }),
    "bird.cfg:1:1 Unable to open included file missing.cfg",
  );
  assert.equal(
    refusal({ "bird.cfg": "filter f {\n  nosuch();\n  accept;\n}\n" }),
    "bird.cfg:2:3 nosuch: unknown symbol",
  );
  assert.equal(
    refusal({ "bird.cfg": "protocol kernel {\n  learn;\n  foo bar;\n}\n" }),
    "bird.cfg:3:3 not supported yet: 'foo' in a kernel protocol",
  );
  assert.equal(
    refusal({ "bird.cfg": "/* never closed\nrouter id 1.2.3.4;\n" }),
    "bird.cfg:1:1 Unterminated comment",
  );
  assert.equal(
    refusal({ "bird.cfg": "protocol bgp p {\n  local as 1;\n}\n" }),
    "bird.cfg:1:1 p: Neighbor must be configured",
  );
  assert.equal(
    refusal({ "bird.cfg": "protocol static {\n  route 10.0.0.1/8 blackhole;\n}\n" }),
    "bird.cfg:2:9 Invalid network prefix: 10.0.0.1/8.",
  );
  assert.equal(
    refusal({ "bird.cfg": "filter f {\n  bgp_path.prepend(1);\n  net = 10.0.0.0/8;\n}\n" }),
    "bird.cfg:3:3 This static attribute is read-only.",
  );
  assert.equal(
    refusal({ "bird.cfg": "function f(bool b) {\n  accept;\n}\nfilter g {\n  f(1);\n}\n" }),
    "bird.cfg:5:5 Assigning to variable of incompatible type (b is bool)",
  );
  assert.equal(
    refusal({ "bird.cfg": "filter f {\n  if net ~ fd00::/8 then accept;\n}\n" }),
    "bird.cfg:2:12 IPv6 is not supported: the sim is IPv4-only (fd00::)",
  );
  assert.equal(
    refusal({ "bird.cfg": "protocol kernel {\n  import all;\n}\n" }, "bird2"),
    "bird.cfg:2:3 import and export belong in the ipv4 channel in BIRD 2 (ipv4 { … })",
  );
  assert.equal(
    refusal(
      {
        "bird.cfg":
          "protocol bgp x {\n  local as 1;\n  neighbor 10.0.0.1 as 2;\n  ipv4 { import all; };\n}\n",
      },
      "bird2",
    ),
    "bird.cfg:1:1 x: EBGP requires explicit export policy",
  );
  assert.equal(
    refusal({ "bird.cfg": "protocol kernel k {\n}\nprotocol device k {\n}\n" }),
    "bird.cfg:3:17 k: this symbol already defined",
  );
  assert.equal(
    refusal({ "bird.cfg": "filter f {\n  case net.len { 8: accept; }\n}\n" }),
    "bird.cfg:2:3 not supported yet: case",
  );
  // BIRD's lexer takes `include` only as a line of its own.
  assert.equal(
    refusal({ "bird.cfg": 'router id 1.2.3.4; include "a.cfg";\n', "a.cfg": "" }),
    'bird.cfg:1:20 syntax error: include "file"; expected, on a line of its own',
  );
  // BIRD 2: a protocol's table is a channel option, and the device protocol has no channel.
  assert.equal(
    refusal({ "bird.conf": "protocol kernel {\n  table master4;\n}\n" }, "bird2", "bird.conf"),
    "bird.conf:2:3 table belongs in the ipv4 channel in BIRD 2",
  );
  assert.equal(
    refusal({ "bird.conf": "protocol device {\n  ipv4;\n}\n" }, "bird2", "bird.conf"),
    "bird.conf:2:3 The device protocol supports no channel",
  );
  // The sim's kernel protocol programs the main table only.
  assert.equal(
    refusal({ "bird.cfg": "protocol kernel {\n  kernel table 100;\n}\n" }),
    "bird.cfg:2:16 not supported yet: kernel tables other than main (254)",
  );
});

test("the IPv6 files confd renders are refused: the sim is IPv4-only", () => {
  const dir = join(ROOT, "mesh/communities");
  const files: Record<string, string> = {};
  for (const f of ["bird6.cfg", "bird6_aggr.cfg", "bird6_ipam.cfg"])
    files[f] = readFileSync(join(dir, f), "utf8");
  assert.match(refusal(files, "bird1", "bird6.cfg"), /IPv6 is not supported: the sim is IPv4-only/);
});

test("BIRD 2: channels on every protocol kind (a configuration BIRD 2.0.12 accepts)", () => {
  const text = [
    "router id 172.20.50.1;",
    "protocol device { scan time 10; }",
    'protocol direct { ipv4; interface "dummy*", -"eth1", "eth*"; }',
    "protocol kernel { ipv4 { import none; export where source != RTS_DEVICE; }; learn off; scan time 20; persist; }",
    "protocol static { ipv4; route 10.10.10.10/32 blackhole; route 10.20.0.0/16 via 172.20.32.1; }",
    "protocol bgp peer { local 172.20.50.1 as 65000; neighbor 172.20.50.50 port 1179 as 65001; hold time 30;",
    "  ipv4 { import all; export filter { if net ~ [ 10.0.0.0/8+ ] then accept; reject; }; next hop self; gateway direct; }; }",
  ].join("\n");
  const c = parseBirdConfig({ "bird.conf": text }, "bird.conf", "bird2");
  assert.deepEqual(
    c.protocols.map((p) => `${p.name} ${p.table} ${p.import.name}/${p.export.name ?? "inline"}`),
    [
      "device1 master4 all/none",
      "direct1 master4 all/none",
      "kernel1 master4 none/inline",
      "static1 master4 all/none",
      "peer master4 all/inline",
    ],
  );
  assert.deepEqual(proto(c.protocols, "direct1", "direct").interfaces, [
    { pattern: "dummy*", exclude: false },
    { pattern: "eth1", exclude: true },
    { pattern: "eth*", exclude: false },
  ]);
  const k = proto(c.protocols, "kernel1", "kernel");
  assert.deepEqual([k.learn, k.persist, k.scanTime, k.mergePaths], [false, true, 20, false]);
  assert.deepEqual(
    proto(c.protocols, "static1", "static").routes.map((r) => [r.dest, r.via]),
    [
      ["blackhole", undefined],
      ["unicast", ip("172.20.32.1")],
    ],
  );
  const b = proto(c.protocols, "peer", "bgp");
  assert.deepEqual(
    [b.sourceAddress, b.neighbor, b.holdTime, b.keepaliveTime, b.nextHopSelf, b.gateway, b.multihop],
    [ip("172.20.50.1"), { ip: ip("172.20.50.50"), as: 65001, port: 1179 }, 30, 10, true, "direct", undefined],
  );
  assert.equal(
    refusal({ "bird.conf": "protocol static {\n  route 10.0.0.0/8 blackhole;\n}\n" }, "bird2", "bird.conf"),
    "bird.conf:1:1 static1: an ipv4 channel is required (ipv4 { … })",
  );
});

test("the kernel protocol's metric: BIRD 2's `metric N` (default 32); BIRD 1.6 has no such option (0)", () => {
  const kernel = (text: string, dialect: "bird1" | "bird2") => {
    const c = parseBirdConfig({ "bird.conf": text }, "bird.conf", dialect);
    const k = c.protocols.find((p) => p.kind === "kernel");
    assert.ok(k && k.kind === "kernel");
    return k.metric;
  };
  assert.equal(kernel("protocol kernel { ipv4 { export all; }; }", "bird2"), 32);
  assert.equal(kernel("protocol kernel { ipv4 { export all; }; metric 0; }", "bird2"), 0);
  assert.equal(kernel("protocol kernel { export all; }", "bird1"), 0);
  assert.throws(
    () => parseBirdConfig({ "bird.cfg": "protocol kernel {\n  metric 5;\n}" }, "bird.cfg", "bird1"),
    /bird\.cfg:2:3 not supported yet: 'metric' in a kernel protocol/,
  );
});
