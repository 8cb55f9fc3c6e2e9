/**
 * Two things real BIRD showed the sim got wrong (issue 17), each checked by hand on BIRD 2.0.12 and 1.6.8 in
 * namespaces: `gateway recursive` resolves through BIRD's own table, not the kernel's FIB; and `show protocols`
 * lists a protocol a reconfiguration adds where BIRD put it in its list, not in the configuration's order.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type BirdConfig, parseBirdConfig } from "../../src/dataplane/sim/bird/index.ts";
import { formatRoutes } from "../../src/dataplane/sim/index.ts";
import { BgpNet, bgp, node } from "./bgp-net.ts";

const LAB = readFileSync(new URL("../fixtures/bird/host1-lab.conf", import.meta.url), "utf8");
const AS = 64512;

/** host1's configuration without its `protocol direct` (how the labs' host1 was first written). */
function withoutDirect(text: string): string {
  const start = text.indexOf("protocol direct {");
  assert.ok(start > 0);
  return text.slice(0, start) + text.slice(text.indexOf("}\n", start) + 2);
}

/**
 * The hand check's setup: host1 (198.19.15.254/20 on ens4, the lab's BIRD 2 file) and one BIRD 1.6 peer, node2
 * (198.19.0.3), announcing two blackholes over iBGP; control and node1 are absent.
 */
function lab(host1: string): { n: BgpNet; out: (args: string) => string } {
  const n = new BgpNet();
  n.host("node2", "198.19.0.3", 20, "ens4");
  n.host("host1", "198.19.15.254", 20, "ens4");
  n.net.now = 3_600_000;
  const f = n.converge({
    host1: { config: parseBirdConfig({ "bird.conf": host1 }, "bird.conf", "bird2") },
    node2: {
      config: node(
        "bird1",
        "198.19.0.3",
        ["198.19.25.96/29", "198.19.32.0/20"],
        [bgp("host1", AS, "198.19.15.254", AS)],
      ),
    },
  });
  return { n, out: (args) => f.birdc("host1", args.split(" ")).out };
}

const birdRoutes = (n: BgpNet, host: string) =>
  formatRoutes(n.kernels.get(host)!.main.routes.filter((r) => r.proto === "bird"));

test("gateway recursive: without a route in BIRD's table to the next hop, host1's routes are unreachable", () => {
  // The kernel has 198.19.0.0/20 (proto kernel), but `learn` does not import it and nothing else covers 198.19.0.3.
  const { n, out } = lab(withoutDirect(LAB));
  // BIRD 2.0.12 printed (times aside): `198.19.32.0/20 unreachable [node2 10:29:17.673 from 198.19.0.3] * (100) [i]`.
  assert.equal(
    out("show route"),
    "BIRD 2.0.7 ready.\nTable master4:\n" +
      "198.19.32.0/20       unreachable [node2 17:00:00.000 from 198.19.0.3] * (100) [i]\n" +
      "198.19.25.96/29      unreachable [node2 17:00:00.000 from 198.19.0.3] * (100) [i]\n",
  );
  assert.match(out("show route all for 198.19.25.97"), /\tBGP\.next_hop: 198\.19\.0\.3\n/);
  // `ip route` in host1's namespace: `unreachable 198.19.25.96/29 proto bird`.
  assert.equal(
    birdRoutes(n, "host1"),
    "unreachable 198.19.25.96/29 proto bird \nunreachable 198.19.32.0/20 proto bird \n",
  );
});

test("gateway recursive: host1's `protocol direct` on ens4 covers the next hop, so the routes resolve", () => {
  const { n, out } = lab(LAB);
  // BIRD 2.0.12 after `birdc configure` with the direct protocol: the subnet from direct1 (`!`: the kernel already
  // has it, proto kernel, so exporting it gets EEXIST), the learned routes via node2 on ens4.
  assert.equal(
    out("show route"),
    "BIRD 2.0.7 ready.\nTable master4:\n" +
      "198.19.0.0/20        unicast [direct1 17:00:00.000] ! (240)\n\tdev ens4\n" +
      "198.19.32.0/20       unicast [node2 17:00:00.000] * (100) [i]\n\tvia 198.19.0.3 on ens4\n" +
      "198.19.25.96/29      unicast [node2 17:00:00.000] * (100) [i]\n\tvia 198.19.0.3 on ens4\n",
  );
  assert.equal(
    birdRoutes(n, "host1"),
    "198.19.25.96/29 via 198.19.0.3 dev ens4 proto bird \n198.19.32.0/20 via 198.19.0.3 dev ens4 proto bird \n",
  );
  assert.match(out("show protocols"), /\ndevice1 +Device .*\ndirect1 +Direct +--- +up .*\nkernel1 +Kernel /);
});

test("gateway recursive: a learned default route resolves the next hop through its gateway, IGP metric unknown", () => {
  // BIRD 2.0.12 with `ip route add default via 198.19.0.1 dev ens4 proto boot` and no direct protocol:
  //   0.0.0.0/0            unicast [kernel1 10:32:03.291] * (10)
  //   	via 198.19.0.1 on ens4
  //   198.19.32.0/20       unicast [node2 10:32:04.303 from 198.19.0.3] * (100/?) [i]
  //   	via 198.19.0.1 on ens4
  const n = new BgpNet();
  const k = n.host("host1", "198.19.15.254", 20, "ens4");
  n.host("node2", "198.19.0.3", 20, "ens4");
  k.main.add({
    type: "unicast",
    dst: { addr: 0, len: 0, mask: 0 },
    nexthops: [{ via: 0xc6130001, dev: "ens4", weight: 1 }],
    proto: "boot",
    scope: "global",
    metric: 0,
  });
  n.net.now = 3_600_000;
  const f = n.converge({
    host1: { config: parseBirdConfig({ "bird.conf": withoutDirect(LAB) }, "bird.conf", "bird2") },
    node2: {
      config: node(
        "bird1",
        "198.19.0.3",
        ["198.19.25.96/29", "198.19.32.0/20"],
        [bgp("host1", AS, "198.19.15.254", AS)],
      ),
    },
  });
  assert.equal(
    f.birdc("host1", ["show", "route"]).out,
    "BIRD 2.0.7 ready.\nTable master4:\n" +
      "0.0.0.0/0            unicast [kernel1 17:00:00.000] * (10)\n\tvia 198.19.0.1 on ens4\n" +
      "198.19.32.0/20       unicast [node2 17:00:00.000 from 198.19.0.3] * (100/?) [i]\n\tvia 198.19.0.1 on ens4\n" +
      "198.19.25.96/29      unicast [node2 17:00:00.000 from 198.19.0.3] * (100/?) [i]\n\tvia 198.19.0.1 on ens4\n",
  );
  assert.equal(
    birdRoutes(n, "host1"),
    "198.19.25.96/29 via 198.19.0.1 dev ens4 proto bird \n198.19.32.0/20 via 198.19.0.1 dev ens4 proto bird \n",
  );
});

test("gateway recursive on BIRD 1.6: `/0` through the direct route, `/?` through a learned gateway route", () => {
  // BIRD 1.6.8, node2 learning 10.77.0.0/16 from a peer at 198.19.15.254: with `protocol direct` on ens4
  //   10.77.0.0/16       via 198.19.15.254 on ens4 [host1 10:33:50] * (100/0) [i]
  // and with only a learned `default via 198.19.0.1 proto boot` instead:
  //   10.77.0.0/16       via 198.19.0.1 on ens4 [host1 10:33:50 from 198.19.15.254] * (100/?) [i]
  const run = (direct: boolean) => {
    const n = new BgpNet();
    n.host("host1", "198.19.15.254", 20, "ens4");
    const k = n.host("node2", "198.19.0.3", 20, "ens4");
    k.main.add({
      type: "unicast",
      dst: { addr: 0, len: 0, mask: 0 },
      nexthops: [{ via: 0xc6130001, dev: "ens4", weight: 1 }],
      proto: "boot",
      scope: "global",
      metric: 0,
    });
    const node2 = node("bird1", "198.19.0.3", [], [bgp("host1", AS, "198.19.15.254", AS)]);
    if (!direct) node2.protocols = node2.protocols.filter((p) => p.kind !== "direct");
    n.net.now = 3_600_000;
    const f = n.converge({
      host1: {
        config: node("bird1", "198.19.15.254", ["10.77.0.0/16"], [bgp("node2", AS, "198.19.0.3", AS)]),
      },
      node2: { config: node2 },
    });
    return f.birdc("node2", ["show", "route", "for", "10.77.0.1"]).out.split("\n")[1];
  };
  assert.equal(run(true), "10.77.0.0/16       via 198.19.15.254 on ens4 [host1 17:00:00] * (100/0) [i]");
  assert.equal(
    run(false),
    "10.77.0.0/16       via 198.19.0.1 on ens4 [host1 17:00:00 from 198.19.15.254] * (100/?) [i]",
  );
});

/** A node's BIRD 1.6 or 2 configuration with these BGP protocols (in this order, as confd sorts them). */
function peers(dialect: "bird1" | "bird2", names: [string, string][]): BirdConfig {
  return node(
    dialect,
    "198.19.0.2",
    [],
    names.map(([name, ip]) => bgp(name, AS, ip, AS)),
  );
}

function order(dialect: "bird1" | "bird2", steps: [string, string][][]): string[][] {
  const n = new BgpNet();
  n.host("node1", "198.19.0.2", 20, "ens4");
  return steps.map((names) => {
    const f = n.converge({ node1: { config: peers(dialect, names) } }, false);
    return f.protocols("node1").map((p) => p.name);
  });
}

const MESH: [string, string][] = [
  ["Mesh_198_19_0_1", "198.19.0.1"],
  ["Mesh_198_19_0_3", "198.19.0.3"],
];
const GLOBAL: [string, string] = ["Global_198_19_15_254", "198.19.15.254"];
const BASE = ["kernel1", "device1", "direct1", "static1"];

test("show protocols, BIRD 1.6: a protocol added by a reconfiguration goes to the end of the list", () => {
  const [start, added, removed, again] = order("bird1", [MESH, [GLOBAL, ...MESH], MESH, [GLOBAL, ...MESH]]);
  assert.deepEqual(start, [...BASE, "Mesh_198_19_0_1", "Mesh_198_19_0_3"]);
  // confd sorts Global_… first; BIRD 1.6.8 (`birdc configure`) listed it after the protocols already running.
  assert.deepEqual(added, [...BASE, "Mesh_198_19_0_1", "Mesh_198_19_0_3", "Global_198_19_15_254"]);
  assert.deepEqual(removed, start);
  assert.deepEqual(again, added);
  // A fresh start (no saved state): the configuration's order.
  assert.deepEqual(order("bird1", [[GLOBAL, ...MESH]])[0], [
    ...BASE,
    "Global_198_19_15_254",
    "Mesh_198_19_0_1",
    "Mesh_198_19_0_3",
  ]);
});

test("show protocols, BIRD 2: a protocol added by a reconfiguration takes its place in the configuration", () => {
  // BIRD 2.0.12 (`birdc configure`) put new protocols right after their predecessor in the file, at the head if first.
  const [, added] = order("bird2", [MESH, [GLOBAL, ...MESH]]);
  assert.deepEqual(added, [...BASE, "Global_198_19_15_254", "Mesh_198_19_0_1", "Mesh_198_19_0_3"]);
});
