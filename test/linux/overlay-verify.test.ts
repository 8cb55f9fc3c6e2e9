/**
 * `tortie verify` with Felix's overlays (issue 19's "done when"): the lab with its default pool patched to VXLAN
 * and WireGuard enabled, as a user does it with calicoctl before YAO Bank starts, has no divergence between the sim
 * and the real kernel; on the real one the pods on different nodes reach each other through vxlan.calico inside
 * wireguard.cali, and a capture on the underlay's bridge shows only WireGuard's UDP 51820 between the nodes.
 * Root only, with wireguard-go and wg (Debian: wireguard-go, wireguard-tools); skipped with a message otherwise.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { verifyCluster, verifyRefusal } from "../../src/cli/verify.ts";
import { LinuxDataplane } from "../../src/dataplane/linux/index.ts";
import { CliHarness } from "../cli/harness.ts";
import { captureWhile, clusterNetns } from "./linux-harness.ts";

function unavailable(): string | undefined {
  const why = verifyRefusal();
  if (why) return why;
  for (const tool of ["wireguard-go", "wg", "tcpdump"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}

const skip = unavailable();
if (skip) console.log(`# skipped: ${skip}`);
const h = new CliHarness();

before(async () => {
  if (skip) return;
  h.now = new Date();
  for (const line of [
    "up",
    `calicoctl patch ippool default-ipv4-ippool -p '{"spec":{"vxlanMode":"Always"}}'`,
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
    "up --app yaobank",
  ]) {
    const r = await h.run(line);
    assert.equal(r.code, 0, `${line}: ${r.err}`);
  }
});

after(() => h.cleanup());

test("verify: the lab on VXLAN with WireGuard has no divergence; pods cross nodes inside WireGuard", {
  timeout: 300_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  const lines: string[] = [];
  const r = await verifyCluster(h.silentContext(), { keep: true, progress: (l) => lines.push(l) });
  const kept = r.kept!;
  const k = new LinuxDataplane({
    cluster: kept.cluster,
    stateDir: kept.stateDir,
    processArgv: () => undefined,
  });
  t.after(async () => {
    await k.destroy();
    rmSync(kept.stateDir, { recursive: true, force: true });
    assert.deepEqual(clusterNetns(kept.cluster), [], "namespaces left behind");
  });
  for (const l of lines) t.diagnostic(l);
  const applied = k.lastApplied()!;
  const hosts = applied.hosts.filter((x) => x.role !== "external");
  for (const host of hosts) {
    const links = await k.query(host.host, "links");
    assert.match(links, /^vxlan\.calico UNKNOWN [0-9a-f:]{17}$/m, `${host.host}: ${links}`);
    assert.match(links, /^wireguard\.cali UNKNOWN$/m, `${host.host}: ${links}`);
    assert.match(await k.query(host.host, "wireguard"), /\t51820\t0x100000$/m);
  }
  // A pod on one node pings a pod on another: through WireGuard, so the underlay shows UDP 51820 only.
  const pods = hosts.flatMap((x) =>
    x.namespaces
      .filter((ns) => ns.kind === "pod")
      .map((ns) => ({ host: x.host, name: ns.name, ip: ns.addresses[0]!.cidr.split("/")[0]! })),
  );
  const from = pods[0]!;
  const to = pods.find((p) => p.host !== from.host)!;
  assert.ok(to, "YAO Bank's pods all run on one node");
  const seen = await captureWhile(kept.cluster, "udp and not port 179", async () => {
    const ping = await k.run(from.name, ["ping", "-c", "1", "-W", "5", to.ip]);
    assert.equal(ping.code, 0, `${from.name} → ${to.name} ${to.ip}: ${ping.stdout}${ping.stderr}`);
  });
  assert.match(seen, /^\S+ IP 198\.19\.\d+\.\d+\.51820 > 198\.19\.\d+\.\d+\.51820: UDP, length \d+$/m);
  // Last, so the kernel's own checks above report first.
  assert.deepEqual(
    r.divergences,
    [],
    r.divergences.map((d) => `${d.where} ${d.what}: sim ${d.sim} / linux ${d.linux}`).join("\n"),
  );
});
