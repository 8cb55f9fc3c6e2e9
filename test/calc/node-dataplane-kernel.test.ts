/**
 * The sim's DataplaneKernel built from calc's description alone agrees with the SimCluster the twin runs (same
 * store): node1's routes (BIRD's aside), links, iptables rules and ipsets, in the normal form both kernels share.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { emptySimState, runSimCommand, SimCluster, SimDataplaneKernel } from "../../src/agent/index.ts";
import { clusterDataplane, KERNEL_QUERY_COMMANDS, normaliseKernelQuery } from "../../src/calc/index.ts";
import { readSimInputs } from "../../src/cli/exec.ts";
import { CliHarness } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

test("SimDataplaneKernel from the description equals SimCluster's node1 and a pod", async () => {
  assert.equal((await h.run("up --app yaobank")).code, 0);
  const { topology, objects } = await readSimInputs(h.silentContext());
  const description = clusterDataplane({ objects, topology, features: { nfacct: true } });
  const kernel = new SimDataplaneKernel();
  await kernel.apply(description);
  const twin = new SimCluster(objects, topology, emptySimState());
  const pod = description.hosts.find((x) => x.host === "node1")!.namespaces[1]!.name;
  for (const target of ["node1", pod])
    for (const what of ["routes", "iptables", "links"] as const) {
      const raw = runSimCommand(twin, twin.kernel(target)!, KERNEL_QUERY_COMMANDS[what]).stdout;
      let expected = normaliseKernelQuery(what, raw);
      if (what === "routes")
        expected = expected
          .split("\n")
          .filter((l) => !l.includes("proto bird"))
          .join("\n");
      if (what === "iptables") expected = expected.replace(/\[\d+:\d+\]/g, "[0:0]");
      if (what === "links") continue; // the twin's `ip` has no -br: links are checked below
      assert.equal(await kernel.query(target, what), expected, `${target} ${what}`);
    }
  const links = await kernel.query("node1", "links");
  assert.match(links, /^cali\w+ UP ee:ee:ee:ee:ee:ee$/m);
  assert.match(await kernel.query("node1", "ipsets"), /^create cali40all-ipam-pools hash:net$/m);
  assert.match(await kernel.query(pod, "routes"), /^default via 169\.254\.1\.1 dev eth0$/m);
  const bad = structuredClone(description);
  bad.hosts[0]!.namespaces[0]!.sysctls["net.ipv4.conf.all.nonsense"] = "1";
  await assert.rejects(kernel.apply(bad), /nonsense: No such file or directory/);
  assert.match(
    await kernel.query("node1", "routes"),
    / dev cali\w+ scope link metric 1024$/m,
    "the last good build stays",
  );
  await kernel.destroy();
});
