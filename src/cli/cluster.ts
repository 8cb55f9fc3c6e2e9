import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command, Option } from "commander";
import { hostBirdError, type SimCluster } from "../agent/index.ts";
import { type ApiObject, parseManifests } from "../api/index.ts";
import {
  BUILT_IN_TOPOLOGIES,
  bootstrapCluster,
  conditionIsTrue,
  controlKinds,
  readTopology,
  reconcileCluster,
} from "../control/index.ts";
import { Ipam } from "../ipam/index.ts";
import { bundledApp, bundledAppNames, pinToNodes } from "../lab/index.ts";
import { isTortieError, NotFoundError, TortieError, UnsupportedError } from "../lib/index.ts";
import { formatCidr } from "../net/index.ts";
import { chooseDatastore, parseDatastore, type StoreBackend } from "../store/index.ts";
import { readFileBounded } from "./bounded-read.ts";
import type { CliContext } from "./context.ts";
import { asControllerLeader } from "./controller-lock.ts";
import { forgetSimState, openSimCluster, saveSimState } from "./exec.ts";

/**
 * Runs the controllers until the cluster settles (no-op when no cluster is up). On a state dir, one process at
 * a time does (the controllers' leader lock): another process settling waits its turn, then settles what is left.
 */
export async function settleCluster(ctx: CliContext): Promise<void> {
  const store = ctx.store();
  const settle = () => reconcileCluster(store, new Ipam(store.backend, { now: ctx.now }), ctx.now);
  if (ctx.stateDir && existsSync(join(ctx.stateDir, "store"))) await asControllerLeader(ctx.stateDir, settle);
  else await settle();
}

/** The linux dataplane's CLI side, loaded only when a command needs it (the sim's commands never do). */
const linuxSyncModule = () => import("./linux-sync.ts");

/** Passes over the store `down` makes while other processes keep writing, before it gives up. */
const DOWN_PASSES = 50;

/** Every object of the cluster is under the registry layout; on a shared etcd, keys outside it are not tortie's. */
const CLUSTER_KEYS = "/registry/";

/**
 * Deletes every key of the cluster, unconditionally (a write racing `down` does not fail it; a key another process deleted first
 * is done), listing again until the store is empty. Returns how many keys this process removed.
 */
async function removeEverything(backend: StoreBackend): Promise<number> {
  let removed = 0;
  for (let pass = 1; pass <= DOWN_PASSES; pass++) {
    const { items } = await backend.list(CLUSTER_KEYS);
    if (items.length === 0) return removed;
    for (const item of items) {
      try {
        await backend.delete(item.key);
        removed++;
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
  }
  const { items } = await backend.list(CLUSTER_KEYS);
  if (items.length === 0) return removed;
  throw new TortieError(
    "Conflict",
    `other tortie processes kept writing while the cluster was taken down (${items.length} objects left after ${DOWN_PASSES} passes); run "tortie down" again`,
  );
}

function loadTopology(spec: string): ApiObject {
  const builtIn = BUILT_IN_TOPOLOGIES[spec];
  if (builtIn) return structuredClone(builtIn);
  let text: string;
  try {
    // Bounded: `up --topology /dev/zero` is refused instead of read until memory runs out.
    text = readFileBounded(spec);
  } catch (e) {
    if (isTortieError(e)) throw e;
    throw new TortieError(
      "NotFound",
      `unknown topology "${spec}": not a built-in (${Object.keys(BUILT_IN_TOPOLOGIES).join(", ")}) and no such file`,
    );
  }
  const docs = parseManifests(text, spec);
  if (docs.length !== 1 || docs[0]!.object.kind !== "Topology")
    throw new TortieError("Invalid", `${spec}: a topology file holds exactly one document of kind Topology`);
  checkHostBird(spec, docs[0]!.object);
  return docs[0]!.object;
}

/** An external host's own BIRD configuration must be one BIRD 2 would start with. */
function checkHostBird(spec: string, topology: ApiObject): void {
  const hosts: unknown = topology.spec?.hosts;
  if (!Array.isArray(hosts)) return;
  for (const [i, h] of hosts.entries()) {
    // A cluster host's `bird` is refused by the Topology kind itself (Forbidden), whatever its text.
    if (typeof h?.bird !== "string" || h.role !== "external") continue;
    const error = hostBirdError(h.bird);
    if (error)
      throw new TortieError(
        "Invalid",
        `${spec}: spec.hosts[${i}].bird: host ${h.name}'s BIRD configuration does not parse: ${error}`,
      );
  }
}

async function deployApp(ctx: CliContext, name: string): Promise<void> {
  const app = bundledApp(name);
  if (!app)
    throw new TortieError("Invalid", `unknown app "${name}" (known: ${bundledAppNames().join(", ")})`);
  const store = ctx.store();
  const topology = await readTopology(store);
  const nodes = topology?.hosts.filter((h) => h.role !== "external") ?? [];
  const workers = nodes.filter((h) => h.role === "worker");
  const objects = pinToNodes(
    parseManifests(app.text, app.source).map((e) => e.object),
    (workers.length ? workers : nodes).map((h) => h.name),
  );
  for (const object of objects) {
    const def = store.kindOf(object);
    const live = await store.get(def, object.metadata.name!, object.metadata.namespace);
    if (!live) await store.create(object);
  }
  await settleCluster(ctx);
  const deployments = await store.list(controlKinds.Deployment, app.namespace);
  const notReady = deployments.filter((d) => (d.status?.readyReplicas ?? 0) < d.spec.replicas);
  if (notReady.length > 0)
    throw new TortieError(
      "Internal",
      `${name} is not ready: ${notReady.map((d) => `deployment ${d.metadata.name} has ${d.status?.readyReplicas ?? 0}/${d.spec.replicas} ready`).join("; ")}`,
    );
  ctx.out(
    `app ${name}: ${deployments.map((d) => `${d.metadata.name} ${d.spec.replicas}/${d.spec.replicas}`).join(", ")} ready\n`,
  );
}

/** One line on the sim dataplane: what it programmed, and what it had to leave out. */
function simSummary(cluster: SimCluster): string {
  const hosts = cluster.topology.hosts.length;
  const pods = [...cluster.kernels.keys()].filter((name) => name.includes("/")).length;
  const noBird = [...cluster.bgp.failures.keys()];
  const left = cluster.unsupported.length - noBird.length;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  return `running: ${plural(hosts, "host")} and ${plural(pods, "pod namespace")} programmed${left ? `; ${plural(left, "policy rule")} left out (not supported yet)` : ""}${noBird.length ? `; BIRD not running on ${noBird.join(", ")} (tortie exec says why)` : ""}`;
}

interface UpOptions {
  topology: string;
  dataplane?: string;
  app?: string;
  proxyMode?: string;
  datastore?: string;
  /** false with --no-serve */
  serve: boolean;
  /** false with --no-cni */
  cni: boolean;
}

/** `up --datastore`: records the state dir's datastore before anything opens the store. */
async function useDatastore(ctx: CliContext, spec: string): Promise<void> {
  const wanted = parseDatastore(spec);
  if (ctx.stateDir === undefined)
    throw new TortieError("Invalid", "--datastore needs a state dir; this context keeps its store in memory");
  await chooseDatastore(ctx.stateDir, wanted);
}

export function lifecycleProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  program
    .command("up")
    .description("build the cluster a topology describes (idempotent), optionally with a sample app")
    .option(
      "--topology <name|file>",
      `built-in topology (${Object.keys(BUILT_IN_TOPOLOGIES).join(", ")}) or a Topology YAML file`,
      "lab",
    )
    .addOption(
      new Option(
        "--dataplane <kind>",
        "which kernel runs the cluster: sim (default) or linux (root: namespaces, iptables, BIRD, apps)",
      ).choices(["sim", "linux"]),
    )
    .option(
      "--app <name>",
      `deploy a sample app and wait until it is ready (${bundledAppNames().join(", ")})`,
    )
    .addOption(
      new Option("--proxy-mode <mode>", "kube-proxy's mode on every node (default iptables)").choices([
        "iptables",
        "nftables",
      ]),
    )
    .option(
      "--datastore <file|etcd://host:port,...>",
      "where the cluster's objects live: the state dir's file store (default), or etcd v3 endpoints (recorded in the state dir)",
    )
    .option("--no-serve", "do not start the API server (tortie serve) in the background")
    .option(
      "--no-cni",
      "Kubernetes without Calico, as before the operator install: nodes NotReady, CoreDNS Pending (install with kubectl create -f .../tigera-operator.yaml and an Installation)",
    )
    .action(async (o: UpOptions) => {
      if (o.dataplane === "linux") (await linuxSyncModule()).assertLinuxAvailable(ctx);
      if (o.datastore !== undefined) await useDatastore(ctx, o.datastore);
      if (o.app && !bundledApp(o.app))
        throw new TortieError("Invalid", `unknown app "${o.app}" (known: ${bundledAppNames().join(", ")})`);
      if (o.app && !o.cni)
        throw new TortieError(
          "Invalid",
          `--app ${o.app} needs a CNI: without Calico no pod gets an address (leave out --no-cni, or install Calico first and apply the app with kubectl)`,
        );
      const topology = loadTopology(o.topology);
      if (o.proxyMode) topology.spec.kubeProxyMode = o.proxyMode;
      const store = ctx.store();
      // Without --dataplane, a running cluster keeps its own; a dataplane is changed only by `down` then `up`.
      const running = await readTopology(store);
      const dataplane = o.dataplane ?? running?.dataplane ?? "sim";
      if (running && running.name === topology.metadata.name && running.dataplane !== dataplane)
        throw new TortieError(
          "Conflict",
          `cluster ${running.name} is up on the ${running.dataplane} dataplane; run "tortie down" first to bring it up on ${dataplane}`,
        );
      if (dataplane === "linux" && !o.cni)
        throw new UnsupportedError("--no-cni on the linux dataplane (use the sim)");
      if (dataplane === "linux") {
        const linux = await linuxSyncModule();
        linux.assertLinuxAvailable(ctx);
        linux.assertBirdAvailable(ctx, topology.spec?.hosts);
        linux.assertClusterNameFree(ctx, String(topology.metadata.name));
        await linux.assertDefaultPoolSupported(topology.spec);
        topology.spec.dataplane = "linux";
      }
      const { topology: t, created } = await bootstrapCluster(store, topology, ctx.now(), { cni: o.cni });
      await settleCluster(ctx);
      const nodes = t.hosts.filter((h) => h.role !== "external").map((h) => h.name);
      const external = t.hosts.filter((h) => h.role === "external").map((h) => h.name);
      ctx.out(
        `cluster ${t.name} ${created ? "is up" : "was already up"}: nodes ${nodes.join(", ")}` +
          `${external.length ? `; external hosts ${external.join(", ")}` : ""}; pods ${formatCidr(t.clusterCIDR)}, services ${formatCidr(t.serviceCIDR)}\n`,
      );
      if (o.app) await deployApp(ctx, o.app);
      if (t.dataplane === "linux") {
        const linux = await linuxSyncModule();
        // A second `up` applies only what differs from the record and repairs what drifted (nothing, on a healthy cluster).
        const { description } = await linux.syncLinux(ctx, { checkDrift: true });
        ctx.out(`dataplane linux: ${linux.linuxSummary(description)}\n`);
      } else {
        const sim = await openSimCluster(ctx);
        ctx.out(`dataplane sim: ${simSummary(sim)}\n`);
        // The agents start with the cluster: BIRD's start and its first sessions date from `up`.
        saveSimState(ctx, sim);
      }
      // The API server (and, through it, tortie's own commands) on the cluster just built.
      if (o.serve && ctx.startServer) await ctx.startServer();
    });
  program
    .command("down")
    .description("remove the cluster and everything in it from this state dir")
    .action(async () => {
      // The API server first: it would otherwise settle and sync what is being taken down.
      if (ctx.stateDir) await (await import("./serve-lifecycle.ts")).stopServer(ctx.stateDir);
      const store = ctx.store();
      const topology = await readTopology(store);
      // The kernel first: its namespaces and processes are found by the record in the state dir, also when an
      // earlier tortie was killed mid-way or the store is gone.
      // Under the kernel's lock: a sync waiting for it (an `up` or a write's, in another process) finds no cluster.
      const linux = await linuxSyncModule();
      const { swept, removed } = await linux.withLinuxLock(ctx, async () => ({
        swept: await linux.takeDownLinux(ctx, topology),
        removed: await removeEverything(store.backend),
      }));
      forgetSimState(ctx);
      ctx.out(
        topology
          ? `cluster ${topology.name} is down (${removed} objects removed${swept})\n`
          : `no cluster was up (${removed} objects removed${swept})\n`,
      );
    });
  program
    .command("status")
    .description("nodes, dataplane and component health, one line each")
    .action(async () => {
      const store = ctx.store();
      const t = await readTopology(store);
      if (!t) throw new TortieError("NotFound", 'no cluster is up in this state dir; run "tortie up"');
      const pods = await store.list(controlKinds.Pod);
      const nodes = new Map((await store.list(controlKinds.Node)).map((n) => [n.metadata.name!, n]));
      const linux = t.dataplane === "linux" ? await (await linuxSyncModule()).linuxStatus(ctx) : undefined;
      ctx.out(
        linux
          ? `cluster ${t.name}: dataplane linux, ${linux.summary}\n`
          : `cluster ${t.name}: dataplane sim, ${simSummary(await openSimCluster(ctx))}\n`,
      );
      for (const h of t.hosts) {
        const bird = linux?.bird.get(h.name);
        const birdText = bird === undefined ? "" : `, BIRD ${bird}`;
        if (h.role === "external") {
          ctx.out(`host ${h.name}: external, ${h.address}${birdText}\n`);
          continue;
        }
        const ready = conditionIsTrue(nodes.get(h.name), "Ready");
        const running = pods.filter(
          (p) => p.spec.nodeName === h.name && p.status?.phase === "Running",
        ).length;
        ctx.out(
          `node ${h.name}: ${ready ? "Ready" : "NotReady"}, ${h.role}, ${h.address}, ${running} ${running === 1 ? "pod" : "pods"} running${birdText}\n`,
        );
      }
      const pending = pods.filter((p) => p.status?.phase !== "Running");
      ctx.out(`pods: ${pods.length - pending.length} running, ${pending.length} not running\n`);
      const calico = await store.get(controlKinds.TigeraStatus, "calico");
      const available = conditionIsTrue(calico, "Available");
      ctx.out(`calico: ${available ? "Available" : "not available"}\n`);
      ctx.out(`kube-proxy: ${t.kubeProxyMode ?? "iptables"} mode\n`);
    });
  return program;
}
