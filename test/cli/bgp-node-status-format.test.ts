/** calicoctl node status's parsing of BIRD's protocol table and its box table (status.go, status_test.go). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatPeers, parsePeerLine, scanBirdPeers } from "../../src/cli/calicoctl-node.ts";

test("status_test.go's BIRD peer lines", () => {
  assert.equal(parsePeerLine("kernel1  Kernel   master   up     2016-11-21", "."), undefined);
  assert.equal(parsePeerLine("device1  Device   master   up     2016-11-21", "."), undefined);
  assert.equal(
    parsePeerLine("Meshd_172_17_8_102 BGP      master   up     2016-11-21  Established", "."),
    undefined,
  );
  assert.deepEqual(parsePeerLine("Mesh_172_17_8_102 BGP      master   up     2016-11-21  Established", "."), {
    peerIp: "172.17.8.102",
    peerType: "node-to-node mesh",
    state: "up",
    since: "2016-11-21",
    bgpState: "Established",
    info: "",
  });
  assert.deepEqual(
    parsePeerLine("Node_172_17_80_102 BGP      master   up     2016-11-21  Active    Socket: error", "."),
    {
      peerIp: "172.17.80.102",
      peerType: "node specific",
      state: "up",
      since: "2016-11-21",
      bgpState: "Active",
      info: "Socket: error",
    },
  );
  assert.deepEqual(parsePeerLine("Global_172_17_8_133 BGP master down 2016-11-2 Failed", "."), {
    peerIp: "172.17.8.133",
    peerType: "global",
    state: "down",
    since: "2016-11-2",
    bgpState: "Failed",
    info: "",
  });
});

test("scanning birdcl's table: the greeting and heading skipped, an unknown heading refused", () => {
  const table = [
    "BIRD v0.3.3+birdv1.6.8 ready.",
    "name     proto    table    state  since       info",
    "kernel1  Kernel   master   up     2016-11-21",
    "device1  Device   master   up     2016-11-21",
    "Mesh_172_17_8_102 BGP      master   up     2016-11-21  Established",
    "Global_172_17_8_103 BGP      master   up     2016-11-21  Established",
    "Node_172_17_8_104 BGP      master   down     2016-11-21  Failed  Socket: error",
    "",
  ].join("\n");
  assert.deepEqual(
    scanBirdPeers(table, ".").map((p) => [p.peerIp, p.peerType, p.state, p.bgpState, p.info]),
    [
      ["172.17.8.102", "node-to-node mesh", "up", "Established", ""],
      ["172.17.8.103", "global", "up", "Established", ""],
      ["172.17.8.104", "node specific", "down", "Failed", "Socket: error"],
    ],
  );
  assert.throws(
    () => scanBirdPeers("BIRD 1.6.8 ready.\nname     proto    table    state  foo       info\n", "."),
    /unknown BIRD table output format/,
  );
});

test("the peer table as seed 002 prints it", () => {
  const rows = [
    "Mesh_198_19_0_1 BGP      master   up     04:04:45    Established",
    "Mesh_198_19_0_3 BGP      master   up     04:04:49    Established",
    "Global_198_19_15_254 BGP      master   up     04:09:36    Established",
  ];
  assert.equal(
    formatPeers(rows.map((r) => parsePeerLine(r, ".")!)),
    `+---------------+-------------------+-------+----------+-------------+
| PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+---------------+-------------------+-------+----------+-------------+
| 198.19.0.1    | node-to-node mesh | up    | 04:04:45 | Established |
| 198.19.0.3    | node-to-node mesh | up    | 04:04:49 | Established |
| 198.19.15.254 | global            | up    | 04:09:36 | Established |
+---------------+-------------------+-------+----------+-------------+
`,
  );
});
