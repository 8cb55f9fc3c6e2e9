import assert from "node:assert/strict";
import { test } from "node:test";
import { runFilter } from "../../src/agent/index.ts";

const run = (line: string, input: string) => {
  const r = runFilter(line.split(" "), input);
  assert.ok(r, `${line} is not a filter`);
  return r;
};

test("python -m json.tool prints like Python 3.11's: 4 spaces, key order kept, ensure_ascii, float repr", () => {
  // Expected outputs recorded from `python3 -m json.tool` (Python 3.11.7).
  const r = run(
    "python -m json.tool",
    '{"é":[],"b":{},"2":-0,"c":1E400,"d":[1.0,{"x":null}],"a":"x","a":2}\n',
  );
  assert.equal(
    r.stdout,
    '{\n    "\\u00e9": [],\n    "b": {},\n    "2": 0,\n    "c": Infinity,\n    "d": [\n        1.0,\n        {\n            "x": null\n        }\n    ],\n    "a": 2\n}\n',
  );
  assert.equal(
    run(
      "python3 -m json.tool",
      "[1e16, 1.5e-7, 0.0001, 1e-5, 123456789012345678.0, 2389.45, 12345678901234567890123]",
    ).stdout,
    "[\n    1e+16,\n    1.5e-07,\n    0.0001,\n    1e-05,\n    1.2345678901234568e+17,\n    2389.45,\n    12345678901234567890123\n]\n",
  );
  assert.equal(
    run("python -m json.tool --sort-keys", '{"b":1,"a":[true,false]}').stdout,
    '{\n    "a": [\n        true,\n        false\n    ],\n    "b": 1\n}\n',
  );
  const errors: [string, string][] = [
    ["", "Expecting value: line 1 column 1 (char 0)"],
    ['{"a":\n', "Expecting value: line 2 column 1 (char 6)"],
    ['{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"],
    ['{"a":1,}', "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"],
    ["[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"],
    ['{"a":1} x', "Extra data: line 1 column 9 (char 8)"],
    ['"abc\n', "Invalid control character at: line 1 column 5 (char 4)"],
    ['"abc', "Unterminated string starting at: line 1 column 1 (char 0)"],
    ['"\\q"', "Invalid \\escape: line 1 column 2 (char 1)"],
  ];
  for (const [input, message] of errors) {
    const e = run("python -m json.tool", input);
    assert.deepEqual([e.code, e.stdout, e.stderr], [1, "", `${message}\n`], JSON.stringify(input));
  }
});

test("grep (basic, -E, -F, -v, -i, -c), head, tail and wc -l as GNU coreutils/grep do", () => {
  const text = "alpha one\nbeta two\ngamma (three)\nALPHA four\n";
  assert.deepEqual(run("grep alpha", text), { stdout: "alpha one\n", stderr: "", code: 0 });
  assert.equal(run("grep -i alpha", text).stdout, "alpha one\nALPHA four\n");
  assert.equal(run("grep -E alpha|beta", text).stdout, "alpha one\nbeta two\n");
  // In a basic expression | and ( are ordinary characters; \| is alternation.
  assert.equal(run("grep alpha|beta", text).code, 1);
  assert.equal(run("grep alpha\\|beta", text).stdout, "alpha one\nbeta two\n");
  assert.equal(run("grep (three)", text).stdout, "gamma (three)\n");
  assert.equal(run("grep -F (three)", text).stdout, "gamma (three)\n");
  assert.equal(run("grep -vc a", text).stdout, "1\n");
  assert.deepEqual(run("grep zeta", text), { stdout: "", stderr: "", code: 1 });
  assert.equal(run("grep", text).code, 2);
  assert.equal(run("head -n 2", text).stdout, "alpha one\nbeta two\n");
  assert.equal(run("head -1", text).stdout, "alpha one\n");
  assert.equal(run("tail -n 1", text).stdout, "ALPHA four\n");
  assert.equal(run("tail -n +3", text).stdout, "gamma (three)\nALPHA four\n");
  assert.equal(run("wc -l", text).stdout, "4\n");
  assert.equal(run("wc -l", "no newline").stdout, "0\n");
  assert.equal(run("head -n x", text).stderr, "head: invalid number of lines: 'x'\n");
  assert.equal(runFilter(["sort"], text), undefined);
});
