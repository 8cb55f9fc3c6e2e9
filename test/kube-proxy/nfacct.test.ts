/**
 * kube-proxy names its nfacct counters only when its nfacct runner could ensure them: with `nfacct: false`
 * (the kernel probe failed) the payload carries no `-m nfacct` match, the INVALID drop rule loses its counter
 * and the `-d 127.0.0.0/8` NodePort rule is left out (pkg/proxy/iptables/proxier.go). The last test loads
 * both payloads into a fresh namespace holding no nfacct objects: only the nfacct-free one is accepted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyServicePort,
} from "../../src/render/index.ts";
import { kernelUnavailable, run } from "../kernel/kernel-run.ts";

const node = { nodeName: "node-1", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" };

/** A NodePort service with one ready endpoint: the shape that gets the localhost NodePort rule. */
function nodePortService(name: string, clusterIP: string, nodePort: number): ProxyServicePort {
  return {
    namespace: "default",
    name,
    portName: "http",
    protocol: "TCP",
    port: 80,
    clusterIP,
    nodePort,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalPolicyLocal: false,
    internalPolicyLocal: false,
    healthCheckNodePort: 0,
    affinityTimeoutSeconds: undefined,
    endpoints: [
      { ip: "10.1.0.5", port: 8080, isLocal: false, ready: true, serving: true, terminating: false },
    ],
  };
}

const services = [nodePortService("web", "172.30.0.10", 30080), nodePortService("api", "172.30.0.11", 30081)];

function render(nfacct: boolean | undefined) {
  const config =
    nfacct === undefined ? kubeProxyIptablesConfig(node) : kubeProxyIptablesConfig(node, { nfacct });
  return new KubeProxyIptablesSyncer(config).sync(services).restore;
}

test("nfacct defaults to on: both counters named, as in the upstream golden tests", () => {
  const config = kubeProxyIptablesConfig(node);
  assert.deepEqual(config.nfacct, { ctStateInvalidDroppedPkts: true, localhostNodePortsAcceptedPkts: true });
  const text = render(undefined);
  assert.equal(text, render(true));
  assert.match(
    text,
    /-m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP/,
  );
  assert.equal(text.match(/--nfacct-name localhost_nps_accepted_pkts/g)?.length, services.length);
});

test("nfacct false: no nfacct match anywhere, the INVALID drop kept, the localhost NodePort rules left out", () => {
  const config = kubeProxyIptablesConfig(node, { nfacct: false });
  assert.deepEqual(config.nfacct, {
    ctStateInvalidDroppedPkts: false,
    localhostNodePortsAcceptedPkts: false,
  });
  const without = render(false);
  assert.doesNotMatch(without, /nfacct/);
  assert.match(without, /^-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP$/m);
  assert.doesNotMatch(without, /127\.0\.0\.0\/8 --dport 3008/);
  // Everything else is the same payload: removing exactly those lines and that match from the default gives it.
  const expected = render(true)
    .split("\n")
    .filter((line) => !line.includes("localhost_nps_accepted_pkts"))
    .join("\n")
    .replace(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", "");
  assert.equal(without, expected);
});

test("nfacct false also holds for partial syncs, and can be given with the node identity", () => {
  const syncer = new KubeProxyIptablesSyncer(kubeProxyIptablesConfig({ ...node, nfacct: false }));
  syncer.sync(services);
  const changed = [nodePortService("web", "172.30.0.10", 30090), services[1]!];
  const partial = syncer.sync(changed);
  assert.equal(partial.full, false);
  assert.match(partial.restore, /--dport 30090 -j KUBE-EXT-/);
  assert.doesNotMatch(partial.restore, /nfacct/);
});

test("per-counter settings and overrides: the override wins over the identity's boolean", () => {
  const mixed = kubeProxyIptablesConfig(node, {
    nfacct: { ctStateInvalidDroppedPkts: false, localhostNodePortsAcceptedPkts: true },
  });
  assert.deepEqual(mixed.nfacct, { ctStateInvalidDroppedPkts: false, localhostNodePortsAcceptedPkts: true });
  assert.equal(
    kubeProxyIptablesConfig({ ...node, nfacct: false }, { nfacct: true }).nfacct.ctStateInvalidDroppedPkts,
    true,
  );
});

test("kernel: a fresh namespace without nfacct objects refuses the counted payload and loads the other", async (t) => {
  const why = kernelUnavailable();
  if (why) return t.skip(`needs root and the kernel's iptables in a namespace (${why})`);
  const ns = `tt-nfacct-${process.pid}`;
  try {
    const add = await run("ip", ["netns", "add", ns]);
    assert.equal(add.code, 0, add.err);
    const restore = (payload: string) =>
      run("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: payload });
    const counted = await restore(render(true));
    assert.notEqual(counted.code, 0, "the kernel accepted -m nfacct for counters that do not exist");
    // The first nfacct match is the INVALID drop rule in KUBE-FORWARD (the "refused at line 9").
    assert.match(counted.err, /RULE_APPEND failed .*KUBE-FORWARD/);
    const plain = await restore(render(false));
    assert.equal(plain.code, 0, plain.err);
    const saved = await run("ip", ["netns", "exec", ns, "iptables-save", "-t", "nat"]);
    assert.match(saved.out, /--dport 30080 -j KUBE-EXT-/);
  } finally {
    await run("ip", ["netns", "del", ns]);
  }
});
