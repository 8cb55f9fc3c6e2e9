/**
 * Seed 002's "Introduction to Encryption" typed line by line on the seed's lab (`tortie up --app yaobank`):
 * the FelixConfiguration patch that enables WireGuard, `calicoctl get node node1 -o yaml` with the node's
 * interface address and public key, `ip addr | grep wireguard` on node1, then the patch that disables it and the
 * node without either.
 *
 * Where tortie's values differ from the seed's, the shape is asserted: the lab's default pool has no IPIP, so no
 * `ipv4IPIPTunnelAddr`; the lab's uplinks have MTU 1500, so Felix's device gets 1500 − 60 = 1440 (the seed's
 * cloud hosts had a smaller one).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlKinds, wireguardKeyPair } from "../../src/control/index.ts";
import { CliHarness } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

before(async () => {
  const up = await h.run("up --app yaobank");
  assert.equal(up.code, 0, up.err);
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

/** The seed's `spec:`/`status:` tail of `calicoctl get node node1 -o yaml` (lines 866–875), tortie's values. */
function specAndStatus(yaml: string): string {
  return yaml.slice(yaml.indexOf("\nspec:\n") + 1);
}

test("seed 002: enable WireGuard, the node's key and interface address, wireguard.cali on node1, disable", async () => {
  assert.equal(
    await ok(
      `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
    ),
    "Successfully patched 1 'FelixConfiguration' resource\n",
  );
  const node1 = (await h.store().get(controlKinds.CalicoNode, "node1"))!;
  const address: string = node1.spec.wireguard.interfaceIPv4Address;
  assert.match(address, /^198\.19\.(1[6-9]|2[0-3])\.\d+$/, "an address of the default pool");
  const key = wireguardKeyPair(node1.metadata.uid!).publicKey;

  const on = await ok("calicoctl get node node1 -o yaml");
  assert.match(on, /^apiVersion: projectcalico\.org\/v3\nkind: Node\nmetadata:\n/);
  assert.match(
    specAndStatus(on),
    new RegExp(
      `  bgp:\\n    ipv4Address: 198\\.19\\.0\\.2/20\\n  orchRefs:\\n  - nodeName: node1\\n    orchestrator: k8s\\n` +
        `  wireguard:\\n    interfaceIPv4Address: ${address.replace(/\./g, "\\.")}\\nstatus:\\n` +
        `(?:  podCIDRs:\\n(?:  - .*\\n)+)?  wireguardPublicKey: ${key.replace(/[+/]/g, "\\$&")}\\n$`,
    ),
  );

  // On node1 (the seed SSHes in): the device Felix made, its /32 as netlink adds it (broadcast = the address).
  const shown = await ok("shell node1", "ip addr | grep wireguard");
  assert.match(
    shown,
    new RegExp(
      `^\\d+: wireguard\\.cali: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1440 qdisc noqueue state UNKNOWN group default qlen 1000\\n` +
        `    inet ${address.replace(/\./g, "\\.")}/32 brd ${address.replace(/\./g, "\\.")} scope global wireguard\\.cali\\n$`,
    ),
  );

  assert.equal(
    await ok(
      `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":false}}'`,
    ),
    "Successfully patched 1 'FelixConfiguration' resource\n",
  );
  const off = await ok("calicoctl get node node1 -o yaml");
  assert.doesNotMatch(off, /wireguard/);
  assert.match(
    specAndStatus(off),
    /^spec:\n(?:.*\n)* {2}bgp:\n {4}ipv4Address: 198\.19\.0\.2\/20\n {2}orchRefs:\n {2}- nodeName: node1\n {4}orchestrator: k8s\n/,
  );
  assert.doesNotMatch(await ok(`calicoctl ipam show --ip=${address}`), /is in use/);
  // grep finds nothing: no output, exit status 1.
  assert.deepEqual(await h.run("shell node1", "ip addr | grep wireguard"), { code: 1, out: "", err: "" });
});
