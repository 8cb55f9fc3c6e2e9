import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { findKind, parseManifests } from "../../src/api/index.ts";
import { assignPodAddresses, Ipam } from "../../src/ipam/index.ts";
import { assertGolden, CliHarness } from "./harness.ts";

const harnesses: CliHarness[] = [];
after(() => {
  for (const h of harnesses) h.cleanup();
});

async function lab(): Promise<{ h: CliHarness; ipam: Ipam }> {
  const h = new CliHarness();
  harnesses.push(h);
  const ok = async (line: string, stdin = "") => {
    const r = await h.run(line, stdin);
    assert.equal(r.code, 0, `${line}: ${r.err}`);
    return r;
  };
  await ok(
    "calicoctl apply -f -",
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 198.19.16.0/21
  natOutgoing: true
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 198.19.24.0/21
  blockSize: 29
  nodeSelector: "!all()"
  natOutgoing: true
`,
  );
  for (const n of ["control", "node1", "node2"])
    await ok("kubectl apply -f -", `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${n}\n`);
  return { h, ipam: new Ipam(h.store().backend, { now: () => h.now }) };
}

test("seed 002: `calicoctl ipam show` prints the seed's table for 18 workload addresses and 1 external", async () => {
  const { h, ipam } = await lab();
  const nodes = ["control", "node1", "node2"];
  for (let i = 0; i < 18; i++)
    await ipam.autoAssign({
      num4: 1,
      hostname: nodes[i % 3]!,
      handleId: `pod-${i}`,
      intendedUse: "Workload",
    });
  // Seed 002's namespace, applied as the seed applies it; nginx's pod then gets its address from external-pool.
  const applied = await h.run(
    "kubectl apply -f -",
    `apiVersion: v1
kind: Namespace
metadata:
  annotations:
    cni.projectcalico.org/ipv4pools: '["external-pool"]'
  name: external-ns
`,
  );
  assert.equal(applied.out, "namespace/external-ns created\n");
  const ns = await h.store().mustGet(findKind("v1", "Namespace")!, "external-ns");
  const nginx = await assignPodAddresses(ipam, {
    pod: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "external-ns", name: "nginx-5f9b7bdc6-x2x7p" },
    },
    namespace: ns,
    node: "node1",
    containerId: "nginx",
  });
  assert.match(nginx.ips[0]!, /^198\.19\.(2[4-9]|3[01])\./);
  const r = await h.run("calicoctl ipam show");
  assert.equal(r.code, 0, r.err);
  // Verbatim from seed 002 (docs: calicoctl ipam show).
  assert.equal(
    r.out,
    `+----------+----------------+-----------+------------+-------------+
| GROUPING |      CIDR      | IPS TOTAL | IPS IN USE |  IPS FREE   |
+----------+----------------+-----------+------------+-------------+
| IP Pool  | 198.19.16.0/21 |      2048 | 18 (1%)    | 2030 (99%)  |
| IP Pool  | 198.19.24.0/21 |      2048 | 1 (0%)     | 2047 (100%) |
+----------+----------------+-----------+------------+-------------+
`,
  );
  const blocks = await h.run("calicoctl ipam show --show-blocks");
  assertGolden("calicoctl-ipam-show-blocks.txt", blocks.out);
  const cfg = await h.run("calicoctl ipam show --show-configuration");
  assertGolden("calicoctl-ipam-show-configuration.txt", cfg.out);
});

test("`ipam show --show-blocks` rounds like Go: 3 of 8 used prints 3 (38%) and 5 (62%); IPv6 totals in %.5g", async () => {
  const { h, ipam } = await lab();
  await h.run('calicoctl patch ippool external-pool -p \'{"spec":{"nodeSelector":"all()"}}\'');
  for (let i = 0; i < 3; i++)
    await ipam.autoAssign({
      num4: 1,
      hostname: "node1",
      handleId: `x-${i}`,
      intendedUse: "Workload",
      ipv4Pools: [{ family: 4, value: (198n << 24n) | (19n << 16n) | (24n << 8n), prefix: 21 }],
    });
  const r = await h.run(
    "calicoctl apply -f -",
    "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: v6\nspec:\n  cidr: fd00:10::/64\n",
  );
  assert.equal(r.code, 0, r.err);
  await ipam.autoAssign({ num6: 1, hostname: "node2", handleId: "v6", intendedUse: "Workload" });
  const out = (await h.run("calicoctl ipam show --show-blocks")).out;
  assert.match(out, /\| Block {4}\| 198\.19\.\d+\.\d+\/29 +\| +8 \| 3 \(38%\) +\| 5 \(62%\) +\|/);
  assert.match(
    out,
    /\| IP Pool {2}\| fd00:10::\/64 +\| 1\.8447e\+19 \| 1 \(0%\) +\| 1\.8447e\+19 \(100%\) \|/,
  );
  assertGolden("calicoctl-ipam-show-rounding.txt", out);
});

test("`ipam show --ip`, `--show-borrowed`, and `ipam release --ip`", async () => {
  const { h, ipam } = await lab();
  const [ip] = (
    await ipam.autoAssign({
      num4: 1,
      hostname: "node1",
      handleId: "k8s-pod-network.abc",
      attrs: {
        namespace: "yaobank",
        node: "node1",
        pod: "customer-1",
        timestamp: "2026-01-02 03:04:05 +0000 UTC",
      },
      intendedUse: "Workload",
    })
  ).v4!.ips;
  assert.equal(ip, "198.19.22.128");
  const shown = await h.run(`calicoctl ipam show --ip=${ip}`);
  assert.equal(
    shown.out,
    "IP 198.19.22.128 is in use\nAttributes:\n  namespace: yaobank\n  node: node1\n  pod: customer-1\n  timestamp: 2026-01-02 03:04:05 +0000 UTC\n",
  );
  assert.equal(
    (await h.run("calicoctl ipam show --ip=198.19.22.200")).out,
    "198.19.22.200 is not assigned\n",
  );
  const bad = await h.run("calicoctl ipam show --ip=300.1.1.1");
  assert.equal(bad.code, 1);
  assert.equal(bad.err, "Error executing command: invalid IP address specified.\n");

  // node2 borrows from node1's block once the pool is otherwise used up (strict affinity is off).
  const none = await h.run("calicoctl ipam show --show-borrowed");
  assertGolden("calicoctl-ipam-show-borrowed-empty.txt", none.out);
  await ipam.assignIp({
    ip: "198.19.22.130",
    handleId: "borrowed",
    hostname: "node2",
    attrs: { namespace: "default", node: "node2", pod: "stray" },
  });
  assertGolden("calicoctl-ipam-show-borrowed.txt", (await h.run("calicoctl ipam show --show-borrowed")).out);

  const rel = await h.run(`calicoctl ipam release --ip=${ip}`);
  assert.equal(rel.out, "Successfully released IP address 198.19.22.128\n");
  const again = await h.run(`calicoctl ipam release --ip=${ip}`);
  assert.equal(again.code, 1);
  assert.equal(again.err, "IP address 198.19.22.128 is not assigned\n");
});

test("`ipam check` reports leaks and `ipam release --from-report` cleans them", async () => {
  const { h, ipam } = await lab();
  const live = (
    await ipam.autoAssign({ num4: 1, hostname: "node1", handleId: "live", intendedUse: "Workload" })
  ).v4!.ips[0]!;
  await ipam.autoAssign({
    num4: 1,
    hostname: "node2",
    handleId: "gone",
    attrs: { namespace: "default", node: "node2", pod: "deleted-pod" },
    intendedUse: "Workload",
  });
  const wep = `apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-k8s-live-eth0
  namespace: default
spec:
  node: node1
  orchestrator: k8s
  endpoint: eth0
  pod: live
  interfaceName: cali0123456789a
  ipNetworks: ["${live}/32"]
`;
  const store = h.store();
  await store.create(parseManifests(wep, "wep.yaml")[0]!.object, { asController: true });
  const report = join(h.stateDir, "report.json");
  const r = await h.run(`calicoctl ipam check --show-problem-ips -o ${report}`);
  assert.equal(r.code, 0, r.err);
  assertGolden("calicoctl-ipam-check.txt", r.out);
  assert.match(
    r.out,
    /^ {2}198\.19\.21\.64 leaked; attrs Main:gone Extra:namespace=default,node=node2,pod=deleted-pod$/m,
  );
  assert.match(r.out, /^Check complete; found 1 problems\.$/m);
  const json = JSON.parse(readFileSync(report, "utf8"));
  assert.equal(json.version, "v3.31.0");
  assert.equal(json.allocations["198.19.21.64"][0].inUse, false);
  assert.equal(json.allocations[live][0].inUse, true);

  const refused = await h.run(`calicoctl ipam release --from-report=${report}`);
  assert.equal(refused.code, 1);
  assert.equal(refused.err, "data store is not locked. Either lock the data store, or re-run with --force\n");
  const forced = await h.run(`calicoctl ipam release --from-report=${report} --force`);
  assert.equal(forced.code, 0, forced.err);
  assert.equal(
    forced.out,
    "WARNING: Data store is not locked. Ignoring due to --force option\nReleasing 1 old IPs...\nReleased 1 IPs successfully\nReport didn't contain any handles to clean up.\nYou may now unlock the data store.\n",
  );
  assert.match((await h.run("calicoctl ipam check")).out, /Check complete; found 0 problems\./);
});

test("`calicoctl ipam configure --strictaffinity` sets IPAMConfiguration", async () => {
  const { h } = await lab();
  const r = await h.run("calicoctl ipam configure --strictaffinity=true");
  assert.equal(r.out, "Successfully set StrictAffinity to: true\n");
  assert.match(
    (await h.run("calicoctl ipam show --show-configuration")).out,
    /\| StrictAffinity {5}\| true {2}\|/,
  );
});

test("ipam commands: bad input gets one line and exit 1", async () => {
  const { h } = await lab();
  const cases: [string, RegExp][] = [
    [
      "calicoctl ipam check -o /nonexistent-dir/report.json",
      /^cannot write the report to \/nonexistent-dir\/report\.json: ENOENT\n$/,
    ],
    [
      "calicoctl ipam release --from-report=/nonexistent-report.json",
      /^cannot read report \/nonexistent-report\.json: /,
    ],
    ["calicoctl ipam release --ip=1.2.3", /^Error executing command: invalid IP address specified\.\n$/],
    [
      "calicoctl ipam configure --strictaffinity=maybe",
      /^invalid value for --strictaffinity: maybe \(want true or false\)\n$/,
    ],
  ];
  for (const [line, err] of cases) {
    const r = await h.run(line);
    assert.notEqual(r.code, 0, line);
    assert.match(r.err, err, line);
    assert.equal(r.err.trim().split("\n").length, 1, line);
  }
  const garbage = join(h.stateDir, "garbage.json");
  writeFileSync(garbage, "{not json");
  const r = await h.run(`calicoctl ipam release --from-report=${garbage}`);
  assert.equal(r.code, 1);
  assert.match(r.err, /garbage\.json: not an ipam check report: /);
});
