import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  cidrContainsCidr,
  cidrsOverlap,
  formatCidr,
  formatIp,
  isMasked,
  maskCidr,
  parseCidr,
  parseCidrOrIp,
  parseIp,
} from "./index.ts";

test("parses and formats IPv4 strictly", () => {
  assert.equal(formatIp(parseIp("198.19.0.1")!), "198.19.0.1");
  for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-1", "", "a.b.c.d"]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test("formats IPv6 as RFC 5952", () => {
  const cases: [string, string][] = [
    ["fe80:0:0:0:0:0:0:1", "fe80::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:DB8::FFFF", "2001:db8::ffff"],
    ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
  ];
  for (const [input, want] of cases) assert.equal(formatIp(parseIp(input)!), want, input);
  for (const bad of ["1::2::3", ":::", "1:2:3:4:5:6:7:8:9", "12345::", "1:2:3:4:5:6:7"]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

test("CIDR parsing, masking and containment", () => {
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.equal(parseCidr("10.0.0.0"), undefined);
  assert.equal(parseCidr("10.0.0.0/08"), undefined);
  const pool = parseCidr("198.19.16.0/21")!;
  assert.ok(isMasked(pool));
  assert.ok(!isMasked(parseCidr("198.19.16.1/21")!));
  assert.equal(formatCidr(maskCidr(parseCidr("198.19.16.1/21")!)), "198.19.16.0/21");
  assert.ok(cidrContainsCidr(parseCidr("198.19.16.0/20")!, pool));
  assert.ok(!cidrsOverlap(pool, parseCidr("198.19.24.0/21")!));
  assert.ok(cidrsOverlap(pool, parseCidr("198.19.20.0/24")!));
  assert.equal(formatCidr(parseCidrOrIp("10.0.0.1")!), "10.0.0.1/32");
});

test("IPv4 and IPv6 round-trip through parse and format (property)", () => {
  fc.assert(
    fc.property(fc.ipV4(), (s) => {
      assert.equal(formatIp(parseIp(s)!), s);
    }),
  );
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
      const text = formatIp({ family: 6, value: v });
      assert.equal(parseIp(text)?.value, v);
    }),
  );
});
