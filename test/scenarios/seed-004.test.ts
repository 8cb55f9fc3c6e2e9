/**
 * Seed 004 ("Kubernetes Services and Calico") typed line by line on the seed000 topology, where the seed runs:
 * `kubectl` lines as `tortie kubectl …`, lines typed on worker1 as `tortie exec worker1 -- …` (`sudo` included);
 * `… | grep -E summary` pipes tortie's output through grep, as the user's shell does. Each check is the shape the
 * seed shows: columns, chain names that depend only on the service (KUBE-SVC-OIQIZJVJK6E34BR4 is
 * yaobank/summary:http in every cluster), and the endpoint addresses this cluster gave its pods.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { CliHarness } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

const grep = (text: string, re: RegExp) =>
  text
    .split("\n")
    .filter((l) => re.test(l))
    .join("\n");

async function ok(line: string): Promise<string> {
  const r = await h.run(line);
  assert.equal(r.code, 0, `${line}\n${r.err}`);
  return r.out;
}

test("seed 004 on seed000: services, endpoints, and kube-proxy's chains from worker1", async () => {
  await ok("up --topology seed000 --app yaobank");

  // B.1 List services
  const svc = await ok("kubectl get svc -n yaobank");
  assert.match(svc, /^NAME {7}TYPE {8}CLUSTER-IP +EXTERNAL-IP {3}PORT\(S\) {8}AGE\n/);
  assert.match(svc, /^customer {3}NodePort {4}10\.49\.\d+\.\d+ +<none> +80:30180\/TCP {3}\S+\n/m);
  assert.match(svc, /^database {3}ClusterIP {3}10\.49\.\d+\.\d+ +<none> +2379\/TCP {7}\S+\n/m);
  assert.match(svc, /^summary {4}ClusterIP {3}10\.49\.\d+\.\d+ +<none> +80\/TCP {9}\S+\n/m);

  // B.2 List service endpoints
  const eps = await ok("kubectl get endpoints -n yaobank");
  assert.match(eps, /^NAME {7}ENDPOINTS {2,}AGE\n/);
  const summaryEps = /^summary +(10\.48\.0\.\d+):80,(10\.48\.0\.\d+):80 +\S+$/m.exec(eps);
  assert.ok(summaryEps, eps);
  const customerEp = /^customer +(10\.48\.0\.\d+):80 +\S+$/m.exec(eps);
  assert.ok(customerEp, eps);
  assert.match(eps, /^database +10\.48\.0\.\d+:2379 +\S+$/m);

  // B.3 List pods: the four pods run on the seed's workers.
  const pods = await ok("kubectl get pods -n yaobank -o wide");
  assert.match(pods, /^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES\n/);
  const rows = pods.trim().split("\n").slice(1);
  assert.equal(rows.length, 4);
  for (const r of rows)
    assert.match(
      r,
      /^(customer|database|summary)-[a-z0-9]+-[a-z0-9]{5} +1\/1 +Running +0 +\S+ +10\.48\.0\.\d+ +worker[12] +<none> +<none>$/,
    );

  // C.1 Get service endpoints
  assert.match(
    await ok("kubectl get endpoints -n yaobank summary"),
    /^summary +10\.48\.0\.\d+:80,10\.48\.0\.\d+:80 +\S+\n$/m,
  );

  // C.2 Examine the KUBE-SERVICES chain
  const services = await ok("exec worker1 -- sudo iptables -v --numeric --table nat --list KUBE-SERVICES");
  assert.match(
    services,
    /^Chain KUBE-SERVICES \(2 references\)\n pkts bytes target {5}prot opt in {5}out {5}source {15}destination {9}\n/,
  );
  assert.match(
    services,
    /KUBE-NODEPORTS {2}all {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {12}\/\* kubernetes service nodeports; NOTE: this must be the last rule in this chain \*\/ ADDRTYPE match dst-type LOCAL\n$/,
  );

  // C.3 KUBE-SERVICES -> KUBE-SVC-XXXXXXXXXXXXXXXX (`| grep -E summary`)
  const summaryLines = grep(services, /summary/).split("\n");
  assert.equal(summaryLines.length, 1, services);
  assert.match(
    summaryLines[0]!,
    /KUBE-SVC-OIQIZJVJK6E34BR4 {2}tcp {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}10\.49\.\d+\.\d+ +\/\* yaobank\/summary:http cluster IP \*\/ tcp dpt:80$/,
  );

  // C.4 KUBE-SVC -> KUBE-SEP: two endpoints, the first taken with probability 0.5.
  const svcChain = await ok(
    "exec worker1 -- sudo iptables -v --numeric --table nat --list KUBE-SVC-OIQIZJVJK6E34BR4",
  );
  assert.match(svcChain, /^Chain KUBE-SVC-OIQIZJVJK6E34BR4 \(1 references\)\n/);
  const seps = [...svcChain.matchAll(/(KUBE-SEP-[A-Z0-9]{16}) +all/g)].map((m) => m[1]!);
  assert.equal(seps.length, 2, svcChain);
  assert.match(
    svcChain,
    /\/\* yaobank\/summary:http -> 10\.48\.0\.\d+:80 \*\/ statistic mode random probability 0\.50000000000\n/,
  );

  // C.5 KUBE-SEP -> summary pod: masquerade hairpin traffic, DNAT to the endpoint.
  const sep = await ok(`exec worker1 -- sudo iptables -v --numeric --table nat --list ${seps[0]}`);
  const ip = summaryEps![1]!;
  const other = summaryEps![2]!;
  const sepIp = new RegExp(
    `KUBE-MARK-MASQ  all  --  \\* +\\* +(${ip.replaceAll(".", "\\.")}|${other.replaceAll(".", "\\.")}) +0\\.0\\.0\\.0/0`,
  ).exec(sep);
  assert.ok(sepIp, sep);
  assert.match(
    sep,
    new RegExp(
      `DNAT +tcp  --  \\* +\\* +0\\.0\\.0\\.0/0 +0\\.0\\.0\\.0/0 +/\\* yaobank/summary:http \\*/ tcp to:${sepIp[1]!.replaceAll(".", "\\.")}:80\\n`,
    ),
  );

  // D.1–D.3 NodePort: customer's endpoint, KUBE-NODEPORTS at the end of KUBE-SERVICES, the node port rule.
  assert.match(await ok("kubectl get endpoints -n yaobank customer"), /^customer +10\.48\.0\.\d+:80 +\S+$/m);
  assert.equal(grep(services, /KUBE-NODEPORTS/).split("\n").length, 1);
  const nodePorts = await ok("exec worker1 -- sudo iptables -v --numeric --table nat --list KUBE-NODEPORTS");
  assert.match(nodePorts, /^Chain KUBE-NODEPORTS \(1 references\)\n/);
  assert.match(
    nodePorts,
    /KUBE-EXT-PX5FENG4GZJTCELT {2}tcp {2}-- {2}\* {6}\* {7}0\.0\.0\.0\/0 {12}0\.0\.0\.0\/0 {12}\/\* yaobank\/customer:http \*\/ tcp dpt:30180\n/,
  );

  // D.4–D.5 KUBE-SVC-PX5FENG4GZJTCELT has the one customer endpoint; its KUBE-SEP DNATs to it.
  const customerSvc = await ok(
    "exec worker1 -- sudo iptables -v --numeric --table nat --list KUBE-SVC-PX5FENG4GZJTCELT",
  );
  const customerSep = /(KUBE-SEP-[A-Z0-9]{16}) +all/.exec(customerSvc)?.[1];
  assert.ok(customerSep, customerSvc);
  const cSep = await ok(`exec worker1 -- sudo iptables -v --numeric --table nat --list ${customerSep}`);
  assert.match(cSep, new RegExp(`tcp to:${customerEp![1]!.replaceAll(".", "\\.")}:80\\n`));

  // The counters are the kernel's: a page through the node port adds one packet to customer's rule.
  const before = Number(
    /^\s*(\d+)/m.exec(grep(nodePorts, /KUBE-EXT-PX5FENG4GZJTCELT.*0\.0\.0\.0\/0 +0\.0\.0\.0\/0/))![1],
  );
  assert.match(await ok("exec host1 -- curl 10.0.0.11:30180"), /Balance: 2389\.45/);
  const afterList = await ok("exec worker1 -- sudo iptables -v --numeric --table nat --list KUBE-NODEPORTS");
  assert.equal(
    Number(/^\s*(\d+)/m.exec(grep(afterList, /KUBE-EXT-PX5FENG4GZJTCELT.*0\.0\.0\.0\/0 +0\.0\.0\.0\/0/))![1]),
    before + 1,
  );
});
