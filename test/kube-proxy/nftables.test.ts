import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ApiObject } from "../../src/api/index.ts";
import {
  buildServicePorts,
  kubeProxyIptablesConfig,
  renderIptablesSync,
  renderNftables,
} from "../../src/render/index.ts";
import { parseRestore, ruleWords } from "./restore-text.ts";

const overall = JSON.parse(
  readFileSync(new URL("../fixtures/kube-proxy/01_TestOverallIPTablesRules.json", import.meta.url), "utf8"),
) as { services: ApiObject[]; endpointSlices: ApiObject[] };
const config = kubeProxyIptablesConfig(
  { nodeName: "test-node", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" },
  { masqueradeMark: "0x4000", randomFully: false },
);
const ports = buildServicePorts(overall.services, overall.endpointSlices, "test-node", 4);
const script = renderNftables({ config, serviceCIDRs: ["172.30.0.0/16"], servicePorts: ports });
const lines = script.trimEnd().split("\n");

function elements(map: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const m = new RegExp(`^add element ip kube-proxy ${map} \\{ (.+?)(?: comment "[^"]*")? : (.+) \\}$`).exec(
      l,
    );
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

test("nftables: table kube-proxy with the upstream chain names (hashAndTruncate)", () => {
  assert.equal(lines[0], 'add table ip kube-proxy { comment "rules for kube-proxy" ; }');
  assert.ok(script.includes("add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80\n"));
  assert.ok(script.includes("add chain ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80\n"));
  assert.ok(script.includes("dnat to 10.180.0.1:80"));
  assert.ok(
    script.includes("add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }"),
  );
});

test("nftables: every chain a rule or map jumps to is defined", () => {
  const defined = new Set(lines.filter((l) => l.startsWith("add chain ")).map((l) => l.split(" ")[4]));
  for (const l of lines)
    for (const m of l.matchAll(/(?:goto|jump) (\S+?)(?= |$|,)/g))
      assert.ok(defined.has(m[1]), `${m[1]} in: ${l}`);
});

test("nftables dispatch agrees with the iptables renderer on every service address and node port", () => {
  const { restore } = renderIptablesSync({
    config,
    servicePorts: ports,
    changedServices: undefined,
    staleCandidates: [],
  });
  const [filter, nat] = parseRestore(restore);
  const serviceIps = elements("service-ips");
  const noEndpoints = elements("no-endpoint-services");
  const nodePorts = elements("service-nodeports");
  const noEndpointNodePorts = elements("no-endpoint-nodeports");
  const role = (chain: string) => (chain.split("-")[0] === "KUBE" ? chain.split("-")[1]! : "");
  const nftRole = (verdict: string) => verdict.replace(/^goto /, "").split("-")[0];
  const expectRole: Record<string, string> = {
    SVC: "service",
    SVL: "local",
    EXT: "external",
    FW: "external",
  };
  let checked = 0;
  for (const r of nat!.rules.filter((x) => x.startsWith("-A KUBE-SERVICES ") && x.includes("--dport"))) {
    const w = ruleWords(r);
    const key = `${w[w.indexOf("-d") + 1]} . tcp . ${w[w.indexOf("--dport") + 1]}`;
    assert.equal(nftRole(serviceIps.get(key) ?? "?"), expectRole[role(w[w.indexOf("-j") + 1]!)], key);
    checked++;
  }
  for (const r of nat!.rules.filter(
    (x) => x.startsWith("-A KUBE-NODEPORTS ") && !x.includes("127.0.0.0/8"),
  )) {
    const w = ruleWords(r);
    assert.equal(nftRole(nodePorts.get(`tcp . ${w[w.indexOf("--dport") + 1]}`) ?? "?"), "external");
    checked++;
  }
  for (const r of filter!.rules.filter(
    (x) => / -j (REJECT|DROP)$/.test(x) && x.includes("--dport") && !x.includes("KUBE-PROXY-FIREWALL"),
  )) {
    const w = ruleWords(r);
    const verdict = r.endsWith("REJECT") ? "goto reject-chain" : "drop";
    const port = w[w.indexOf("--dport") + 1];
    const got = w.includes("-d")
      ? noEndpoints.get(`${w[w.indexOf("-d") + 1]} . tcp . ${port}`)
      : noEndpointNodePorts.get(`tcp . ${port}`);
    assert.equal(got, verdict, r);
    checked++;
  }
  assert.ok(checked >= 15, `checked ${checked}`);
  // svc5's source ranges: its LB address is filtered before DNAT.
  assert.match(
    elements("firewall-ips").get("5.6.7.8 . tcp . 80") ?? "",
    /^goto firewall-[A-Z2-7]{8}-ns5\/svc5\/tcp\/p80$/,
  );
  assert.ok(script.includes("ip saddr != { 203.0.113.0/25 } drop"));
});
