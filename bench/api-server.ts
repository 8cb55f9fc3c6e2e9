/**
 * The API server (`tortie serve`), over HTTPS, as a child process on a temporary state dir holding the lab with
 * yaobank; once on the file store and once on etcd (Debian's etcd on free loopback ports, when installed):
 *
 * - a one-shot `tortie kubectl get pods -A` forwarded to the server, and the same run locally
 *   (TORTIE_NO_SERVER=1), each anchored by the real kubectl (`kubectl get pods -A`) through the same server,
 *   interleaved so machine noise hits them alike;
 * - with 10k ConfigMaps in one namespace (made before the server starts, by one `tortie kubectl create -f`):
 *   creates (500 more ConfigMaps POSTed, 16 requests in flight), `GET /api/v1/configmaps` (every ConfigMap:
 *   the 10k and the lab's few; 4 in flight) and `GET` of one ConfigMap by name (16 in flight).
 *
 * The 10k are not POSTed through the server: there each create costs more as the store grows (the settle after
 * a write lists every object), and 10k of them take minutes on the file store (61/s measured, against 437/s on
 * etcd).
 *
 * ConfigMaps, not pods: no controller acts on a ConfigMap, so the figures are the server's and the store's
 * alone. 10k pods would set the scheduler, IPAM and the dataplane working while they are timed (and a pod the
 * server lists costs the same to serialize as a ConfigMap of its size).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { type EtcdServer, etcdUnavailable, startEtcd } from "../test/store/etcd-harness.ts";
import { fsyncAnchor } from "./anchors.ts";
import type { Anchor, RecordRow } from "./record.ts";
import { median } from "./record.ts";

const CREATE_CONCURRENCY = 16;
const CREATE_REQUESTS = 500;
const LIST_CONCURRENCY = 4;
const LIST_REQUESTS = 10;
const GET_CONCURRENCY = 16;
const GET_REQUESTS = 1000;
/** Iterations of the three one-shot commands (each iteration runs each once). */
const KUBECTL_ITERATIONS = 10;
const NAMESPACE = "bench";

interface Served {
  url: string;
  kubeconfig: string;
  agent: Agent;
  token: string;
  child: ChildProcess;
}

/** Runs bin/tortie to its end; throws with its stderr when it fails. */
function tortie(bin: string, env: NodeJS.ProcessEnv, args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`tortie ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

/** `tortie serve` as a child process; resolves once it listens. */
async function startServe(bin: string, env: NodeJS.ProcessEnv, stateDir: string): Promise<Served> {
  const child = spawn(process.execPath, [bin, "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tortie serve did not listen within 60 s: ${err}`)),
      60_000,
    );
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /serving the Kubernetes API at (https:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tortie serve exited with ${code}: ${err.trim()}`));
    });
  });
  const endpoint = JSON.parse(readFileSync(join(stateDir, "server", "endpoint.json"), "utf8"));
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: endpoint.caCertPem });
  return { url, kubeconfig: join(stateDir, "kubeconfig"), agent, token: endpoint.token, child };
}

async function stopServe(s: Served): Promise<void> {
  s.agent.destroy();
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise((resolve) => s.child.once("exit", resolve));
  s.child.kill("SIGTERM");
  await exited;
}

/** One request; resolves to the status and the body's size (the body is read, not parsed). */
function call(
  s: Served,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; bytes: number; text?: string }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.url}${path}`,
      {
        method,
        agent: s.agent,
        headers: {
          authorization: `Bearer ${s.token}`,
          accept: "application/json",
          ...(data === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(data) }),
        },
      },
      (res) => {
        let bytes = 0;
        const keep: Buffer[] = [];
        res.on("data", (c: Buffer) => {
          bytes += c.length;
          if ((res.statusCode ?? 0) >= 300) keep.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, bytes, text: Buffer.concat(keep).toString() }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** Runs `total` requests with `concurrency` in flight; returns the wall time and the bytes read. */
async function load(
  concurrency: number,
  total: number,
  one: (i: number) => Promise<{ status: number; bytes: number; text?: string }>,
  ok: number,
): Promise<{ ms: number; bytes: number }> {
  let next = 0;
  let bytes = 0;
  const t = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const r = await one(i);
      if (r.status !== ok) throw new Error(`request ${i}: HTTP ${r.status} ${r.text?.slice(0, 300) ?? ""}`);
      bytes += r.bytes;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { ms: performance.now() - t, bytes };
}

/** `count` ConfigMaps (and their namespace) into the stopped cluster's store, with one `tortie kubectl create -f`. */
function preload(bin: string, env: NodeJS.ProcessEnv, dir: string, count: number): number {
  const namespace = join(dir, "namespace.yaml");
  writeFileSync(
    namespace,
    JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }),
  );
  tortie(bin, env, ["kubectl", "create", "-f", namespace]);
  const docs = [];
  for (let i = 0; i < count; i++) docs.push(JSON.stringify(configMap(i)));
  const file = join(dir, "configmaps.yaml");
  writeFileSync(file, docs.join("\n---\n"));
  const t = performance.now();
  tortie(bin, env, ["kubectl", "create", "-f", file]);
  return performance.now() - t;
}

function configMap(i: number) {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `cm-${i}`, namespace: NAMESPACE, labels: { app: `a${i % 10}` } },
    data: { key: `value-${i}`, more: "x".repeat(100) },
  };
}

function wall(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; out: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", env });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
  return { ms, out: r.stdout };
}

/** The three one-shot commands, interleaved; rows anchored by the real kubectl through the same server. */
function oneShotRows(record: RecordRow, bin: string, env: NodeJS.ProcessEnv, s: Served, store: string): void {
  const real = ["/usr/bin/kubectl", ["--kubeconfig", s.kubeconfig, "get", "pods", "-A"]] as const;
  const tortieArgs = [bin, "kubectl", "get", "pods", "-A"];
  const forwardedEnv = { ...env, TORTIE_NO_SERVER: "" };
  const localEnv = { ...env, TORTIE_NO_SERVER: "1" };
  // Untimed once each: the tortie output must be the real kubectl's (same table, same server).
  const want = wall(real[0], [...real[1]], env).out;
  const got = wall(process.execPath, tortieArgs, forwardedEnv).out;
  const strip = (t: string) => t.replace(/\s+\S+$/gm, ""); // the AGE column may tick between the two runs
  if (strip(got) !== strip(want))
    throw new Error(`tortie and kubectl print different tables:\n${got}\n${want}`);
  const times = { real: [] as number[], forwarded: [] as number[], local: [] as number[] };
  for (let i = 0; i < KUBECTL_ITERATIONS; i++) {
    times.real.push(wall(real[0], [...real[1]], env).ms);
    times.forwarded.push(wall(process.execPath, tortieArgs, forwardedEnv).ms);
    times.local.push(wall(process.execPath, tortieArgs, localEnv).ms);
  }
  const anchor: Anchor = { what: "kubectl get pods -A (real kubectl, same server)", ms: median(times.real) };
  const note = `median of ${KUBECTL_ITERATIONS}, interleaved; ${want.trim().split("\n").length - 1} pods`;
  record(`tortie kubectl get pods -A through the server, ${store}`, 1, median(times.forwarded), note, anchor);
  record(
    `tortie kubectl get pods -A locally (TORTIE_NO_SERVER=1), ${store}`,
    1,
    median(times.local),
    note,
    anchor,
  );
}

async function serverRows(
  record: RecordRow,
  s: Served,
  store: string,
  objects: number,
  createAnchor: Anchor | undefined,
): Promise<void> {
  const count = Math.max(1, Math.round(CREATE_REQUESTS * Math.min(1, objects / 10_000)));
  const creates = await load(
    CREATE_CONCURRENCY,
    count,
    (i) => call(s, "POST", `/api/v1/namespaces/${NAMESPACE}/configmaps`, configMap(objects + i)),
    201,
  );
  record(
    `POST ConfigMap (create) through the server, ${objects.toLocaleString("en-US")} in the store, ${CREATE_CONCURRENCY} in flight, ${store}`,
    count,
    creates.ms,
    "HTTPS, keep-alive; each a durable write",
    createAnchor,
  );

  const list = await call(s, "GET", "/api/v1/configmaps");
  if (list.status !== 200) throw new Error(`GET /api/v1/configmaps: HTTP ${list.status}`);
  const lists = await load(LIST_CONCURRENCY, LIST_REQUESTS, () => call(s, "GET", "/api/v1/configmaps"), 200);
  record(
    `GET /api/v1/configmaps (${objects.toLocaleString("en-US")}+ objects), ${LIST_CONCURRENCY} in flight, ${store}`,
    LIST_REQUESTS,
    lists.ms,
    `requests; ${(lists.bytes / LIST_REQUESTS / 1e6).toFixed(1)} MB JSON each`,
  );
  const gets = await load(
    GET_CONCURRENCY,
    GET_REQUESTS,
    (i) => call(s, "GET", `/api/v1/namespaces/${NAMESPACE}/configmaps/cm-${(i * 7919) % objects}`),
    200,
  );
  record(
    `GET one ConfigMap by name, ${GET_CONCURRENCY} in flight, ${store}`,
    GET_REQUESTS,
    gets.ms,
    `requests; ${objects.toLocaleString("en-US")} in the namespace`,
  );
}

/**
 * Records the rows above on the file store, then on etcd (skipped, with the reason on stderr, when Debian's etcd
 * is not installed). `scale` scales the number of ConfigMaps (BENCH_SCALE).
 */
export async function benchApiServer(
  record: RecordRow,
  bin: string,
  tmp: () => string,
  scale: number,
): Promise<void> {
  const objects = Math.max(1, Math.round(10_000 * scale));
  const kubectlMissing = spawnSync("/usr/bin/kubectl", ["version", "--client"]).status !== 0;
  const stores: { name: string; etcd: boolean }[] = [{ name: "file store", etcd: false }];
  const noEtcd = etcdUnavailable();
  if (noEtcd) console.error(`bench api-server: ${noEtcd}`);
  else stores.push({ name: "etcd", etcd: true });
  for (const store of stores) {
    const stateDir = tmp();
    const env = { ...process.env, TORTIE_STATE_DIR: stateDir, TORTIE_SOURCES: "", TORTIE_NO_SERVER: "1" };
    let etcd: EtcdServer | undefined;
    let served: Served | undefined;
    try {
      if (store.etcd) etcd = await startEtcd();
      const datastore = etcd ? ["--datastore", etcd.endpoint.replace("http://", "etcd://")] : [];
      // `up` starts no server here (TORTIE_NO_SERVER=1): the bench runs its own, in the foreground.
      tortie(bin, env, ["up", "--app", "yaobank", ...datastore]);
      served = await startServe(bin, env, stateDir);
      if (kubectlMissing) console.error("bench api-server: no /usr/bin/kubectl: no one-shot kubectl rows");
      else oneShotRows(record, bin, env, served, store.name);
      await stopServe(served);
      served = undefined;
      const ms = preload(bin, env, stateDir, objects);
      console.error(
        `bench api-server: ${objects} ConfigMaps created (${store.name}) in ${(ms / 1000).toFixed(1)} s`,
      );
      served = await startServe(bin, env, stateDir);
      const anchor = store.etcd ? undefined : fsyncAnchor(stateDir, 200);
      await serverRows(record, served, store.name, objects, anchor);
    } finally {
      if (served) await stopServe(served);
      spawnSync(process.execPath, [bin, "down"], { env, stdio: "ignore" });
      await etcd?.stop();
    }
  }
}
