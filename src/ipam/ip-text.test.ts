import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { formatIp } from "../net/index.ts";
import { blockCidr, ipText } from "./block.ts";
import { cidrToName } from "./names.ts";

test("the hot path's address printer prints what formatIp prints", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }),
      fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
      (v4, v6) => {
        assert.equal(ipText({ family: 4, value: v4 }), formatIp({ family: 4, value: v4 }));
        assert.equal(ipText({ family: 6, value: v6 }), formatIp({ family: 6, value: v6 }));
      },
    ),
  );
});

test("a block's name worked out once per interned CIDR is the name of its text", () => {
  for (const text of ["10.0.1.0/26", "fd00::40/122", "192.168.0.0/32"]) {
    const c = blockCidr(text)!;
    assert.equal(cidrToName(c), cidrToName(text));
    assert.equal(cidrToName(c), cidrToName(c));
  }
  assert.equal(cidrToName("10.0.1.0/26"), "10-0-1-0-26");
});
