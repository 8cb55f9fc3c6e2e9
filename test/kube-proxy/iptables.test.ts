import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import { cidrContainsIp, parseCidr, parseIp } from "../../src/net/index.ts";
import {
  buildServicePorts,
  endpointChainName,
  hashAndTruncate,
  type KubeProxyIptablesConfig,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  renderIptablesSync,
  serviceChainNames,
} from "../../src/render/index.ts";
import { tracePacket } from "./packet-tracer.ts";
import { canonicalRestore, parseRestore } from "./restore-text.ts";

// Vectors copied from kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go (see test/fixtures/README.md).
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../fixtures/kube-proxy/${name}`, import.meta.url), "utf8"));

interface Golden {
  services: ApiObject[];
  endpointSlices: ApiObject[];
  expected_filter: string;
  expected_nat: string;
}

/** The upstream fake proxier: node test-node / 192.168.0.2, pod CIDR 10.0.0.0/8, mark 0x4000, no --random-fully. */
function upstreamConfig(overrides: Partial<KubeProxyIptablesConfig> = {}): KubeProxyIptablesConfig {
  return kubeProxyIptablesConfig(
    { nodeName: "test-node", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" },
    { masqueradeMark: "0x4000", randomFully: false, ...overrides },
  );
}

function ports(g: { services: ApiObject[]; endpointSlices: ApiObject[] }) {
  return buildServicePorts(g.services, g.endpointSlices, "test-node", 4);
}

function assertSameRules(actual: string, g: Golden, label: string) {
  const canon = canonicalRestore(actual);
  assert.equal(canon.filter, g.expected_filter, `${label}: filter`);
  assert.equal(canon.nat, g.expected_nat, `${label}: nat`);
}

test("chain names reproduce every known answer (seed lab, upstream tests, nftables)", () => {
  const answers = fixture("chain_hash_known_answers.json");
  for (const a of [...answers.seed_lab_examples, ...answers.upstream_test_examples]) {
    const name = a.endpoint
      ? endpointChainName(a.servicePortName, a.protocol, a.endpoint)
      : serviceChainNames(a.servicePortName, a.protocol).cluster;
    assert.equal(
      name.replace(/^KUBE-(SVC|SEP)-/, ""),
      a.expected.replace(/^KUBE-(SVC|SEP|SVL|EXT|FW)-/, ""),
      a.hashed_string,
    );
  }
  for (const a of answers.nftables_examples) assert.equal(hashAndTruncate(a.name), a.expected);
  assert.equal(serviceChainNames("yaobank/summary:http", "TCP").cluster, "KUBE-SVC-OIQIZJVJK6E34BR4");
});

test("TestOverallIPTablesRules: a full sync equals upstream's golden filter and nat tables", () => {
  const g: Golden = fixture("01_TestOverallIPTablesRules.json");
  const syncer = new KubeProxyIptablesSyncer(upstreamConfig());
  assertSameRules(syncer.sync(ports(g)).restore, g, "overall");
});

test("TestSyncProxyRulesRepeated: full then partial syncs rewrite only changed services' chains", () => {
  const step1: Golden = fixture("02_SyncProxyRulesRepeated_step1_full.json");
  const step3: Golden = fixture("03_SyncProxyRulesRepeated_step3_delete_service.json");
  const step4: Golden = fixture("04_SyncProxyRulesRepeated_step4_no_endpoints.json");
  const step6: Golden = fixture("05_SyncProxyRulesRepeated_step6_endpoint_changed.json");
  const step7: Golden = fixture("06_SyncProxyRulesRepeated_step7_two_endpoints.json");
  const svc = (g: Golden, name: string) => g.services.find((s) => s.metadata.name === name)!;
  const slice = (g: Golden, name: string) => g.endpointSlices.find((s) => s.metadata.name === name)!;
  // Steps 2 and 5 have no golden file; they are rebuilt from the neighbouring steps' objects.
  const step2 = {
    services: [...step1.services, svc(step3, "svc3")],
    endpointSlices: [...step1.endpointSlices, slice(step3, "svc3-1")],
  };
  const step5 = {
    services: step4.services,
    endpointSlices: [...step4.endpointSlices, slice(step6, "svc4-1")],
  };

  const syncer = new KubeProxyIptablesSyncer(upstreamConfig());
  const r1 = syncer.sync(ports(step1));
  assert.equal(r1.full, true);
  assertSameRules(r1.restore, step1, "step 1");
  const r2 = syncer.sync(ports(step2));
  assert.deepEqual(r2.changedServices, ["ns3/svc3"]);
  assertSameRules(syncer.sync(ports(step3)).restore, step3, "step 3");
  assertSameRules(syncer.sync(ports(step4)).restore, step4, "step 4");
  syncer.sync(ports(step5));
  assertSameRules(syncer.sync(ports(step6)).restore, step6, "step 6");
  assertSameRules(syncer.sync(ports(step7)).restore, step7, "step 7");

  // Step 8: nothing changed, so only the top-level chains are written.
  const r8 = syncer.sync(ports(step7));
  assert.deepEqual(r8.changedServices, []);
  const nat = parseRestore(r8.restore).find((t) => t.name === "nat")!;
  assert.deepEqual(nat.chains, ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]);

  // A forced full sync writes every active chain again.
  const full = syncer.sync(ports(step7), { full: true });
  assert.equal(full.full, true);
  assert.ok(full.writtenNatChains.has(serviceChainNames("ns3/svc3:p80", "tcp").cluster));
});

const packetFlows = fixture("packet_flow_vectors.json");
const localIPs: string[] = packetFlows.proxier_defaults.nodeLocalIPs_for_packet_tests;

for (const t of packetFlows.tests) {
  test(`packet flows: ${t.test}`, () => {
    const o = t.proxier_overrides ?? {};
    const overrides: Partial<KubeProxyIptablesConfig> = {};
    if (o.localhostNodePorts !== undefined) overrides.localhostNodePorts = o.localhostNodePorts;
    if (o.masqueradeAll !== undefined) overrides.masqueradeAll = o.masqueradeAll;
    if (o.localDetector === false) overrides.clusterCIDR = undefined;
    if (o.nodePortAddresses) {
      // --nodeport-addresses CIDRs resolve to this node's IPv4 addresses inside them.
      const cidrs = (o.nodePortAddresses as string[]).map((c) => parseCidr(c)!);
      overrides.nodePortIPs = localIPs.filter((ip) => {
        const a = parseIp(ip)!;
        return a.family === 4 && cidrs.some((c) => c.family === 4 && cidrContainsIp(c, a));
      });
    }
    const { restore } = renderIptablesSync({
      config: upstreamConfig(overrides),
      servicePorts: ports(t),
      changedServices: undefined,
      staleCandidates: [],
    });
    if (t["expect_KUBE-FIREWALL_chain_rule"] !== undefined)
      assert.equal(restore.includes("-A KUBE-FIREWALL"), t["expect_KUBE-FIREWALL_chain_rule"]);
    for (const f of t.flows) {
      const got = tracePacket(restore, localIPs, f);
      assert.deepEqual(got, { output: f.output, masq: f.masq }, `${t.test}: ${f.name}`);
    }
  });
}

test("the tracer can fail: a wrong endpoint port is noticed", () => {
  const t = packetFlows.tests[0];
  const { restore } = renderIptablesSync({
    config: upstreamConfig(),
    servicePorts: ports(t),
    changedServices: undefined,
    staleCandidates: [],
  });
  const broken = restore.replace("--to-destination 10.180.0.1:80", "--to-destination 10.180.0.1:81");
  const f = t.flows[0];
  assert.notEqual(tracePacket(broken, localIPs, f).output, f.output);
});
