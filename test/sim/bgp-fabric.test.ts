import assert from "node:assert/strict";
import { test } from "node:test";
import type { BirdFilter } from "../../src/dataplane/sim/bird/index.ts";
import { formatRoutes } from "../../src/dataplane/sim/index.ts";
import { assertGolden } from "../cli/harness.ts";
import { BgpNet, bgp, ip, node } from "./bgp-net.ts";

const AS = 64512;

/** node1..3 (10.0.0.10-12) in a full iBGP mesh, each with its block and the service range; host1 peers with all. */
function lab(dialect: "bird1" | "bird2" = "bird1") {
  const n = new BgpNet();
  const addrs = { node1: "10.0.0.10", node2: "10.0.0.11", node3: "10.0.0.12", host1: "10.0.0.20" };
  for (const [h, a] of Object.entries(addrs)) n.host(h, a);
  const nodes = ["node1", "node2", "node3"] as const;
  const cfg = (h: (typeof nodes)[number], i: number) =>
    node(
      dialect,
      addrs[h],
      [`10.48.${i}.0/26`, "10.49.0.0/16"],
      [
        ...nodes
          .filter((o) => o !== h)
          .map((o) =>
            bgp(`Mesh_${addrs[o].replaceAll(".", "_")}`, AS, addrs[o], AS, {
              sourceAddress: ip(addrs[h]),
              passive: addrs[o] < addrs[h],
            }),
          ),
        bgp("Global_10_0_0_20", AS, addrs.host1, AS, { sourceAddress: ip(addrs[h]) }),
      ],
    );
  const configs = () => ({
    node1: { config: cfg("node1", 1) },
    node2: { config: cfg("node2", 2) },
    node3: { config: cfg("node3", 3) },
    host1: {
      config: node(
        "bird2",
        addrs.host1,
        [],
        nodes.map((o) => bgp(o, AS, addrs[o], AS)),
      ),
    },
  });
  return { n, configs };
}

test("a full mesh comes up, and the kernel protocol programs blocks and the ECMP range", () => {
  const { n, configs } = lab();
  n.net.now = 60_000;
  const f = n.converge(configs());
  for (const h of ["node1", "node2", "node3"])
    for (const p of f.protocols(h).filter((x) => x.proto === "BGP"))
      assert.equal(p.bgpState, "Established", `${h} ${p.name}`);
  const node1 = formatRoutes(n.kernels.get("node1")!.main.routes.filter((r) => r.proto === "bird"));
  assert.equal(
    node1,
    "blackhole 10.48.1.0/26 proto bird \n10.48.2.0/26 via 10.0.0.11 dev eth0 proto bird \n10.48.3.0/26 via 10.0.0.12 dev eth0 proto bird \nblackhole 10.49.0.0/16 proto bird \n",
  );
  const host1 = formatRoutes(n.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird"));
  assertGolden("bgp-host1-ip-route.txt", host1);
  assert.match(
    host1,
    /^10\.49\.0\.0\/16 proto bird \n\tnexthop via 10\.0\.0\.10 dev eth0 weight 1 \n\tnexthop via 10\.0\.0\.11 dev eth0 weight 1 \n\tnexthop via 10\.0\.0\.12 dev eth0 weight 1 $/m,
  );
  assertGolden("bgp-birdc-show-protocols-bird1.txt", f.birdc("node1", ["show", "protocols"]).out);
  assertGolden("bgp-birdc-show-protocols-bird2.txt", f.birdc("host1", ["show", "protocols"]).out);
  assertGolden("bgp-birdc-show-route-bird2.txt", f.birdc("host1", ["show", "route"]).out);
  assertGolden("bgp-birdc-show-route-bird1.txt", f.birdc("node1", ["show", "route"]).out);
  assertGolden(
    "bgp-birdc-show-protocols-all-bird1.txt",
    f.birdc("node1", ["show", "protocols", "all", "Mesh_10_0_0_11"]).out,
  );
  assertGolden(
    "bgp-birdc-show-protocols-all-bird2.txt",
    f.birdc("host1", ["show", "protocols", "all", "node1"]).out,
  );
  assertGolden(
    "bgp-birdc-show-route-all-for.txt",
    f.birdc("host1", ["show", "route", "for", "10.49.1.1", "all"]).out,
  );
  assertGolden(
    "bgp-birdc-show-status.txt",
    f.birdc("host1", ["show", "status"]).out + f.birdc("node1", ["show", "status"]).out,
  );
  assert.equal(
    f.birdc("node1", ["show", "route", "count"]).out,
    "BIRD v0.3.3+birdv1.6.8 ready.\n10 of 10 routes for 5 networks\n",
  );
  assert.equal(f.birdc("host1", ["configure"]).code, 1);
});

test("a DROP rule on 179 keeps the session up until the hold timer expires, then withdraws its routes", () => {
  const { n, configs } = lab();
  n.net.now = 60_000;
  n.converge(configs());
  n.kernels
    .get("node2")!
    .netfilter.restore("*filter\n-A INPUT -p tcp -m tcp --dport 179 -j DROP\nCOMMIT\n", { noflush: true });
  n.net.now = 100_000;
  let f = n.converge(configs(), false);
  const st = (h: string, p: string) => f.protocols(h).find((x) => x.name === p)!;
  assert.equal(st("node1", "Mesh_10_0_0_11").bgpState, "Established");
  assert.equal(n.saved.node1!.Mesh_10_0_0_11!.lostAt, 100_000);
  assert.match(formatRoutes(n.kernels.get("node1")!.main.routes), /10\.48\.2\.0\/26 via 10\.0\.0\.11/);
  n.net.now = 100_000 + 240_000;
  f = n.converge(configs(), false);
  const s = st("node1", "Mesh_10_0_0_11");
  assert.equal(s.state, "start");
  assert.equal(s.lastError, "BGP Error: Hold timer expired");
  assert.equal(s.since, 340_000);
  assert.doesNotMatch(formatRoutes(n.kernels.get("node1")!.main.routes), /10\.48\.2\.0\/26/);
  assert.match(
    f.birdc("node1", ["show", "protocols", "Mesh_10_0_0_11"]).out,
    /start {2}.* (Connect|Active) +BGP Error: Hold timer expired\n$/,
  );
});

test("a protocol removed from the configuration disappears at once with its routes", () => {
  const { n, configs } = lab();
  n.converge(configs());
  const c = configs();
  c.node1.config.protocols = c.node1.config.protocols.filter((p) => p.name !== "Mesh_10_0_0_11");
  const f = n.converge(c);
  assert.equal(
    f.protocols("node1").some((p) => p.name === "Mesh_10_0_0_11"),
    false,
  );
  assert.doesNotMatch(formatRoutes(n.kernels.get("node1")!.main.routes), /10\.48\.2\.0/);
  assert.equal(f.protocols("node2").find((p) => p.name === "Mesh_10_0_0_10")!.state, "start");
});

test("an AS mismatch fails the session with BIRD's error", () => {
  const { n, configs } = lab();
  const c = configs();
  c.host1.config.protocols = c.host1.config.protocols.map((p) =>
    p.kind === "bgp" && p.name === "node1" ? { ...p, neighbor: { ...p.neighbor, as: 65000 } } : p,
  );
  const f = n.converge(c);
  assert.equal(f.protocols("host1").find((p) => p.name === "node1")!.lastError, "BGP Error: Bad peer AS");
  assert.equal(
    f.protocols("node1").find((p) => p.name === "Global_10_0_0_20")!.lastError,
    "Received: Bad peer AS",
  );
});

test("iBGP routes are not re-advertised to iBGP peers; a route reflector restores reachability", () => {
  const n = new BgpNet();
  n.host("a", "10.0.0.1");
  n.host("rr", "10.0.0.2");
  n.host("c", "10.0.0.3");
  const build = (rr: boolean) => ({
    a: { config: node("bird1", "10.0.0.1", ["10.48.1.0/26"], [bgp("rr", AS, "10.0.0.2", AS)]) },
    rr: {
      config: node(
        "bird1",
        "10.0.0.2",
        [],
        [bgp("a", AS, "10.0.0.1", AS, { rrClient: rr }), bgp("c", AS, "10.0.0.3", AS, { rrClient: rr })],
      ),
    },
    c: { config: node("bird1", "10.0.0.3", ["10.48.3.0/26"], [bgp("rr", AS, "10.0.0.2", AS)]) },
  });
  n.converge(build(false));
  assert.doesNotMatch(formatRoutes(n.kernels.get("c")!.main.routes), /10\.48\.1\.0/);
  assert.match(formatRoutes(n.kernels.get("rr")!.main.routes), /10\.48\.1\.0\/26 via 10\.0\.0\.1/);
  const f = n.converge(build(true));
  assert.match(
    formatRoutes(n.kernels.get("c")!.main.routes),
    /10\.48\.1\.0\/26 via 10\.0\.0\.1 dev eth0 proto bird/,
  );
  const all = f.birdc("c", ["show", "route", "for", "10.48.1.5", "all"]).out;
  assert.match(all, /BGP\.originator_id: 10\.0\.0\.1/);
  assert.match(all, /BGP\.cluster_list: 10\.0\.0\.2/);
  const verdicts = f.exports("c", "rr");
  assert.ok(verdicts.some((v) => !v.decision.accepted && /not sent back|iBGP/.test(v.decision.text)));
});

test("the kernel protocol leaves another protocol's route alone and learns alien routes", () => {
  const { n, configs } = lab();
  const k = n.kernels.get("node1")!;
  k.addRoute({
    type: "unicast",
    dst: { addr: ip("10.48.2.0"), len: 26, mask: 0xffffffc0 },
    nexthops: [{ via: ip("10.0.0.99"), dev: "eth0", weight: 1 }],
    proto: "static",
    scope: "global",
    metric: 0,
  });
  const f = n.converge(configs());
  assert.equal(k.main.at({ addr: ip("10.48.2.0"), len: 26, mask: 0xffffffc0 }).length, 1);
  assert.match(
    f.birdc("node1", ["show", "route", "protocol", "kernel1"]).out,
    /10\.48\.2\.0\/26 +via 10\.0\.0\.99 on eth0 \[kernel1 /,
  );
  // BIRD's best route is the BGP one; the kernel answered EEXIST, so `show route` marks it `!`, not `*`.
  assert.match(
    f.birdc("node1", ["show", "route", "for", "10.48.2.1"]).out,
    /^10\.48\.2\.0\/26 +via 10\.0\.0\.11 on eth0 \[Mesh_10_0_0_11 [0-9:]+\] ! /m,
  );
});

test("eBGP: direct sessions need a connected neighbour, the AS is prepended, `export P` shows what is sent", () => {
  const n = new BgpNet();
  n.host("a", "10.0.0.1");
  n.host("b", "10.0.0.2");
  const f = n.converge({
    a: {
      config: node(
        "bird2",
        "10.0.0.1",
        ["10.48.1.0/26"],
        [
          bgp("b", 65001, "10.0.0.2", 65002, { multihop: undefined }),
          bgp("far", 65001, "10.9.9.9", 65003, { multihop: undefined }),
        ],
      ),
    },
    b: {
      config: node("bird2", "10.0.0.2", [], [bgp("a", 65002, "10.0.0.1", 65001, { multihop: undefined })]),
    },
  });
  const far = f.protocols("a").find((p) => p.name === "far")!;
  assert.equal(far.bgpState, "Idle");
  assert.equal(far.state, "start");
  assert.match(
    f.birdc("b", ["show", "route", "protocol", "a"]).out,
    /^10\.48\.1\.0\/26 +unicast \[a [0-9:.]+\] \* \(100\) \[AS65001i\]$/m,
  );
  assert.match(
    formatRoutes(n.kernels.get("b")!.main.routes),
    /^10\.48\.1\.0\/26 via 10\.0\.0\.1 dev eth0 proto bird $/m,
  );
  const sent = f.birdc("a", ["show", "route", "export", "b"]).out;
  assert.match(sent, /10\.48\.1\.0\/26/);
  assert.doesNotMatch(sent, /\[b /); // b's own routes are not sent back to it
  const imp = f.imports("b", "a").find((v) => v.route.net.len === 26)!;
  assert.deepEqual(imp.route.attrs.bgp_path, [65001]);
  assert.equal(imp.route.attrs.bgp_next_hop, ip("10.0.0.1"));
});

test("a session whose neighbour refuses the connection is Active with BIRD's socket error", () => {
  const n = new BgpNet();
  n.host("a", "10.0.0.1");
  n.host("b", "10.0.0.2"); // runs no BIRD: nothing listens on 179
  const f = n.converge({ a: { config: node("bird1", "10.0.0.1", [], [bgp("b", AS, "10.0.0.2", AS)]) } });
  const b = f.protocols("a").find((p) => p.name === "b")!;
  assert.equal(b.bgpState, "Active");
  assert.equal(b.lastError, "Socket: Connection refused");
  assert.match(
    f.birdc("a", ["show", "protocols"]).out,
    /^b +BGP +master +start {2}[0-9:]+ {4}Active {8}Socket: Connection refused$/m,
  );
});

test("a new session is Idle for its connect delay, then Established from that moment; an unreachable one fails then", () => {
  const { n, configs } = lab();
  n.net.now = 1_000_000;
  const started = (c: ReturnType<typeof configs>) =>
    Object.fromEntries(
      Object.entries(c).map(([h, v]) => [
        h,
        { ...v, startedAt: Object.fromEntries(v.config.protocols.map((p) => [p.name, 1_000_000])) },
      ]),
    );
  n.kernels.get("host1")!.netfilter.restore("*filter\n-A INPUT -s 10.0.0.12/32 -p tcp -j DROP\nCOMMIT\n", {
    noflush: true,
  });
  let f = n.converge(started(configs()), false);
  const st = (h: string, p: string) => f.protocols(h).find((x) => x.name === p)!;
  assert.deepEqual(
    [st("node1", "Global_10_0_0_20").state, st("node1", "Global_10_0_0_20").bgpState],
    ["start", "Idle"],
  );
  assert.equal(formatRoutes(n.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird")), "");
  n.net.now += 1_000; // still within `connect delay time 2`
  f = n.converge(started(configs()), false);
  assert.equal(st("node1", "Global_10_0_0_20").bgpState, "Idle");
  n.net.now += 29_000;
  f = n.converge(started(configs()), false);
  assert.deepEqual(
    [st("node1", "Global_10_0_0_20").bgpState, st("node1", "Global_10_0_0_20").since],
    ["Established", 1_002_000],
  );
  // host1 drops all TCP from node3, both ways: after the connect delay node3 shows Connect, since then.
  assert.deepEqual(
    [st("node3", "Global_10_0_0_20").bgpState, st("node3", "Global_10_0_0_20").since],
    ["Connect", 1_002_000],
  );
  assert.match(
    formatRoutes(n.kernels.get("host1")!.main.routes),
    /^10\.49\.0\.0\/16 proto bird \n\tnexthop via 10\.0\.0\.10 dev eth0 weight 1 \n\tnexthop via 10\.0\.0\.11 dev eth0 weight 1 $/m,
  );
});

test("a protocol added to a running BIRD starts when it was configured (startedAt), or a connect delay ago", () => {
  const { n, configs } = lab();
  n.net.now = 50_000;
  n.converge(configs());
  const c = configs();
  c.node1.config.protocols = c.node1.config.protocols.map((p) =>
    p.name === "Global_10_0_0_20" ? { ...p, name: "Peer_new" } : p,
  );
  n.saved.node1 = Object.fromEntries(
    Object.entries(n.saved.node1!).filter(([k]) => k !== "Global_10_0_0_20"),
  );
  // Configured 1 s ago: Idle (connect delay 2 s).
  const specs = { ...c, node1: { ...c.node1, startedAt: { Peer_new: n.net.now - 1_000 } } };
  let f = n.converge(specs, false);
  assert.equal(f.protocols("node1").find((p) => p.name === "Peer_new")!.bgpState, "Idle");
  n.net.now += 5_000;
  f = n.converge(specs, false);
  const st = f.protocols("node1").find((p) => p.name === "Peer_new")!;
  assert.deepEqual([st.bgpState, st.since], ["Established", 61_000]);
});

test("the kernel protocol's `metric` overrides krt_metric; `merge paths limit N` keeps the N lowest gateways", () => {
  const { n, configs } = lab();
  const krtMetric: BirdFilter = {
    name: "set_metric",
    run: (route) => ({
      decision: { accepted: true, file: "bird.cfg", line: 1, text: "krt_metric = 1024; accept;" },
      route: { ...route, attrs: { ...route.attrs, krt_metric: 1024 } },
    }),
  };
  const c = configs();
  c.host1.config.protocols = c.host1.config.protocols.map((p) =>
    p.kind === "kernel" ? { ...p, metric: 32, mergePathsLimit: 2, export: krtMetric } : p,
  );
  n.converge(c);
  const host1 = formatRoutes(n.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird"));
  assert.match(host1, /^10\.48\.1\.0\/26 via 10\.0\.0\.10 dev eth0 proto bird metric 32 $/m);
  assert.match(
    host1,
    /^10\.49\.0\.0\/16 proto bird metric 32 \n\tnexthop via 10\.0\.0\.10 dev eth0 weight 1 \n\tnexthop via 10\.0\.0\.11 dev eth0 weight 1 $/m,
  );
  assert.doesNotMatch(host1, /10\.0\.0\.12 dev eth0 weight/);
});

test("the hold timer is the lower of the two ends' hold times", () => {
  const { n, configs } = lab();
  const shortHold = () => {
    const c = configs();
    c.node2.config.protocols = c.node2.config.protocols.map((p) =>
      p.kind === "bgp" && p.name === "Mesh_10_0_0_10" ? { ...p, holdTime: 90 } : p,
    );
    return c;
  };
  n.net.now = 60_000;
  n.converge(shortHold());
  n.kernels
    .get("node2")!
    .netfilter.restore("*filter\n-A INPUT -p tcp -m tcp --dport 179 -j DROP\nCOMMIT\n", { noflush: true });
  n.net.now = 100_000;
  n.converge(shortHold(), false);
  n.net.now = 100_000 + 89_000;
  let f = n.converge(shortHold(), false);
  assert.equal(f.protocols("node1").find((x) => x.name === "Mesh_10_0_0_11")!.bgpState, "Established");
  n.net.now = 100_000 + 90_000;
  f = n.converge(shortHold(), false);
  const s = f.protocols("node1").find((x) => x.name === "Mesh_10_0_0_11")!;
  assert.deepEqual([s.state, s.lastError, s.since], ["start", "BGP Error: Hold timer expired", 190_000]);
});

test("two reflectors of one cluster: a client's route reaches the other clients once per reflector", () => {
  // As confd renders it: `rr client; rr cluster id` only on the sessions to clients, none between reflectors.
  const n = new BgpNet();
  const addrs = { rr1: "10.0.0.1", rr2: "10.0.0.2", x: "10.0.0.3", y: "10.0.0.4" };
  for (const [h, a] of Object.entries(addrs)) n.host(h, a);
  const cluster = ip("1.1.1.1");
  const client = { rrClient: true, rrClusterId: cluster };
  const reflector = (me: "rr1" | "rr2", other: "rr1" | "rr2") =>
    node(
      "bird1",
      addrs[me],
      [],
      [
        bgp(other, AS, addrs[other], AS),
        bgp("x", AS, addrs.x, AS, client),
        bgp("y", AS, addrs.y, AS, client),
      ],
    );
  const f = n.converge({
    rr1: { config: reflector("rr1", "rr2") },
    rr2: { config: reflector("rr2", "rr1") },
    x: {
      config: node(
        "bird1",
        addrs.x,
        ["10.48.3.0/26"],
        [bgp("rr1", AS, addrs.rr1, AS), bgp("rr2", AS, addrs.rr2, AS)],
      ),
    },
    y: { config: node("bird1", addrs.y, [], [bgp("rr1", AS, addrs.rr1, AS), bgp("rr2", AS, addrs.rr2, AS)]) },
  });
  const atY = f.birdc("y", ["show", "route", "for", "10.48.3.1", "all"]).out;
  assert.equal(atY.match(/\[rr[12] /g)?.length, 2, atY);
  assert.equal(atY.match(/BGP\.cluster_list: 1\.1\.1\.1\n/g)?.length, 2, atY);
  // rr2 passes x's route to rr1 with the cluster id it entered by; rr1 does not reflect it back into the cluster.
  const atRr1 = f.birdc("rr1", ["show", "route", "for", "10.48.3.1", "all"]).out;
  assert.match(atRr1, /\[rr2 [^\n]*\n(\t[^\n]*\n)*\tBGP\.cluster_list: 1\.1\.1\.1\n/);
  const toY = f.exports("rr1", "y").filter((v) => v.route.net.len === 26);
  assert.deepEqual(
    toY.map((v) => [v.route.proto, v.decision.accepted, v.decision.text]),
    [
      ["x", true, "all"],
      ["rr2", false, "protocol bgp y: cluster list loop"],
    ],
  );
});

test("AS path loops are checked on every session, up to `allow local as N`; no-export stays in the AS", () => {
  const n = new BgpNet();
  const addrs = { a: "10.0.0.1", b: "10.0.0.2", d: "10.0.0.4", e: "10.0.0.5" };
  for (const [h, a] of Object.entries(addrs)) n.host(h, a);
  const noExport: BirdFilter = {
    name: "no_export",
    run: (route) => ({
      decision: { accepted: true, file: "bird.cfg", line: 1, text: "accept;" },
      route:
        route.net.len === 27
          ? { ...route, attrs: { ...route.attrs, bgp_community: [[65535, 65281]] } }
          : route,
    }),
  };
  const f = n.converge({
    a: {
      config: node(
        "bird1",
        addrs.a,
        ["10.48.1.0/26", "10.48.2.0/27"],
        [bgp("b", 65001, addrs.b, 65002, { export: noExport })],
      ),
    },
    b: {
      config: node("bird1", addrs.b, [], [bgp("a", 65002, addrs.a, 65001), bgp("d", 65002, addrs.d, 65001)]),
    },
    d: {
      config: node(
        "bird1",
        addrs.d,
        [],
        [bgp("b", 65001, addrs.b, 65002, { allowLocalAs: 1 }), bgp("e", 65001, addrs.e, 65001)],
      ),
    },
    e: { config: node("bird1", addrs.e, [], [bgp("d", 65001, addrs.d, 65001)]) },
  });
  // b learned the /27 with NO_EXPORT over eBGP: it keeps it, and sends it to no eBGP peer.
  assert.match(f.birdc("b", ["show", "route", "for", "10.48.2.1"]).out, /10\.48\.2\.0\/27/);
  const fromB = (len: number) => {
    const v = f.exports("b", "d").find((x) => x.route.source === "RTS_BGP" && x.route.net.len === len)!;
    return [v.decision.accepted, v.decision.text];
  };
  assert.deepEqual(fromB(26), [true, "all"]);
  assert.deepEqual(fromB(27), [false, "protocol bgp d: community no-export: not sent to an eBGP peer"]);
  // d takes [65002 65001] (one local AS allowed); its iBGP peer e, allowing none, drops it.
  const atD = f.imports("d", "b").find((v) => v.route.net.len === 26)!;
  assert.equal(atD.decision.accepted, true);
  assert.deepEqual(atD.route.attrs.bgp_path, [65002, 65001]);
  const atE = f.imports("e", "d").find((v) => v.route.net.len === 26)!;
  assert.equal(atE.decision.text, "protocol bgp d: AS path loop");
});
