import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const src = new URL("../src/", import.meta.url).pathname;

/** docs/ARCHITECTURE.md's layer table. A folder may import lower layers, plus the same-layer edges listed. */
const LAYERS: Record<string, number> = {
  lib: 0,
  net: 0,
  api: 1,
  selector: 1,
  store: 2,
  ipam: 2,
  control: 3,
  calc: 3,
  policy: 3,
  render: 3,
  "dataplane/sim": 4,
  "dataplane/linux": 4,
  apps: 4,
  agent: 5,
  server: 5,
  cli: 6,
  lab: 6,
  web: 6,
};
// render->policy: Felix's rules are rendered from the policy engine's v1 data model, which `policy` owns (no cycle: policy
// imports nothing from render).
// calc->render, calc->policy, calc->control: a host's dataplane description (calc/node-dataplane) is computed from the
// topology (control's types), the policy model and the rendered rules and BIRD files; none of those imports calc.
const SAME_LAYER_ALLOWED = new Set([
  "api->selector",
  "cli->lab",
  "render->policy",
  "calc->render",
  "calc->policy",
  "calc->control",
]);
/** Dataplanes consume rendered artifacts; they never read the store. */
const FORBIDDEN = new Set(["dataplane/sim->store", "dataplane/linux->store", "apps->store"]);

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

function folderOf(file: string): string {
  const rel = relative(src, file);
  const parts = rel.split("/");
  return parts[0] === "dataplane" ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) out.push(m[1]!);
  return out.filter((s) => s.startsWith("."));
}

// Files directly under src/ (none today) would have no folder; every source file lives in a layer folder.
const all = files(src);
const edges = new Map<string, Set<string>>();

for (const file of all) {
  const from = folderOf(file);
  for (const spec of imports(file)) {
    const target = resolve(dirname(file), spec);
    const to = folderOf(target);
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  }
}

test("every src folder is in the layer table", () => {
  for (const file of all)
    assert.ok(folderOf(file) in LAYERS, `folder ${folderOf(file)} (${relative(src, file)}) has no layer`);
});

test("imports only point down the layer table, and never from a dataplane to the store", () => {
  const bad: string[] = [];
  for (const file of all) {
    const from = folderOf(file);
    for (const spec of imports(file)) {
      const to = folderOf(resolve(dirname(file), spec));
      if (to === from) continue;
      const edge = `${from}->${to}`;
      const ok = !FORBIDDEN.has(edge) && (LAYERS[to]! < LAYERS[from]! || SAME_LAYER_ALLOWED.has(edge));
      if (!ok) bad.push(`${relative(src, file)} imports ${spec} (${edge})`);
    }
  }
  assert.deepEqual(bad, []);
});

test("other folders import a folder only through its index.ts", () => {
  const bad: string[] = [];
  for (const file of all) {
    const from = folderOf(file);
    for (const spec of imports(file)) {
      const target = resolve(dirname(file), spec);
      const to = folderOf(target);
      if (to !== from && relative(join(src, to), target) !== "index.ts")
        bad.push(`${relative(src, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("no import cycles between folders", () => {
  const state = new Map<string, "visiting" | "done">();
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === "done") return;
    assert.notEqual(state.get(n), "visiting", `cycle: ${[...path, n].join(" -> ")}`);
    state.set(n, "visiting");
    for (const m of edges.get(n) ?? []) visit(m, [...path, n]);
    state.set(n, "done");
  };
  for (const n of edges.keys()) visit(n, []);
});

test("calc, render and policy stay pure: no I/O, clock or randomness", () => {
  const bad: string[] = [];
  for (const file of all) {
    const folder = folderOf(file);
    if (folder !== "calc" && folder !== "render" && folder !== "policy") continue;
    const text = readFileSync(file, "utf8");
    if (
      /from "node:(fs|net|child_process|dgram|http|https)"|Date\.now\(|new Date\(\)|Math\.random\(/.test(text)
    )
      bad.push(relative(src, file));
  }
  assert.deepEqual(bad, []);
});
