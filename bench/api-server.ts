/**
 * The API server (`tortie serve`), over HTTPS, as a child process on a temporary state dir holding the lab with
 * yaobank; once on the file store and once on etcd (Debian's etcd on free loopback ports, when installed):
 *
 * - a one-shot `tortie kubectl get pods -A` forwarded to the server, and the same run locally
 *   (TORTIE_NO_SERVER=1), each anchored by the real kubectl (`kubectl get pods -A`) through the same server,
 *   interleaved so machine noise hits them alike;
 * - with 10k ConfigMaps in one namespace (made before the server starts, by one `tortie kubectl create -f`):
 *   creates (500 more ConfigMaps POSTed, 16 requests in flight), `GET /api/v1/configmaps` (every ConfigMap:
 *   the 10k and the lab's few; 4 in flight) and `GET` of one ConfigMap by name (16 in flight);
 * - then, on the same store, with 10k Pods added in another namespace (again by one `tortie kubectl create -f`
 *   before the server starts): `GET /api/v1/pods` as JSON and as the Table kubectl asks for (4 in flight), a
 *   one-shot `tortie kubectl get pods -n bench-pods` (forwarded) anchored by the real kubectl through the same
 *   server, and creates (POSTed pods, 16 in flight).
 *
 * The 10k are not POSTed through the server: there each create costs more as the store grows (the settle after
 * a write lists every object), and 10k of them take minutes.
 *
 * ConfigMaps: no controller acts on a ConfigMap, so those figures are the server's and the store's alone. The
 * pods are real pods the controllers act on: `hostNetwork: true` and pinned with `spec.nodeName` to the lab's
 * three nodes (round robin), so the scheduler and IPAM have nothing to do (the lab's default pool has 4,096
 * addresses) and the kubelet controller marks each Running with its node's address; the preload's settle does
 * that for the 10k, and the settle after each POST for the new ones, while the creates are timed.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { openStateStore } from "../src/store/index.ts";
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
const POD_NAMESPACE = "bench-pods";
const POD_CREATE_REQUESTS = 200;
/** What kubectl asks a list for: the server's Table, printed as it comes. */
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io";
/** Iterations of the one-shot `get pods -n bench-pods` (10k rows), real kubectl and tortie interleaved. */
const POD_TABLE_ITERATIONS = 3;

interface Served {
  url: string;
  kubeconfig: string;
  agent: Agent;
  ca: string;
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
  return {
    url,
    kubeconfig: join(stateDir, "kubeconfig"),
    agent,
    ca: endpoint.caCertPem,
    token: endpoint.token,
    child,
  };
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
  accept = "application/json",
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
          accept,
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

/**
 * `count` objects made by `make` (and their namespace) into the stopped cluster's store, with one
 * `tortie kubectl create -f` (which settles the controllers after it); returns its wall time.
 */
function preload(
  bin: string,
  env: NodeJS.ProcessEnv,
  dir: string,
  ns: string,
  count: number,
  make: (i: number) => unknown,
): number {
  const namespace = join(dir, `${ns}.namespace.yaml`);
  writeFileSync(namespace, JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }));
  tortie(bin, env, ["kubectl", "create", "-f", namespace]);
  const docs = [];
  for (let i = 0; i < count; i++) docs.push(JSON.stringify(make(i)));
  const file = join(dir, `${ns}.yaml`);
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

/** Pod creates in flight while the store is preloaded (the file store commits them in groups, etcd pipelines them). */
const PRELOAD_IN_FLIGHT = 64;

/**
 * `count` pods (and their namespace) into the stopped cluster's store, then one `tortie kubectl label` of their
 * namespace: that command's settle is where the kubelet controller starts them all. The pods are created through
 * the store library, PRELOAD_IN_FLIGHT at a time, not by one `tortie kubectl create -f` as the ConfigMaps are:
 * that creates one at a time, each a round trip to etcd, and 10k took minutes there. Returns the wall time.
 */
async function preloadPods(
  bin: string,
  env: NodeJS.ProcessEnv,
  stateDir: string,
  count: number,
): Promise<number> {
  const t = performance.now();
  tortie(bin, env, ["kubectl", "create", "namespace", POD_NAMESPACE]);
  const client = openStateStore(stateDir);
  let next = 0;
  const worker = async () => {
    while (next < count) await client.create(pod(next++));
  };
  try {
    await Promise.all(Array.from({ length: PRELOAD_IN_FLIGHT }, worker));
    tortie(bin, env, ["kubectl", "label", "namespace", POD_NAMESPACE, "bench=pods"]);
    const pods = await client.list(client.kindOf(pod(0)), POD_NAMESPACE);
    const waiting = pods.filter((p) => p.status?.phase !== "Running").length;
    if (pods.length !== count || waiting > 0)
      throw new Error(`${pods.length} bench pods, ${waiting} of them not Running after the settle`);
  } finally {
    await client.backend.close();
  }
  return performance.now() - t;
}

/** The lab's nodes, which the bench's pods are pinned to. */
const LAB_NODES = ["control", "node1", "node2"];

/** A host-network pod pinned to a node: no scheduling, no pod address; the kubelet controller starts it. */
function pod(i: number) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `pod-${i}`, namespace: POD_NAMESPACE, labels: { app: `a${i % 10}` } },
    spec: {
      nodeName: LAB_NODES[i % LAB_NODES.length],
      hostNetwork: true,
      containers: [{ name: "pause", image: "registry.k8s.io/pause:3.9" }],
    },
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

/** The pod rows, on a store holding `pods` bench pods (and the ConfigMaps before them). */
async function podRows(
  record: RecordRow,
  bin: string,
  env: NodeJS.ProcessEnv,
  s: Served,
  store: string,
  pods: number,
  createAnchor: Anchor | undefined,
): Promise<void> {
  const count = pods.toLocaleString("en-US");
  for (const [format, accept] of [
    ["JSON", "application/json"],
    ["a Table (kubectl's Accept)", TABLE],
  ] as const) {
    const first = await call(s, "GET", "/api/v1/pods", undefined, accept);
    if (first.status !== 200) throw new Error(`GET /api/v1/pods as ${format}: HTTP ${first.status}`);
    const lists = await load(
      LIST_CONCURRENCY,
      LIST_REQUESTS,
      () => call(s, "GET", "/api/v1/pods", undefined, accept),
      200,
    );
    record(
      `GET /api/v1/pods as ${format} (${count}+ pods), ${LIST_CONCURRENCY} in flight, ${store}`,
      LIST_REQUESTS,
      lists.ms,
      `requests; ${(lists.bytes / LIST_REQUESTS / 1e6).toFixed(1)} MB each`,
    );
  }

  if (!kubectlMissing()) {
    const args = ["get", "pods", "-n", POD_NAMESPACE];
    const real = ["/usr/bin/kubectl", ["--kubeconfig", s.kubeconfig, ...args]] as const;
    const forwardedEnv = { ...env, TORTIE_NO_SERVER: "" };
    const want = wall(real[0], [...real[1]], env).out;
    const got = wall(process.execPath, [bin, "kubectl", ...args], forwardedEnv).out;
    const strip = (t: string) => t.replace(/\s+\S+$/gm, ""); // the AGE column may tick between the two runs
    if (strip(got) !== strip(want))
      throw new Error(
        `tortie and kubectl print different pod tables (${got.length} and ${want.length} chars)`,
      );
    const times = { real: [] as number[], forwarded: [] as number[] };
    for (let i = 0; i < POD_TABLE_ITERATIONS; i++) {
      times.real.push(wall(real[0], [...real[1]], env).ms);
      times.forwarded.push(wall(process.execPath, [bin, "kubectl", ...args], forwardedEnv).ms);
    }
    record(
      `tortie kubectl get pods -n ${POD_NAMESPACE} through the server (${count} rows), ${store}`,
      1,
      median(times.forwarded),
      `median of ${POD_TABLE_ITERATIONS}, interleaved`,
      { what: `kubectl get pods -n ${POD_NAMESPACE} (real kubectl, same server)`, ms: median(times.real) },
    );
  }

  // The kubectl runs above left the agent's sockets idle for seconds: the server may close them as one is reused.
  s.agent.destroy();
  s.agent = new Agent({ keepAlive: true, maxSockets: 64, ca: s.ca });
  const createCount = Math.max(1, Math.round(POD_CREATE_REQUESTS * Math.min(1, pods / 10_000)));
  const creates = await load(
    CREATE_CONCURRENCY,
    createCount,
    (i) => call(s, "POST", `/api/v1/namespaces/${POD_NAMESPACE}/pods`, pod(pods + i)),
    201,
  );
  record(
    `POST Pod (create, host network, pinned) through the server, ${count} pods in the store, ${CREATE_CONCURRENCY} in flight, ${store}`,
    createCount,
    creates.ms,
    "HTTPS, keep-alive; each a durable write; the settles that start the pods run meanwhile in the server",
    createAnchor,
  );
}

const kubectlMissing = () => spawnSync("/usr/bin/kubectl", ["version", "--client"]).status !== 0;

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
      if (kubectlMissing()) console.error("bench api-server: no /usr/bin/kubectl: no one-shot kubectl rows");
      else oneShotRows(record, bin, env, served, store.name);
      await stopServe(served);
      served = undefined;
      const ms = preload(bin, env, stateDir, NAMESPACE, objects, configMap);
      console.error(
        `bench api-server: ${objects} ConfigMaps created (${store.name}) in ${(ms / 1000).toFixed(1)} s`,
      );
      served = await startServe(bin, env, stateDir);
      const anchor = store.etcd ? undefined : fsyncAnchor(stateDir, 200);
      await serverRows(record, served, store.name, objects, anchor);
      await stopServe(served);
      served = undefined;
      const podMs = await preloadPods(bin, env, stateDir, objects);
      console.error(
        `bench api-server: ${objects} pods created and running (${store.name}) in ${(podMs / 1000).toFixed(1)} s`,
      );
      served = await startServe(bin, env, stateDir);
      await podRows(record, bin, env, served, store.name, objects, anchor);
    } finally {
      if (served) await stopServe(served);
      spawnSync(process.execPath, [bin, "down"], { env, stdio: "ignore" });
      await etcd?.stop();
    }
  }
}
