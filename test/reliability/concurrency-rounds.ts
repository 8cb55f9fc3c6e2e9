// Concurrency rounds (concurrency.test.ts and concurrency-2.test.ts run 10 each): 8 tortie processes writing
// pods and deployments at once on one state dir. Every process's exit status reports its own request (a create of a new name exits 0; a create of a name that exists
// exits 1 with AlreadyExists; scale and delete of existing objects exit 0), never a controller's race; and after
// every round no address is leaked or shared (`ipam check` clean, every pod Running with its own address).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openClusterStore } from "../../src/cli/context.ts";
import { assertConverged } from "./converged.ts";

const WRITERS = 8;
const bin = new URL("../../bin/tortie", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "tortie-concurrency-"));
const state = join(dir, "state");
const children = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  args: string[];
  code: number | null;
  err: string;
}

function tortie(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, "--state-dir", state, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.add(child);
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => {
      children.delete(child);
      resolve({ args, code, err });
    });
  });
}

function deployment(name: string, replicas: number): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n`,
  );
  return file;
}

/** One round's 8 commands and the exit status each must have: 0, or 1 with AlreadyExists. */
function roundCommands(r: number, first: number): { args: string[]; exists: boolean }[] {
  const cmds: { args: string[]; exists: boolean }[] = [
    { args: ["kubectl", "run", `p${r}a`, "--image=busybox"], exists: false },
    { args: ["kubectl", "run", `p${r}b`, "--image=busybox"], exists: false },
    { args: ["kubectl", "run", `p${r}c`, "--image=busybox"], exists: false },
    { args: ["kubectl", "create", "-f", deployment(`d${r}`, 2)], exists: false },
    // A name that exists: the command's own create fails, whatever the controllers do meanwhile.
    { args: ["kubectl", "run", r > first ? `p${r - 1}a` : "base", "--image=busybox"], exists: true },
    { args: ["kubectl", "scale", "deployment", "web", `--replicas=${1 + (r % 4)}`], exists: false },
  ];
  if (r > first) {
    cmds.push({ args: ["kubectl", "delete", "pod", `p${r - 1}b`], exists: false });
    cmds.push({ args: ["kubectl", "delete", "deployment", `d${r - 1}`], exists: false });
  } else {
    cmds.push({ args: ["kubectl", "run", "extra0", "--image=busybox"], exists: false });
    cmds.push({ args: ["kubectl", "create", "-f", deployment("extra1", 1)], exists: false });
  }
  return cmds;
}

/**
 * Runs rounds `first` .. `first + count - 1` on a fresh cluster of its own (this module's state dir) and asserts
 * every exit status and, after every round, a settled cluster without leaks.
 */
export async function concurrentRounds(first: number, count: number): Promise<void> {
  const setup = [
    ["up"],
    ["kubectl", "create", "-f", deployment("web", 2)],
    ["kubectl", "run", "base", "--image=busybox"],
  ];
  for (const args of setup) {
    const r = await tortie(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
  }
  let processes = 0;
  const wrong: string[] = [];
  const broken: string[] = [];
  for (let r = first; r < first + count; r++) {
    const cmds = roundCommands(r, first);
    assert.equal(cmds.length, WRITERS);
    const results = await Promise.all(cmds.map((c) => tortie(c.args)));
    processes += results.length;
    results.forEach((res, i) => {
      const { exists } = cmds[i]!;
      const right = exists
        ? res.code === 1 &&
          /AlreadyExists|already exists/.test(res.err) &&
          res.err.trim().split("\n").length === 1
        : res.code === 0 && res.err === "";
      if (!right)
        wrong.push(`round ${r}: tortie ${res.args.join(" ")} exited ${res.code}: ${res.err.trim()}`);
    });
    try {
      await assertConverged(
        openClusterStore(state, () => new Date()),
        `after round ${r}`,
      );
    } catch (e) {
      broken.push((e as Error).message.split("\n")[0]!);
    }
  }
  console.log(
    `concurrency: rounds ${first}-${first + count - 1}, ${count} x ${WRITERS} writers = ${processes} processes, ${wrong.length} exit statuses not true to their own request, ${broken.length} rounds left unsettled or leaking`,
  );
  assert.deepEqual(wrong, []);
  assert.deepEqual(broken, []);
}
