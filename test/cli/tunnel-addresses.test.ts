/**
 * calico-node's tunnel addresses and Felix's WireGuard status through the CLI: an IPIP pool gives every cluster
 * node `spec.bgp.ipv4IPIPTunnelAddr`, a VXLAN pool `spec.ipv4VXLANTunnelAddr`, WireGuard on gives each node its
 * public key and `spec.wireguard.interfaceIPv4Address`; each goes again (address released) when no longer needed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { controlKinds, wireguardKeyPair } from "../../src/control/index.ts";
import { Ipam } from "../../src/ipam/index.ts";
import { parseCidr } from "../../src/net/index.ts";
import { CliHarness } from "./harness.ts";

const h = new CliHarness();
after(() => h.cleanup());
before(async () => {
  const up = await h.run("up");
  assert.equal(up.code, 0, up.err);
});

async function ok(line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

async function calicoNode(name: string) {
  const n = await h.store().get(controlKinds.CalicoNode, name);
  assert.ok(n, `Calico Node ${name}`);
  return n;
}

const CLUSTER_NODES = ["control", "node1", "node2"];

function pool(name: string, cidr: string, mode: string): string {
  return `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: ${name}\nspec:\n  cidr: ${cidr}\n  ${mode}\n  natOutgoing: true\n`;
}

async function ipamClean(): Promise<void> {
  assert.match(await ok("calicoctl ipam check"), /Check complete; found 0 problems\./);
}

test("the plain lab has no tunnel addresses and no public keys", async () => {
  for (const name of CLUSTER_NODES) {
    const n = await calicoNode(name);
    assert.equal(n.spec.bgp?.ipv4IPIPTunnelAddr, undefined);
    assert.equal(n.spec.ipv4VXLANTunnelAddr, undefined);
    assert.equal(n.spec.wireguard, undefined);
    assert.equal(n.status?.wireguardPublicKey, undefined);
  }
});

test("an IPIP pool gives each node an IPIP tunnel address with Calico's handle and attributes; removing it releases them", async () => {
  await ok("calicoctl apply -f -", pool("ipip-pool", "198.19.40.0/24", "ipipMode: Always"));
  const seen = new Set<string>();
  for (const name of CLUSTER_NODES) {
    const ip = (await calicoNode(name)).spec.bgp?.ipv4IPIPTunnelAddr;
    assert.ok(ip, `${name} has an IPIP tunnel address`);
    seen.add(ip);
    const shown = await ok(`calicoctl ipam show --ip=${ip}`);
    assert.match(shown, new RegExp(`IP ${ip.replace(/\./g, "\\.")} is in use`));
    assert.match(shown, new RegExp(`Attributes:\n {2}node: ${name}\n {2}type: ipipTunnelAddress\n`));
    const handle = await h.store().get(controlKinds.IPAMHandle, `ipip-tunnel-addr-${name}`);
    assert.ok(handle, `IPAM handle ipip-tunnel-addr-${name}`);
  }
  assert.equal(seen.size, 3, "three distinct addresses");
  await ipamClean();
  await ok("calicoctl delete ippool ipip-pool");
  for (const name of CLUSTER_NODES)
    assert.equal((await calicoNode(name)).spec.bgp?.ipv4IPIPTunnelAddr, undefined);
  for (const ip of seen) assert.doesNotMatch(await ok(`calicoctl ipam show --ip=${ip}`), /is in use/);
  await ipamClean();
});

test("a VXLAN CrossSubnet pool gives each node a VXLAN tunnel address (and no MAC: Felix derives it)", async () => {
  await ok("calicoctl apply -f -", pool("vxlan-pool", "198.19.48.0/24", "vxlanMode: CrossSubnet"));
  for (const name of CLUSTER_NODES) {
    const n = await calicoNode(name);
    assert.match(String(n.spec.ipv4VXLANTunnelAddr), /^198\.19\.48\.\d+$/);
    assert.equal(n.spec.vxlanTunnelMACAddr, undefined);
  }
  await ipamClean();
  await ok("calicoctl delete ippool vxlan-pool");
  for (const name of CLUSTER_NODES)
    assert.equal((await calicoNode(name)).spec.ipv4VXLANTunnelAddr, undefined);
  await ipamClean();
});

test("wireguardEnabled: public keys and interface addresses appear, then go with the address released", async () => {
  await ok(
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":true}}'`,
  );
  const addresses: string[] = [];
  for (const name of CLUSTER_NODES) {
    const n = await calicoNode(name);
    assert.equal(n.status?.wireguardPublicKey, wireguardKeyPair(n.metadata.uid!).publicKey);
    const ip = n.spec.wireguard?.interfaceIPv4Address;
    assert.ok(ip, `${name} has a WireGuard interface address`);
    addresses.push(ip);
    assert.match(await ok(`calicoctl ipam show --ip=${ip}`), /type: wireguardTunnelAddress/);
  }
  const yaml = await ok("calicoctl get node node1 -o yaml");
  assert.match(yaml, /\n {2}wireguard:\n {4}interfaceIPv4Address: \d+\.\d+\.\d+\.\d+\n/);
  assert.match(yaml, /\n {2}wireguardPublicKey: [A-Za-z0-9+/]{43}=\n/);
  await ipamClean();
  await ok(
    `calicoctl patch felixconfiguration default --type='merge' -p '{"spec":{"wireguardEnabled":false}}'`,
  );
  for (const name of CLUSTER_NODES) {
    const n = await calicoNode(name);
    assert.equal(n.status?.wireguardPublicKey, undefined);
    assert.equal(n.spec.wireguard, undefined);
  }
  const after = await ok("calicoctl get node node1 -o yaml");
  assert.doesNotMatch(after, /wireguard/);
  for (const ip of addresses) assert.doesNotMatch(await ok(`calicoctl ipam show --ip=${ip}`), /is in use/);
  await ipamClean();
});

test("crash safety: an address the handle already holds (a pass killed before the Node write) is the one used", async () => {
  const ipam = new Ipam(h.store().backend, { now: () => h.now });
  // What a killed pass leaves: the IPIP pool and the address under node1's handle, node1 not yet updated.
  await ok("calicoctl apply -f -", pool("ipip-crash", "198.19.56.0/24", "ipipMode: Always"));
  const held = (await h.store().get(controlKinds.CalicoNode, "node1"))!.spec.bgp.ipv4IPIPTunnelAddr as string;
  await ok("calicoctl delete ippool ipip-crash");
  await ok("calicoctl apply -f -", pool("ipip-crash", "198.19.56.0/24", "ipipMode: Never"));
  const r = await ipam.autoAssign({
    num4: 1,
    handleId: "ipip-tunnel-addr-node1",
    attrs: { node: "node1", type: "ipipTunnelAddress" },
    hostname: "node1",
    intendedUse: "Tunnel",
    ipv4Pools: [parseCidr("198.19.56.0/24")!],
  });
  const orphan = r.v4!.ips[0]!;
  assert.equal((await calicoNode("node1")).spec.bgp?.ipv4IPIPTunnelAddr, undefined);
  // The next write's reconcile: the pool is not IPIP, so the handle's address is released, not leaked.
  await ok(`calicoctl patch ippool ipip-crash -p '{"spec":{"natOutgoing":false}}'`);
  assert.doesNotMatch(await ok(`calicoctl ipam show --ip=${orphan}`), /is in use/);
  // Killed again, this time with the pool in IPIP mode: the held address becomes node1's, none other is taken.
  const again = await ipam.autoAssign({
    num4: 1,
    handleId: "ipip-tunnel-addr-node1",
    attrs: { node: "node1", type: "ipipTunnelAddress" },
    hostname: "node1",
    intendedUse: "Tunnel",
    ipv4Pools: [parseCidr("198.19.56.0/24")!],
  });
  const kept = again.v4!.ips[0]!;
  await ok(`calicoctl patch ippool ipip-crash -p '{"spec":{"ipipMode":"Always"}}'`);
  assert.equal((await calicoNode("node1")).spec.bgp.ipv4IPIPTunnelAddr, kept);
  assert.deepEqual(await ipam.ipsByHandle("ipip-tunnel-addr-node1"), [kept]);
  assert.ok(held.startsWith("198.19.56."));
  await ipamClean();
  await ok("calicoctl delete ippool ipip-crash");
  await ipamClean();
});
