import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness, fixture } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

test("tortie up --proxy-mode nftables: the lab works through table ip kube-proxy", async () => {
  const up = await h.run("up --proxy-mode nftables");
  assert.equal(up.code, 0, up.err);
  assert.match((await h.run("status")).out, /^kube-proxy: nftables mode$/m);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);

  // node1's ruleset as the kernel's nft 1.0.6 listed the same script (test/fixtures/nft/README.md).
  const kernel = readFileSync(new URL("../fixtures/nft/lab-node1.kernel.txt", import.meta.url), "utf8");
  assert.equal((await h.run("exec node1 -- nft list ruleset")).out, kernel);

  const page = await h.run("exec host1 -- curl 198.19.0.1:30180");
  assert.equal(page.code, 0, page.err);
  assert.match(page.out, /<h1>Welcome to YAO Bank<\/h1>/);
  assert.match(page.out, /Balance: 2389.45/);

  const pods = await h.store().list(controlKinds.Pod, "yaobank");
  const customer = pods.map((p) => p.metadata.name!).find((n) => n.startsWith("customer"))!;
  const db = await h.run(
    `kubectl exec ${customer} -n yaobank -- curl http://database:2379/v2/keys?recursive=true`,
  );
  assert.equal(db.code, 0, db.err);
  assert.match(db.out, /Spike Curtis/);

  // A real nftables-mode node has no KUBE-* chains.
  const ipt = await h.run("exec node1 -- iptables -t nat -L KUBE-SERVICES");
  assert.equal(ipt.code, 1);
  assert.equal(ipt.err, "iptables: No chain/target/match by that name.\n");

  const ruleset = await h.run("exec control -- nft list ruleset");
  assert.equal(ruleset.code, 0, ruleset.err);
  assert.match(ruleset.out, /^table ip kube-proxy \{\n\tcomment "rules for kube-proxy"\n/);
  assert.match(
    ruleset.out,
    /\tchain nat-prerouting \{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t\}/,
  );
  assert.match(
    ruleset.out,
    /\t\telements = \{ tcp \. 30180 comment "yaobank\/customer:http" : goto external-QT2TGOG7-yaobank\/customer\/tcp\/http \}\n/,
  );
  // kube-proxy writes no counter statements, so nft shows none (a real node's listing has none either).
  assert.doesNotMatch(ruleset.out, /counter/);

  const chain = await h.run("exec node1 -- nft list chain ip kube-proxy services");
  assert.equal(
    chain.out,
    "table ip kube-proxy {\n\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports\n\t}\n}\n",
  );
  // As the kernel's nft printed them for the same script (test/fixtures/nft/lab-node1.nft).
  assert.equal(
    (await h.run("exec node1 -- nft list map ip kube-proxy service-nodeports")).out,
    'table ip kube-proxy {\n\tmap service-nodeports {\n\t\ttype inet_proto . inet_service : verdict\n\t\tcomment "NodePort traffic"\n\t\telements = { tcp . 30180 comment "yaobank/customer:http" : goto external-QT2TGOG7-yaobank/customer/tcp/http }\n\t}\n}\n',
  );
  const notASet = await h.run("exec node1 -- nft list set ip kube-proxy service-ips");
  assert.equal(
    notASet.err,
    "Error: No such file or directory\nlist set ip kube-proxy service-ips\n                       ^^^^^^^^^^^\n",
  );
  const missing = await h.run("exec node1 -- nft list chain ip kube-proxy KUBE-SERVICES");
  assert.equal(missing.code, 1);
  assert.equal(
    missing.err,
    "Error: No such file or directory\nlist chain ip kube-proxy KUBE-SERVICES\n                         ^^^^^^^^^^^^^\n",
  );
});

test("nftables mode: a host-network client reaches a cluster IP; a wrong port is rejected, an unallocated IP dropped", async () => {
  const svc = await h.store().get(controlKinds.Service, "customer", "yaobank");
  const customerIP = String(svc!.spec.clusterIP);
  assert.match((await h.run(`exec node1 -- curl -s ${customerIP}`)).out, /Welcome to YAO Bank/);
  // cluster-ips-check (filter output, priority -90, after DNAT): a ClusterIP at a port no service has.
  const wrongPort = await h.run(`exec node1 -- curl --connect-timeout 2 ${customerIP}:2380`);
  assert.equal(wrongPort.code, 7, wrongPort.err);
  // …and an address of the service range no service holds.
  const unallocated = await h.run("exec node2 -- curl --connect-timeout 2 198.19.40.1:80");
  assert.equal(unallocated.code, 28, unallocated.err);
  assert.equal((await h.run("exec node1 -- nft list tables")).out, "table ip kube-proxy\n");
});

test("nftables mode: conntrack shows the node port DNAT and masquerade the nft chains chose", async () => {
  const ct = await h.run("exec control -- conntrack -L");
  assert.match(
    ct.out,
    /tcp {6}6 \d+ TIME_WAIT src=198\.19\.15\.254 dst=198\.19\.0\.1 sport=\d+ dport=30180 src=198\.19\.\d+\.\d+ dst=198\.19\.0\.1 sport=80 dport=\d+ \[ASSURED\]/,
  );
});
