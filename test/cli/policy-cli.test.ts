import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { findKind } from "../../src/api/index.ts";
import { DATABASE_POLICY } from "../policy/seed-manifests.ts";
import { assertGolden, CliHarness } from "./harness.ts";

const h = new CliHarness();
const pods: Record<string, string> = {};
let databaseIp = "";

before(async () => {
  assert.equal((await h.run("up --app yaobank")).code, 0);
  const r = await h.run(["kubectl", "apply", "-f", "-"], DATABASE_POLICY);
  assert.equal(r.code, 0, r.err);
  for (const p of await h.store().list(findKind("v1", "Pod")!, "yaobank"))
    pods[p.metadata.labels!.app!] ??= p.metadata.name!;
  databaseIp = (await h.store().get(findKind("v1", "Service")!, "database", "yaobank"))!.spec.clusterIP;
});
after(() => h.cleanup());

test("policy explain names every check, tier, policy and rule on the way", async () => {
  const r = await h.run(`policy explain yaobank/${pods.customer} ${databaseIp} --port 2379`);
  assert.equal(r.code, 0, r.err);
  assertGolden("policy-explain-customer-database.txt", r.out);
  assert.match(r.out, /verdict: denied/);
  const ok = await h.run(`policy explain yaobank/${pods.summary} ${databaseIp} --port 2379 -o json`);
  const json = JSON.parse(ok.out);
  assert.equal(json.verdict, "allowed");
  assert.equal(json.service, "yaobank/database:http");
  assert.equal(json.paths[0].checks.at(-1).decidedBy.policy, "knp.default.database-policy");
});

test("policy matrix as a table and as JSON", async () => {
  const table = await h.run("policy matrix -n yaobank");
  assert.equal(table.code, 0, table.err);
  assertGolden("policy-matrix-yaobank.txt", table.out);
  const json = await h.run("policy matrix -n yaobank --ports 2379/TCP -o json");
  const cells: { from: string; to: string; allowed: boolean }[] = JSON.parse(json.out).cells;
  assert.equal(cells.length, 16);
  const toDb = cells.filter((c) => c.to.includes("database"));
  assert.deepEqual(
    toDb.map((c) => [c.from.split("/")[1]!.split("-")[0], c.allowed]),
    [
      ["customer", false],
      ["database", false],
      ["summary", true],
      ["summary", true],
    ],
  );
});

test("calicoq eval, endpoint and policy", async () => {
  const out = [
    (await h.run(["calicoq", "eval", "app == 'summary'"])).out,
    (await h.run(["calicoq", "policy", "yaobank/knp.default.database-policy"])).out,
    (await h.run(["calicoq", "endpoint", "database"])).out,
  ].join("---\n");
  assertGolden("calicoq-yaobank.txt", out);
});

test("policy commands refuse bad input with one line", async () => {
  const cases: [string, number, RegExp][] = [
    ["policy explain yaobank/nope 10.0.0.1 --port 80", 1, /^error: FROM yaobank\/nope: pod not found\n$/],
    [
      "policy explain host1 nowhere --port 80",
      2,
      /TO "nowhere" is not NS\/POD, a host name, or an IP address/,
    ],
    ["policy explain host1 node1", 2, /--port is required for tcp/],
    ["policy matrix --ports http", 2, /--ports: "http" is not PORT or PORT\/PROTOCOL/],
    ["policy matrix --engine sim --ports 8/ICMP", 2, /--engine sim probes TCP, UDP and SCTP ports only/],
    ["calicoq eval 'a =='", 1, /Invalid selector: a ==/],
    ["calicoq policy nope", 1, /policy "nope" not found/],
  ];
  for (const [line, code, err] of cases) {
    const r = await h.run(line);
    assert.equal(r.code, code, `${line}: ${r.err}`);
    assert.match(r.err, err, line);
    assert.equal(r.err.split("\n").filter(Boolean).length, 1, r.err);
  }
});
