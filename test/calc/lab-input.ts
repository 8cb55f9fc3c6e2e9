/** The lab with YAO Bank as calc's dataplane input, read from a fresh state dir (shared by the calc tests). */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import type { DataplaneInput } from "../../src/calc/index.ts";
import { readSimInputs } from "../../src/cli/exec.ts";
import { CliHarness } from "../cli/harness.ts";

/** Registers before/after hooks; the returned getter gives the input once `before` has run. */
export function labDataplaneInput(): () => DataplaneInput {
  let h: CliHarness;
  let input: DataplaneInput | undefined;
  before(async () => {
    h = new CliHarness();
    assert.equal((await h.run("up --app yaobank")).code, 0);
    const { topology, objects } = await readSimInputs(h.silentContext());
    input = { objects, topology, features: { nfacct: true } };
  });
  after(() => h.cleanup());
  return () => {
    assert.ok(input, "the lab input is read in before()");
    return input;
  };
}
