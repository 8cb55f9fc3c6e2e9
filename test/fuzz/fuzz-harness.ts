import assert from "node:assert/strict";
import fc from "fast-check";
import { type CliHarness, snapshotState } from "../cli/harness.ts";

/**
 * The fuzz suite's rules (issue 16): every case runs through the CLI entry point (in-process `runCli`),
 * and must end without a stack trace, within 5 s, with exactly one line on stderr when it fails, and with
 * the state dir byte-for-byte unchanged when it fails. Seeded (TORTIE_FUZZ_SEED) and bounded.
 */
export const FUZZ_SEED = Number(process.env.TORTIE_FUZZ_SEED ?? 16016);
export const CASE_MS = 5000;

/** The state dir's files and bytes as one comparable string. */
export function stateText(dir: string): string {
  return JSON.stringify(snapshotState(dir));
}

export interface FuzzStats {
  cases: number;
  failures: number;
}

/** Runs one command line and checks the suite's rules; returns the exit code. */
export async function checkCase(
  h: CliHarness,
  argv: string[],
  stdin: string,
  stats: FuzzStats,
): Promise<number> {
  const before = stateText(h.stateDir);
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).join();
  const started = Date.now();
  const r = await h.run(argv, stdin);
  const ms = Date.now() - started;
  stats.cases++;
  const what = `${JSON.stringify(argv).slice(0, 300)} stdin=${JSON.stringify(stdin).slice(0, 300)}`;
  assert.ok(ms < CASE_MS, `took ${ms} ms: ${what}`);
  assert.doesNotMatch(r.err, /internal error|\n\s+at /, `stack trace: ${what}\n${r.err.slice(0, 500)}`);
  assert.equal(Object.getOwnPropertyNames(Object.prototype).join(), protoBefore, `Object.prototype: ${what}`);
  if (r.code !== 0) {
    stats.failures++;
    assert.ok(r.code === 1 || r.code === 2, `exit ${r.code}: ${what}`);
    assert.ok(
      r.err.endsWith("\n") && r.err.indexOf("\n") === r.err.length - 1,
      `not one line: ${what}\n${JSON.stringify(r.err.slice(0, 500))}`,
    );
    assert.equal(stateText(h.stateDir), before, `state changed by a failed command: ${what}`);
  }
  return r.code;
}

/** Strings that have broken parsers before: structure, aliases, prototypes, numbers, unicode, controls. */
export const hostileToken = fc.constantFrom(
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "",
  " ",
  "\n",
  "\r\n",
  "\t",
  "\u0000",
  "\u001b[31m",
  "\u2028",
  "\uFEFF",
  "😀",
  "é",
  "ﬀ",
  "&a",
  "*a",
  "*undefined",
  "<<",
  "? ",
  "- ",
  ": ",
  "---",
  "...",
  "%YAML 1.2",
  "!!binary",
  "!!map",
  "|",
  ">-",
  "#",
  "'",
  '"',
  "[",
  "]",
  "{",
  "}",
  ",",
  "1e400",
  "-0",
  "0x1F",
  "99999999999999999999",
  "9223372036854775808",
  "NaN",
  ".inf",
  "null",
  "~",
  "yes",
  "2026-01-02",
  "a".repeat(300),
);

/** A word: mostly ordinary, sometimes hostile. */
export const word = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/) },
  { weight: 2, arbitrary: hostileToken },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: "binary" }) },
);

/** `n` levels of flow nesting around `inner`: `[[[x]]]` or `{"a":{"a":x}}`. */
export function nest(n: number, inner: string, map: boolean): string {
  return map ? `${'{"a":'.repeat(n)}${inner}${"}".repeat(n)}` : `${"[".repeat(n)}${inner}${"]".repeat(n)}`;
}

export function report(t: { diagnostic(m: string): void }, name: string, stats: FuzzStats): void {
  const line = `fuzz ${name}: ${stats.cases} cases (${stats.failures} refused), seed ${FUZZ_SEED}`;
  t.diagnostic(line);
  console.log(line);
}
