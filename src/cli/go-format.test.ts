import assert from "node:assert/strict";
import { test } from "node:test";
import { boxTable } from "./box-table.ts";
import { goFormatF0, goFormatG } from "./go-format.ts";

// Expected values printed by Go 1.19's fmt (`%.5g`, `%.f`) for the same inputs.
const G5: [number, string][] = [
  [0, "0"],
  [1, "1"],
  [8, "8"],
  [2048, "2048"],
  [2030, "2030"],
  [65536, "65536"],
  [99999, "99999"],
  [100000, "1e+05"],
  [100005, "1e+05"],
  [100015, "1.0002e+05"],
  [100025, "1.0002e+05"],
  [131072, "1.3107e+05"],
  [131071, "1.3107e+05"],
  [262144, "2.6214e+05"],
  [1048576, "1.0486e+06"],
  [12345678, "1.2346e+07"],
  [2 ** 64, "1.8447e+19"],
  [2 ** 64 - 5, "1.8447e+19"],
  [2 ** 80, "1.2089e+24"],
  [64, "64"],
  [4294967296, "4.295e+09"],
  [16777216, "1.6777e+07"],
  [1234550, "1.2346e+06"],
  [1234650, "1.2346e+06"],
];

const F0: [number, number, string][] = [
  [3, 8, "38"],
  [5, 8, "62"],
  [1, 2048, "0"],
  [18, 2048, "1"],
  [2030, 2048, "99"],
  [2047, 2048, "100"],
  [1, 8, "12"],
  [1, 200, "0"],
  [1, 16, "6"],
  [5, 16, "31"],
  [7, 16, "44"],
  [13, 16, "81"],
  [1, 64, "2"],
  [32, 64, "50"],
  [5, 2 ** 64, "0"],
];

test("goFormatG matches Go's %.5g, including half-to-even ties and two-digit exponents", () => {
  for (const [v, want] of G5) assert.equal(goFormatG(v), want, String(v));
});

test("goFormatF0 matches Go's %.f on percentages (37.5 → 38, 62.5 → 62)", () => {
  for (const [n, d, want] of F0) assert.equal(goFormatF0((100 * n) / d), want, `${n}/${d}`);
});

test("boxTable draws tablewriter's default layout (centred headers, numbers right, text left)", () => {
  assert.equal(
    boxTable(
      ["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"],
      [
        ["IP Pool", "198.19.16.0/21", "2048", "18 (1%)", "2030 (99%)"],
        ["IP Pool", "198.19.24.0/21", "2048", "1 (0%)", "2047 (100%)"],
      ],
    ),
    [
      "+----------+----------------+-----------+------------+-------------+",
      "| GROUPING |      CIDR      | IPS TOTAL | IPS IN USE |  IPS FREE   |",
      "+----------+----------------+-----------+------------+-------------+",
      "| IP Pool  | 198.19.16.0/21 |      2048 | 18 (1%)    | 2030 (99%)  |",
      "| IP Pool  | 198.19.24.0/21 |      2048 | 1 (0%)     | 2047 (100%) |",
      "+----------+----------------+-----------+------------+-------------+",
      "",
    ].join("\n"),
  );
});
