import assert from "node:assert/strict";
import { test } from "node:test";
import { ipsetDelta } from "../../src/dataplane/linux/index.ts";

const a = "create s1 hash:ip family inet\nadd s1 10.0.0.1\nadd s1 10.0.0.2\ncreate s2 hash:net family inet\n";

test("ipset delta: no change is nothing", () => {
  assert.deepEqual(ipsetDelta(a, a), { before: "", after: "" });
});

test("ipset delta: members added and deleted, new sets created, gone sets destroyed after the rules", () => {
  const b =
    "create s1 hash:ip family inet\nadd s1 10.0.0.2\nadd s1 10.0.0.3\ncreate s3 hash:ip family inet\nadd s3 10.1.1.1\n";
  assert.deepEqual(ipsetDelta(a, b), {
    before: "del s1 10.0.0.1\nadd s1 10.0.0.3\ncreate s3 hash:ip family inet\nadd s3 10.1.1.1\n",
    after: "destroy s2\n",
  });
});

test("ipset delta: a changed create line is rebuilt under a temporary name and swapped in", () => {
  const b = "create s1 hash:net family inet\nadd s1 10.0.0.0/24\ncreate s2 hash:net family inet\n";
  const d = ipsetDelta(a, b);
  const tmp = /^create (\S+) hash:net/.exec(d.before)?.[1];
  assert.ok(tmp && tmp.length <= 31);
  assert.equal(
    d.before,
    `create ${tmp} hash:net family inet\nadd ${tmp} 10.0.0.0/24\nswap ${tmp} s1\ndestroy ${tmp}\n`,
  );
  assert.equal(d.after, "");
});
