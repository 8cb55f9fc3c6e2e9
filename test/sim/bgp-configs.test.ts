/** The BGP speakers running parsed configurations: confd's mesh files and host1's BIRD 2 configuration. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseBirdConfig } from "../../src/dataplane/sim/bird/index.ts";
import { formatRoutes } from "../../src/dataplane/sim/index.ts";
import { assertGolden } from "../cli/harness.ts";
import { BgpNet, bgp, ip, node } from "./bgp-net.ts";

const MESH = new URL("../fixtures/confd/compiled_templates/mesh/ipip-always/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, MESH), "utf8");

/** confd's files for node 10.192.0.N of the three-node mesh, from the rendered ones for 10.192.0.2. */
function meshFiles(n: number): Record<string, string> {
  const me = `10.192.0.${n}`;
  const cfg = read("bird.cfg");
  const head = cfg
    .slice(0, cfg.indexOf("protocol bgp "))
    .replace("router id 10.192.0.2;", `router id ${me};`);
  const first = cfg.slice(cfg.indexOf("protocol bgp "));
  const block = first.slice(0, first.indexOf("protocol bgp ", 10));
  const peers = [2, 3, 4]
    .filter((p) => p !== n)
    .map((p) =>
      block
        .replaceAll("Mesh_10_192_0_3", `Mesh_10_192_0_${p}`)
        .replace("neighbor 10.192.0.3 as", `neighbor 10.192.0.${p} as`)
        .replace("source address 10.192.0.2;", `source address ${me};`)
        .replace("  passive on;\n", p > n ? "  passive on;\n" : ""),
    );
  const blocks = (text: string) =>
    text
      .replaceAll("10.0.0.0/30", `10.0.${n}.0/30`)
      .replaceAll("10.1.0.0/24", `10.1.${n}.0/24`)
      .replaceAll("192.168.221.", `192.168.${n}.`);
  return {
    "bird.cfg": head + peers.join(""),
    "bird_aggr.cfg": blocks(read("bird_aggr.cfg")),
    "bird_ipam.cfg": blocks(read("bird_ipam.cfg")),
  };
}

test("confd's mesh configuration: sessions, passive sides, calico_kernel_programming's metrics", () => {
  const n = new BgpNet();
  for (const i of [2, 3, 4]) n.host(`node${i}`, `10.192.0.${i}`);
  const configs = Object.fromEntries(
    [2, 3, 4].map((i) => [`node${i}`, { config: parseBirdConfig(meshFiles(i), "bird.cfg", "bird1") }]),
  );
  const f = n.converge(configs);
  for (const h of ["node2", "node3", "node4"])
    for (const p of f.protocols(h).filter((x) => x.proto === "BGP")) assert.equal(p.bgpState, "Established");
  const routes = formatRoutes(n.kernels.get("node2")!.main.routes.filter((r) => r.proto === "bird"));
  assertGolden("bgp-mesh-node2-ip-route.txt", routes);
  // The pool's blocks are Felix's business (calico_kernel_programming rejects 192.168.0.0/16); the others go in
  // with krt_metric 2147483647 - bgp_local_pref = 1024.
  assert.match(routes, /^10\.0\.3\.0\/30 via 10\.192\.0\.3 dev eth0 proto bird metric 1024 $/m);
  assert.doesNotMatch(routes, /192\.168\.3\./);
  assert.match(routes, /^blackhole 10\.1\.2\.0\/24 proto bird $/m);
  assertGolden("bgp-mesh-node2-birdc-show-protocols.txt", f.birdc("node2", ["show", "protocols"]).out);
  const exp = f.exports("node2", "Mesh_10_192_0_3");
  const own = exp.find((v) => v.route.net.len === 26 && v.route.source === "RTS_STATIC")!;
  assert.equal(own.decision.accepted, true);
  const learned = exp.find((v) => v.route.source === "RTS_BGP" && v.route.proto === "Mesh_10_192_0_4")!;
  assert.equal(learned.decision.accepted, false);
  assert.match(learned.decision.text, /learned over iBGP: not sent to another iBGP peer/);
});

test("host1's BIRD 2 configuration: only the allowed ranges, ECMP for the service range", () => {
  const n = new BgpNet();
  const nodes = { control: "198.19.0.1", node1: "198.19.0.2", node2: "198.19.0.3" };
  // The lab's interface name: host1's `protocol direct` covers ens4 only.
  for (const [h, a] of Object.entries(nodes)) n.host(h, a, 20, "ens4");
  n.host("host1", "198.19.15.254", 20, "ens4");
  const AS = 64512;
  const configs: Parameters<BgpNet["converge"]>[0] = {
    host1: {
      config: parseBirdConfig(
        { "bird.conf": readFileSync(new URL("../fixtures/bird/host1-lab.conf", import.meta.url), "utf8") },
        "bird.conf",
        "bird2",
      ),
    },
  };
  Object.entries(nodes).forEach(([h, a], i) => {
    const statics = [
      "198.19.32.0/20",
      `198.19.16.${i * 64}/26`,
      ...(h === "node1" ? ["198.19.28.208/29"] : []),
    ];
    configs[h] = {
      config: node("bird1", a, statics, [
        bgp("Global_198_19_15_254", AS, "198.19.15.254", AS, { sourceAddress: ip(a) }),
      ]),
    };
  });
  n.net.now = 3_600_000;
  const f = n.converge(configs);
  const routes = formatRoutes(n.kernels.get("host1")!.main.routes.filter((r) => r.proto === "bird"));
  assert.equal(
    routes,
    "198.19.28.208/29 via 198.19.0.2 dev ens4 proto bird \n198.19.32.0/20 proto bird \n\tnexthop via 198.19.0.1 dev ens4 weight 1 \n\tnexthop via 198.19.0.2 dev ens4 weight 1 \n\tnexthop via 198.19.0.3 dev ens4 weight 1 \n",
  );
  assertGolden("bgp-host1-birdc-show-protocols.txt", f.birdc("host1", ["show", "protocols"]).out);
  assertGolden("bgp-host1-birdc-show-route.txt", f.birdc("host1", ["show", "route"]).out);
  const verdicts = f.imports("host1", "node1");
  const refused = verdicts.find((v) => v.route.net.len === 26)!;
  assert.equal(refused.decision.accepted, false);
  assert.equal(refused.decision.text.trim(), "reject;");
});
