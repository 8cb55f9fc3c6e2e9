import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { findKind } from "../../src/api/index.ts";
import { Ipam } from "../../src/ipam/index.ts";
import { openFileStore } from "../../src/store/index.ts";

function runWorker(dir: string, host: string, n: number, tag: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", new URL("./alloc-worker.ts", import.meta.url).pathname, dir, host, String(n), tag],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${tag}: ${err}`)),
    );
  });
}

test("two tortie processes allocating on one state dir never hand out the same address", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-ipam-2p-"));
  try {
    const client = openFileStore(dir);
    await client.ensureBuiltIns();
    await client.create({
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name: "p" },
      spec: { cidr: "10.0.0.0/25", blockSize: 29 },
    });
    for (const name of ["a1", "a2"])
      await client.create({ apiVersion: "v1", kind: "Node", metadata: { name } });
    await client.backend.close();
    // Same host in both processes (two CNI calls on one node) and a second host: the walks collide.
    const [x, y, z] = await Promise.all([
      runWorker(dir, "a1", 30, "x"),
      runWorker(dir, "a1", 30, "y"),
      runWorker(dir, "a2", 30, "z"),
    ]);
    const all = [...x, ...y, ...z];
    assert.equal(all.length, 3 * 24, "each worker keeps 24 of its 30 addresses");
    assert.equal(new Set(all).size, all.length, "no address was handed out twice");
    const check = openFileStore(dir);
    const ipam = new Ipam(check.backend);
    for (const ip of all) assert.ok(await ipam.getAssignmentAttributes(ip), `${ip} is recorded`);
    const blocks = await check.list(findKind("projectcalico.org/v3", "IPAMBlock")!);
    const allocated = blocks.reduce(
      (n, b) => n + b.spec.allocations.filter((a: number | null) => a !== null).length,
      0,
    );
    assert.equal(allocated, all.length, "the blocks record exactly the addresses the processes hold");
    await check.backend.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
