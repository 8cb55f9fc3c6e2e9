/**
 * confd's bird.cfg and bird6.cfg against calico's own golden files (confd/tests/compiled_templates at 87c15906):
 * every scenario of test/fixtures/confd/scenarios.ts is put into a ConfdInput, run through calc's bgpPeeringModel
 * and render's renderBirdCfg, and compared the way the upstream harness compares (compareOutput: both sides through
 * normalizeBlankLines, which drops blank lines, since the goldens are stored without them).
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { findKind, prepareObject } from "../../src/api/index.ts";
import { type BgpPeeringModel, bgpPeeringModel, ConfdNodeError, hashToIPv4 } from "../../src/calc/index.ts";
import { type BirdCfgInput, normalizeBlankLines, renderBirdCfg } from "../../src/render/index.ts";
import {
  COMPILED,
  CONFD_PEERING_COUNTS,
  CONFD_SCENARIOS,
  readGolden,
  toConfdInput,
} from "../fixtures/confd/scenarios.ts";

// The model calc computes is the input render takes (render restates the shape; this keeps them in step).
const asRenderInput = (m: BgpPeeringModel): BirdCfgInput => m;

for (const s of CONFD_SCENARIOS) {
  const files = [
    ["bird.cfg", 4],
    ["bird6.cfg", 6],
  ] as const;
  test(`confd ${s.id}: bird.cfg and bird6.cfg match calico's golden`, { skip: s.leftOut }, () => {
    const input = toConfdInput(s);
    for (const [file, family] of files) {
      const golden = readGolden(s.golden, file);
      assert.ok(golden !== undefined, `${s.golden}/${file} missing`);
      const out = renderBirdCfg(asRenderInput(bgpPeeringModel(input, family)));
      assert.equal(normalizeBlankLines(out), normalizeBlankLines(golden), `${s.golden}/${file}`);
    }
  });
}

for (const s of CONFD_PEERING_COUNTS) {
  test(`confd ${s.id}: ${s.peerings} peering(s) in bird.cfg (${s.test})`, () => {
    const out = renderBirdCfg(bgpPeeringModel(toConfdInput(s), 4));
    assert.equal(out.split("protocol bgp").length - 1, s.peerings);
  });
}

test("every compiled_templates directory is a scenario, and left-out scenarios say why", () => {
  const dirs: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(COMPILED, rel), { withFileTypes: true })) {
      if (e.isDirectory()) walk(rel ? `${rel}/${e.name}` : e.name);
      else if (e.name === "bird.cfg") dirs.push(rel);
    }
  };
  walk("");
  const covered = new Set(CONFD_SCENARIOS.map((s) => s.golden));
  assert.deepEqual(
    dirs.filter((d) => !covered.has(d)),
    [],
  );
  assert.equal(dirs.length, 88);
  const left = CONFD_SCENARIOS.filter((s) => s.leftOut !== undefined);
  for (const s of left) assert.ok((s.leftOut ?? "").length > 10, `${s.id}: leftOut needs a reason`);
  assert.ok(left.length <= 3, `too many scenarios left out: ${left.map((s) => s.id).join(", ")}`);
});

test("every object of every scenario passes tortie's API validation (what calicoctl/kubectl apply accept)", () => {
  for (const s of CONFD_SCENARIOS) {
    for (const o of toConfdInput(s).objects) {
      const def = findKind(o.apiVersion, o.kind);
      assert.ok(def, `${s.id}: no kind ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => prepareObject(def, o), `${s.id}: ${o.kind} ${o.metadata.name}`);
    }
  }
});

test("renderBirdCfg keeps the template's blank lines (normalisation only removes them)", () => {
  const s = CONFD_SCENARIOS.find((x) => x.id === "mesh/bgp-export")!;
  const out = renderBirdCfg(bgpPeeringModel(toConfdInput(s), 4));
  assert.ok(out.startsWith("function apply_communities ()\n{\n}\n\ntemplate kernel kernel_template {\n"));
  assert.match(out, /\n}\n\nprotocol direct from direct_template {\n}\n\n\n# Template for all BGP clients\n/);
  assert.ok(out.endsWith("  passive on;\n}\n\n\n"));
});

test("tortie's own cluster: no BGPConfiguration means AS 64512 and a full mesh", () => {
  const node = (name: string, ip: string) => ({
    apiVersion: "projectcalico.org/v3",
    kind: "Node",
    metadata: { name },
    spec: { bgp: { ipv4Address: `${ip}/20` } },
  });
  const objects = [node("node1", "198.19.0.2"), node("node2", "198.19.0.3"), node("node3", "198.19.0.10")];
  const m = bgpPeeringModel({ node: "node2", objects }, 4);
  assert.equal(m.asNumber, "64512");
  assert.equal(m.routerId, "198.19.0.3");
  assert.deepEqual(
    m.peers.map((p) => [p.name, p.passive, p.sourceAddr]),
    [
      ["Mesh_198_19_0_10", false, "198.19.0.3"],
      ["Mesh_198_19_0_2", false, "198.19.0.3"],
    ],
  );
  // The passive rule is a string comparison: "198.19.0.10" < "198.19.0.3".
  const m1 = bgpPeeringModel({ node: "node1", objects }, 4);
  assert.deepEqual(
    m1.peers.map((p) => [p.ip, p.passive]),
    [
      ["198.19.0.10", false],
      ["198.19.0.3", true],
    ],
  );
  const v6 = renderBirdCfg(bgpPeeringModel({ node: "node1", objects }, 6));
  assert.match(v6, /# IPv6 disabled on this node\.\n/);
  assert.throws(() => bgpPeeringModel({ node: "ghost", objects }, 4), ConfdNodeError);
});

test("CALICO_ROUTER_ID=hash hashes the node name as calico does", () => {
  // confd/tests/compiled_templates/mesh/hash: kube-master's router id.
  assert.equal(hashToIPv4("kube-master"), "25.79.212.8");
});
