/**
 * Felix's host endpoint chains as rendered (filter, mangle pre-DNAT, raw doNotTrack), their origins, and a golden of
 * node1's tables on the lab after seed 002's nodeport-policy.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { Kernel } from "../../src/dataplane/sim/index.ts";
import { buildPolicyModel } from "../../src/policy/index.ts";
import {
  ALL_INTERFACES,
  type FelixIptables,
  renderFelixIptables,
  resolveHostEndpoints,
} from "../../src/render/index.ts";
import { assertGolden, CliHarness, fixture } from "../cli/harness.ts";
import {
  NODEPORT_ALLOW_HOST1,
  DEFAULT_NODE_POLICY as SEED_DEFAULT_NODE_POLICY,
} from "../policy/seed-manifests.ts";

const hep = (
  name: string,
  spec: Record<string, unknown>,
  labels: Record<string, string> = {},
): ApiObject => ({
  apiVersion: "projectcalico.org/v3",
  kind: "HostEndpoint",
  metadata: { name, labels },
  spec,
});

const gnp = (name: string, spec: Record<string, unknown>): ApiObject => ({
  apiVersion: "projectcalico.org/v3",
  kind: "GlobalNetworkPolicy",
  metadata: { name },
  spec,
});

const NODE_LABELS = { "kubernetes.io/hostname": "node1" };

const NODEPORT_POLICY = gnp("nodeport-policy", {
  order: 100,
  selector: "has(kubernetes.io/hostname)",
  applyOnForward: true,
  preDNAT: true,
  ingress: [
    {
      action: "Allow",
      protocol: "TCP",
      destination: { ports: [30180] },
      source: { nets: ["198.19.15.254/32"] },
    },
    { action: "Deny", protocol: "TCP", destination: { ports: ["30000:32767"] } },
  ],
});

const DEFAULT_NODE_POLICY = gnp("default-node-policy", {
  selector: "has(kubernetes.io/hostname)",
  ingress: [{ action: "Allow", protocol: "TCP", source: { nets: ["127.0.0.1/32"] } }],
});

function render(objects: ApiObject[]): FelixIptables {
  return renderFelixIptables({
    model: buildPolicyModel(objects),
    node: "node1",
    masqueradePools: [],
    allPools: [],
    interfaces: [
      { name: "lo", ips: ["127.0.0.1"] },
      { name: "ens4", ips: ["198.19.0.2"] },
    ],
  });
}

/** The rules of one chain in one table of a restore payload, in order (the text after `-A <chain> `). */
function chainRules(restore: string, table: string, chain: string): string[] {
  const section = restore.split(/^COMMIT$/m).find((s) => s.includes(`*${table}\n`)) ?? "";
  return section
    .split("\n")
    .filter((l) => l.startsWith(`-A ${chain} `))
    .map((l) => l.slice(`-A ${chain} `.length));
}

test("host endpoints are matched to interfaces as endpoint_mgr.go does: a name, else an expected IP; lowest name wins", () => {
  const model = buildPolicyModel([
    hep("b-by-ip", { node: "node1", expectedIPs: ["198.19.0.2"] }),
    hep("c-by-name", { node: "node1", interfaceName: "ens4" }),
    hep("z-all", { node: "node1", interfaceName: "*" }),
    hep("a-all", { node: "node1", interfaceName: "*" }),
    hep("other-node", { node: "node2", interfaceName: "ens4" }),
  ]);
  const byIface = resolveHostEndpoints(model, "node1", [
    { name: "lo", ips: ["127.0.0.1"] },
    { name: "ens4", ips: ["198.19.0.2"] },
  ]);
  assert.deepEqual(
    [...byIface].map(([iface, e]) => [iface, e.name]),
    [
      ["ens4", "b-by-ip"],
      [ALL_INTERFACES, "a-all"],
    ],
  );
});

test("pre-DNAT policy goes to mangle only, without end-of-tier drop or profiles; normal policy to filter with both", () => {
  const f = render([
    hep(
      "node1-auto-hep",
      { node: "node1", interfaceName: "*", profiles: ["projectcalico-default-allow"] },
      NODE_LABELS,
    ),
    NODEPORT_POLICY,
    DEFAULT_NODE_POLICY,
  ]);
  const star = "cali-fh-any-interface-at-all";
  assert.deepEqual(chainRules(f.restore, "mangle", star), [
    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-m conntrack --ctstate INVALID -j DROP",
    "-j cali-failsafe-in",
    "-j MARK --set-xmark 0x0/0x30000",
    '-m comment --comment "Start of tier default" -j MARK --set-xmark 0x0/0x20000',
    "-m mark --mark 0x0/0x20000 -j cali-pi-gnp/nodeport-policy",
    '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
  ]);
  assert.deepEqual(chainRules(f.restore, "mangle", "cali-from-host-endpoint"), [`-g ${star}`]);
  assert.deepEqual(chainRules(f.restore, "filter", star), [
    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-m conntrack --ctstate INVALID -j DROP",
    "-j cali-failsafe-in",
    "-j MARK --set-xmark 0x0/0x30000",
    '-m comment --comment "Start of tier default" -j MARK --set-xmark 0x0/0x20000',
    "-m mark --mark 0x0/0x20000 -j cali-pi-_meMlmgyKs4EzN8n3VUN",
    '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
    '-m comment --comment "End of tier default. Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP',
    "-j cali-pri-_TI1Jm4dJqQzYb0Rx3u",
    '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
    '-m comment --comment "Drop if no profiles matched" -j DROP',
  ]);
  // The pre-DNAT policy is not in filter; forward chains with no applyOnForward policy allow by default.
  assert.doesNotMatch(f.restore.split("*filter")[1]!, /nodeport-policy/);
  assert.deepEqual(chainRules(f.restore, "filter", "cali-fhfw-_Nqh4HyA73udmyanQI"), [
    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-m conntrack --ctstate INVALID -j DROP",
    "-j MARK --set-xmark 0x0/0x30000",
    '-m comment --comment "Allow forwarded traffic by default" -j MARK --set-xmark 0x10000/0x10000',
    '-m comment --comment "Return for accepted forward traffic" -j RETURN',
  ]);
  // The `*` endpoint is the dispatch chains' default; filter egress dispatch does not skip workloads, mangle's does.
  assert.deepEqual(chainRules(f.restore, "filter", "cali-to-host-endpoint"), [
    "-g cali-th-any-interface-at-all",
  ]);
  assert.deepEqual(chainRules(f.restore, "mangle", "cali-to-host-endpoint"), [
    '-o cali+ -m comment --comment "Skip egress WHEP policy for traffic to local workload" -j RETURN',
    "-g cali-th-any-interface-at-all",
  ]);

  // Origins name the policy rule, the end of tier, the profile, and the failsafe port behind each deciding rule.
  assert.deepEqual(f.origins.mangle["cali-pi-gnp/nodeport-policy"], {
    1: {
      kind: "policy",
      tier: "default",
      policy: "nodeport-policy",
      policyKind: "GlobalNetworkPolicy",
      ruleIndex: 0,
      direction: "ingress",
      action: "allow",
    },
    3: {
      kind: "policy",
      tier: "default",
      policy: "nodeport-policy",
      policyKind: "GlobalNetworkPolicy",
      ruleIndex: 1,
      direction: "ingress",
      action: "deny",
    },
  });
  assert.deepEqual(f.origins.filter[star], {
    8: {
      kind: "end-of-tier",
      tier: "default",
      direction: "ingress",
      action: "deny",
      endpoint: "node1-auto-hep",
    },
    11: { kind: "no-profile", direction: "ingress", action: "deny", endpoint: "node1-auto-hep" },
  });
  assert.deepEqual(f.origins.filter["cali-pri-_TI1Jm4dJqQzYb0Rx3u"]?.[1], {
    kind: "profile",
    policy: "projectcalico-default-allow",
    policyKind: "Profile",
    ruleIndex: 0,
    direction: "ingress",
    action: "allow",
  });
  assert.deepEqual(f.origins.filter["cali-failsafe-in"]?.[1], {
    kind: "failsafe",
    direction: "ingress",
    action: "allow",
  });
  assert.deepEqual(f.origins.filter["cali-wl-to-host"], {
    2: { kind: "default-action", direction: "egress", action: "deny" },
  });
  assert.equal(
    chainRules(f.restore, "filter", "cali-wl-to-host")[1],
    '-m comment --comment "Configured DefaultEndpointToHostAction" -j DROP',
  );
  // Structural rules have no origin.
  assert.equal(f.origins.filter["cali-INPUT"], undefined);

  // The whole payload loads into an emulated kernel.
  const k = new Kernel("node1");
  k.ipsets.restore(f.ipsets);
  k.netfilter.restore(f.restore, { noflush: true });
});

test("doNotTrack goes to raw with NOTRACK for named host endpoints; a `*` endpoint's is ignored and reported", () => {
  const untracked = gnp("untracked", {
    selector: "has(kubernetes.io/hostname)",
    doNotTrack: true,
    applyOnForward: true,
    ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [10250] } }],
    egress: [{ action: "Deny", protocol: "UDP" }],
  });
  const named = render([hep("node1-ens4", { node: "node1", interfaceName: "ens4" }, NODE_LABELS), untracked]);
  assert.deepEqual(chainRules(named.restore, "raw", "cali-fh-ens4"), [
    "-j cali-failsafe-in",
    "-j MARK --set-xmark 0x0/0x30000",
    '-m comment --comment "Start of tier default" -j MARK --set-xmark 0x0/0x20000',
    "-m mark --mark 0x0/0x20000 -j cali-pi-gnp/untracked",
    "-m mark --mark 0x10000/0x10000 -j NOTRACK",
    '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN',
  ]);
  assert.deepEqual(chainRules(named.restore, "raw", "cali-po-gnp/untracked"), ["-p udp -j DROP"]);
  assert.deepEqual(chainRules(named.restore, "raw", "cali-from-host-endpoint"), ["-i ens4 -g cali-fh-ens4"]);
  // Raw failsafes also let replies from the other direction's ports through.
  assert.ok(
    chainRules(named.restore, "raw", "cali-failsafe-in").includes(
      "-p udp -m multiport --sports 53 -j ACCEPT",
    ),
  );
  assert.deepEqual(named.unsupported, []);

  const all = render([hep("node1-auto-hep", { node: "node1", interfaceName: "*" }, NODE_LABELS), untracked]);
  assert.deepEqual(chainRules(all.restore, "raw", "cali-from-host-endpoint"), []);
  // Felix ignores it with a warning: a fact about Calico, not a gap of the sim's.
  assert.deepEqual(all.unsupported, []);
  assert.deepEqual(all.warnings, [
    'hostendpoint node1-auto-hep: doNotTrack policy is not supported for a host endpoint with interfaceName "*"; Felix ignores it, and so does the sim',
  ]);
});

test("failsafe ports come from FelixConfiguration, with their CIDRs", () => {
  const f = render([
    {
      apiVersion: "projectcalico.org/v3",
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: {
        failsafeInboundHostPorts: [{ protocol: "TCP", port: 22, net: "10.0.0.0/8" }],
        failsafeOutboundHostPorts: [{ protocol: "UDP", port: 53 }],
      },
    },
  ]);
  assert.deepEqual(chainRules(f.restore, "filter", "cali-failsafe-in"), [
    "-p tcp -s 10.0.0.0/8 -m multiport --dports 22 -j ACCEPT",
  ]);
  assert.deepEqual(chainRules(f.restore, "filter", "cali-failsafe-out"), [
    "-p udp -m multiport --dports 53 -j ACCEPT",
  ]);
  assert.deepEqual(chainRules(f.restore, "raw", "cali-failsafe-out"), [
    "-p udp -m multiport --dports 53 -j ACCEPT",
    "-p tcp -d 10.0.0.0/8 -m multiport --sports 22 -j ACCEPT",
  ]);
});

const h = new CliHarness();
after(() => h.cleanup());

test("golden: node1's mangle table and filter host endpoint chains after seed 002's nodeport-policy", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  assert.equal(
    (await h.run("calicoctl apply -f -", SEED_DEFAULT_NODE_POLICY + NODEPORT_ALLOW_HOST1)).code,
    0,
  );
  const patch = await h.run(
    `calicoctl patch kubecontrollersconfiguration default --patch='{"spec": {"controllers": {"node": {"hostEndpoint": {"autoCreate": "Enabled"}}}}}'`,
  );
  assert.equal(patch.code, 0, patch.err);
  const mangle = await h.run("exec node1 -- iptables-save -t mangle");
  assert.equal(mangle.code, 0, mangle.err);
  assertGolden("sim-node1-iptables-save-mangle-hep.txt", mangle.out);
  const filter = await h.run("exec node1 -- iptables-save -t filter");
  // Felix's top-level chains, the host endpoint chains and default-node-policy's chain, and Felix's built-in rules.
  const hepChain =
    /^(:|-A )cali-(INPUT|OUTPUT|FORWARD|failsafe-\S+|fh-\S+|th-\S+|fhfw-\S+|thfw-\S+|from-host-endpoint|to-host-endpoint|from-hep-forward|to-hep-forward|pi-_meMlmgyKs4EzN8n3VUN) /;
  const builtin = /^-A (INPUT|OUTPUT|FORWARD) .*cali:/;
  assertGolden(
    "sim-node1-filter-hep-chains.txt",
    `${filter.out
      .split("\n")
      .filter((l) => hepChain.test(l) || builtin.test(l))
      .join("\n")}\n`,
  );
});
