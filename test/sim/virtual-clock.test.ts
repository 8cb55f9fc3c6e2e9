import assert from "node:assert/strict";
import { after, test } from "node:test";
import { controlKinds } from "../../src/control/index.ts";
import { CliHarness, FIXED_NOW, fixture } from "../cli/harness.ts";

const h = new CliHarness();
after(() => h.cleanup());

const minutes = (n: number) => new Date(FIXED_NOW.getTime() + n * 60_000);

test("the virtual clock follows the wall clock between commands: log times, conntrack timeouts", async () => {
  assert.equal((await h.run("up")).code, 0);
  assert.equal((await h.run(`kubectl apply -f ${fixture("lab/yaobank.yaml")}`)).code, 0);
  const customer = (await h.store().list(controlKinds.Pod, "yaobank"))
    .map((p) => p.metadata.name!)
    .find((n) => n.startsWith("customer"))!;

  assert.equal((await h.run("exec host1 -- curl -s 198.19.0.1:30180")).code, 0);
  const first = await h.run("exec control -- conntrack -L");
  const left = /^tcp {6}6 (\d+) TIME_WAIT src=198\.19\.15\.254 dst=198\.19\.0\.1 .* dport=30180 /m.exec(
    first.out,
  );
  assert.ok(left, first.out);
  assert.ok(Number(left[1]) >= 119, left[0]); // TIME_WAIT lasts 120 s

  // A minute later the entry has aged by a minute (conntrack -L counts down the seconds left).
  h.now = minutes(1);
  const aged = (await h.run("exec control -- conntrack -L")).out;
  assert.match(aged, new RegExp(`^tcp {6}6 ${Number(left[1]) - 60} TIME_WAIT src=198\\.19\\.15\\.254 `, "m"));

  // Five minutes on, a second request: the log shows both times, and the first connection's TIME_WAIT
  // entry (120 s) is gone while the new one is there.
  h.now = minutes(5);
  assert.equal((await h.run("exec host1 -- curl -s 198.19.0.1:30180")).code, 0);
  const logs = await h.run(`kubectl logs -n yaobank ${customer}`);
  assert.equal(
    logs.out,
    '198.19.0.1 - - [02/Jan/2026 03:04:05] "GET / HTTP/1.1" 200 -\n' +
      '198.19.0.1 - - [02/Jan/2026 03:09:05] "GET / HTTP/1.1" 200 -\n',
  );
  const later = (await h.run("exec control -- conntrack -L")).out;
  const nodePortEntries = later.split("\n").filter((l) => l.includes("dport=30180"));
  assert.equal(nodePortEntries.length, 1, later);
  assert.match(nodePortEntries[0]!, /^tcp {6}6 1(19|20) TIME_WAIT /);

  // After 2+ minutes with no traffic every TIME_WAIT entry has expired.
  h.now = minutes(7.5);
  const quiet = await h.run("exec control -- conntrack -L");
  assert.doesNotMatch(quiet.out, /TIME_WAIT/);
  assert.match(quiet.err, /conntrack v1\.4\.7 \(conntrack-tools\): \d+ flow entries have been shown\./);

  // The clock never runs backwards: a wall clock set back leaves the virtual time where it was.
  h.now = minutes(2);
  assert.equal((await h.run("exec host1 -- curl -s 198.19.0.1:30180")).code, 0);
  const lines = (await h.run(`kubectl logs -n yaobank ${customer}`)).out.trim().split("\n");
  assert.match(lines[2]!, /\[02\/Jan\/2026 03:11:35\]/);
});
