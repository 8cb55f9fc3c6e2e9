import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  chooseDatastore,
  EtcdBackend,
  formatDatastore,
  openStateStore,
  parseDatastore,
  readDatastore,
} from "../../src/store/index.ts";
import { contract } from "./backend-contract.ts";
import {
  closedEndpoint,
  type EtcdServer,
  etcdctlUnavailable,
  etcdUnavailable,
  startEtcd,
} from "./etcd-harness.ts";

const unavailable = etcdUnavailable();
let etcd: EtcdServer | undefined;
before(async () => {
  if (!unavailable) etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

// One etcd for the file; each contract test gets its own key prefix on it.
let prefixes = 0;
contract(
  "etcd",
  () => new EtcdBackend([etcd!.endpoint], { keyPrefix: `/contract-${++prefixes}` }),
  unavailable,
);

test("etcd: the registry layout is etcd's own keys, readable with etcdctl", {
  skip: etcdctlUnavailable(),
}, async () => {
  const b = new EtcdBackend([etcd!.endpoint]);
  await b.create("/registry/pods/default/web", { kind: "Pod", metadata: { name: "web" } });
  const r = spawnSync(
    "etcdctl",
    ["--endpoints", etcd!.endpoint, "get", "--prefix", "/registry/pods/", "--print-value-only"],
    { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { kind: "Pod", metadata: { name: "web" } });
  await b.delete("/registry/pods/default/web");
  await b.close();
});

test("etcd: two clients are two writers: CAS decides, and each sees the other's writes", {
  skip: unavailable,
}, async () => {
  const one = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/two" });
  const two = new EtcdBackend([etcd!.endpoint], { keyPrefix: "/two" });
  const a = await one.create("/a", 1);
  assert.equal((await two.get("/a"))?.value, 1);
  const results = await Promise.allSettled([
    one.update("/a", 2, a.modRevision),
    two.update("/a", 3, a.modRevision),
  ]);
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  const seen: number[] = [];
  const stop = await two.watch("/late/", await two.revision(), (e) => seen.push(e.value as number));
  await one.create("/late/x", 7);
  for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  stop();
  assert.deepEqual(seen, [7]);
  await Promise.all([one.close(), two.close()]);
});

test("etcd: an endpoint that is down is skipped; none answering is one line naming them", {
  skip: unavailable,
}, async () => {
  const dead = await closedEndpoint();
  const b = new EtcdBackend([dead, etcd!.endpoint]);
  assert.ok((await b.revision()) >= 1);
  const none = new EtcdBackend([dead]);
  await assert.rejects(none.get("/x"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "Unavailable");
    assert.match(e.message, new RegExp(`^cannot reach etcd \\(${dead}: ECONNREFUSED\\)$`));
    return true;
  });
});

test("etcd: the datastore choice is recorded in the state dir (0600) and opens etcd", {
  skip: unavailable,
}, async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), "tortie-etcd-state-"));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const spec = etcd!.endpoint.replace("http://", "etcd://");
  await chooseDatastore(stateDir, parseDatastore(spec));
  assert.equal(statSync(join(stateDir, "datastore.json")).mode & 0o777, 0o600);
  assert.equal(formatDatastore(readDatastore(stateDir)), spec);
  const store = openStateStore(stateDir);
  await store.backend.create("/registry/tortie-test/x", { x: 1 });
  // A state dir whose datastore holds a cluster keeps it.
  await assert.rejects(chooseDatastore(stateDir, { type: "file" }), { code: "Conflict" });
  await store.backend.delete("/registry/tortie-test/x");
  await chooseDatastore(stateDir, { type: "file" });
  assert.deepEqual(readDatastore(stateDir), { type: "file" });
  await store.backend.close();
  // An etcd that does not answer is not recorded.
  await assert.rejects(
    chooseDatastore(stateDir, parseDatastore((await closedEndpoint()).replace("http", "etcd"))),
    {
      code: "Unavailable",
    },
  );
  assert.deepEqual(readDatastore(stateDir), { type: "file" });
});

test("--datastore spellings", () => {
  assert.deepEqual(parseDatastore("file"), { type: "file" });
  assert.deepEqual(parseDatastore("etcd://127.0.0.1:2379"), {
    type: "etcd",
    endpoints: ["http://127.0.0.1:2379"],
  });
  assert.deepEqual(parseDatastore("etcd://127.0.0.1:2379,127.0.0.1:22379"), {
    type: "etcd",
    endpoints: ["http://127.0.0.1:2379", "http://127.0.0.1:22379"],
  });
  assert.deepEqual(parseDatastore("http://a:1,http://b:2").type, "etcd");
  assert.equal(formatDatastore(parseDatastore("http://a:1,b:2")), "etcd://a:1,etcd://b:2");
  assert.throws(() => parseDatastore("127.0.0.1:2379"), { code: "Usage" });
  assert.throws(() => parseDatastore("etcd://nohost"), { code: "Usage" });
  assert.throws(() => parseDatastore("https://127.0.0.1:2379"), /not supported yet: TLS to etcd/);
  const dir = mkdtempSync(join(tmpdir(), "tortie-ds-"));
  try {
    writeFileSync(join(dir, "datastore.json"), "{nope");
    assert.throws(() => readDatastore(dir), /datastore.json is damaged/);
    assert.equal(readFileSync(join(dir, "datastore.json"), "utf8"), "{nope");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("etcd: when etcd goes away, reads, history and watches fail in one line instead of hanging", {
  skip: unavailable,
}, async (t) => {
  const own = await startEtcd();
  t.after(() => own.stop());
  const b = new EtcdBackend([own.endpoint]);
  const from = await b.revision();
  await b.create("/gone/a", 1);
  await own.stop();
  const unreachable = { message: `cannot reach etcd (${own.endpoint}: ECONNREFUSED)` };
  await assert.rejects(b.get("/gone/a"), unreachable);
  await assert.rejects(b.history("/gone/", from), unreachable);
  await assert.rejects(
    b.watch("/gone/", from, () => {}),
    unreachable,
  );
  await b.close();
});

test("etcd: history on a fresh etcd, and history that skips keys outside the prefix", {
  skip: unavailable,
}, async (t) => {
  const own = await startEtcd();
  t.after(() => own.stop());
  const b = new EtcdBackend([own.endpoint], { keyPrefix: "/ns" });
  assert.deepEqual(await b.history("/", 0), []);
  const outside = new EtcdBackend([own.endpoint]);
  await outside.create("/nsx/a", 1); // shares the first letters of the prefix, but is not under it
  await b.create("/a", 2);
  await outside.create("/zzz", 3);
  assert.deepEqual(
    (await b.history("/", 0)).map((e) => [e.key, e.value]),
    [["/a", 2]],
  );
  await Promise.all([b.close(), outside.close()]);
});
