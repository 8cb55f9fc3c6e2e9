/**
 * The real kernel as a cluster's dataplane: one network namespace per host (`tt-<cluster>-<host>`) and per
 * running pod, an underlay namespace (`tt-<cluster>`) whose bridge joins the hosts' uplinks, the rendered rules
 * loaded with the kernel's own tools, real BIRD per host and the apps as real processes in the pods' namespaces.
 * What it made is written to <stateDir>/linux/record.json before it is made, so `destroy` (or a later
 * `sweepLinuxCluster`) finds everything even after a crash.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type ClusterDataplane,
  type DataplaneKernel,
  diffNodeDataplane,
  KERNEL_QUERY_COMMANDS,
  type KernelCommandResult,
  type KernelQuery,
  type LinkSpec,
  type NodeDataplane,
  normaliseKernelQuery,
  type ProcessSpec,
} from "../../calc/index.ts";
import { deepEqual, TortieError } from "../../lib/index.ts";
import { birdDir, birdSocketPath, reconfigureBird, startBird, writeBirdFiles } from "./bird-daemon.ts";
import { type NamespaceDrift, namespaceDrift } from "./drift.ts";
import { DEFAULT_TIMEOUT_MS, inNetns } from "./exec.ts";
import { type BirdBinaries, bird2Binaries, birdUnavailable } from "./host-tools.ts";
import { modeRefusal } from "./mode-refusals.ts";
import { clusterPrefix, namespaceNames, underlayNetns } from "./names.ts";
import {
  createNetns,
  ensureUnderlay,
  type NamespacePlan,
  programAddressesRoutes,
  programLinks,
  programRules,
} from "./namespace-programmer.ts";
import {
  type RecordedProcess,
  recorded,
  runsIn,
  sameProcess,
  startInNetns,
  stopProcess,
} from "./processes.ts";
import { type LinuxRecord, linuxDir, markRecordPending, readRecord, writeRecord } from "./record.ts";
import { existingNetns, markOwner, netnsOwner, removeNetns, sweepLinuxCluster } from "./sweep.ts";
import { hasTunnelState, tunnelDrift } from "./tunnel-drift.ts";
import { programForwarding, programTunnelLinks } from "./tunnel-programmer.ts";
import {
  awaitWireguard,
  syncWireguard,
  wireguardAnswers,
  wireguardGoArgv,
  wireguardSocketDir,
  withWireguardSockets,
} from "./wireguard-device.ts";

/** The record's key of a host's wireguard-go (beside `<host>/bird` and `<host>/<process id>`). */
const WIREGUARD_GO = "wireguard-go";

export interface LinuxDataplaneOptions {
  /** The topology's name. */
  cluster: string;
  /** <stateDir>/linux/ holds the record, BIRD's dirs and sockets, pid files and the apps' output. */
  stateDir: string;
  /** The command that runs an app (the CLI passes tortie's own), or undefined when the image runs nothing. */
  processArgv(p: ProcessSpec, host: string): string[] | undefined;
  /** Default: the record's (resolved at the first apply), else bird2Binaries() from the environment. */
  birdBinaries?: BirdBinaries;
  /**
   * The record as the caller just read it (`readRecord`), holding the state dir's lock so no other process writes
   * it meanwhile: the constructor and the first apply use it instead of reading record.json again.
   */
  record?: LinuxRecord;
}

/** What `apply` reprograms besides the difference from `previous`. */
export interface ApplyOptions {
  /**
   * Namespaces (the cluster's names) to reconcile in full against what the kernel holds, as after a crash:
   * the repair of drift `drift()` found there.
   */
  reconcile?: string[];
}

function fileSafe(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, "_");
}

export class LinuxDataplane implements DataplaneKernel {
  private readonly o: LinuxDataplaneOptions;
  private readonly binaries: BirdBinaries;
  private readonly dir: string;
  /** The description being applied (so `netns` answers for namespaces an apply is creating). */
  private current: ClusterDataplane | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** The caller's record, until the first apply takes it (later applies read what the one before wrote). */
  private given: LinuxRecord | undefined;

  constructor(o: LinuxDataplaneOptions) {
    clusterPrefix(o.cluster); // validates the name
    this.o = o;
    this.dir = linuxDir(o.stateDir);
    // BIRD's paths are resolved once, at the first apply, and kept in the record (TORTIE_BIRD2_DIR is `up`'s).
    this.given = o.record;
    let saved: BirdBinaries | undefined;
    try {
      saved = (o.record ?? readRecord(o.stateDir))?.birdBinaries;
    } catch {}
    // A saved path that has gone (BIRD 2 moved) is resolved again from the environment.
    const usable = saved && !birdUnavailable("bird2", saved);
    this.binaries = o.birdBinaries ?? (usable ? saved! : bird2Binaries());
  }

  private description(): ClusterDataplane | undefined {
    return this.current ?? this.lastApplied();
  }

  lastApplied(): ClusterDataplane | undefined {
    return (this.given ?? readRecord(this.o.stateDir))?.applied;
  }

  netns(target: string): string {
    const d = this.description();
    const n = d && namespaceNames(d).get(target);
    if (!n)
      throw new TortieError(
        "NotFound",
        `no namespace "${target}" in cluster ${this.o.cluster} on the linux dataplane`,
      );
    return n.netns;
  }

  birdSocket(host: string): string {
    return birdSocketPath(this.dir, host);
  }

  birdc(host: string): string {
    const h = this.description()?.hosts.find((x) => x.host === host);
    if (!h?.bird) throw new TortieError("NotFound", `host ${host} runs no BIRD`);
    return this.binaries[h.bird.dialect].birdc;
  }

  apply(next: ClusterDataplane, previous?: ClusterDataplane, options: ApplyOptions = {}): Promise<void> {
    const run = this.queue.then(() => this.applyNow(next, previous, new Set(options.reconcile ?? [])));
    this.queue = run.catch(() => {});
    return run;
  }

  private emptyRecord(): LinuxRecord {
    return {
      version: 1,
      cluster: this.o.cluster,
      prefix: clusterPrefix(this.o.cluster),
      stateDir: this.o.stateDir,
      namespaces: [],
      pids: {},
      pending: false,
    };
  }

  /**
   * The namespaces of `d` whose links, addresses, routes, sysctls, ipsets, nft tables or iptables differ from the
   * kernel's (the cheap check run before each command; namespaces missing altogether are the record's business).
   * Each names why.
   */
  async drift(d: ClusterDataplane): Promise<NamespaceDrift[]> {
    const names = namespaceNames(d);
    const digests = (this.given ?? readRecord(this.o.stateDir))?.nftDigests ?? {};
    const existing = await existingNetns();
    const checks = d.hosts.flatMap((h) =>
      h.namespaces.map((spec) => {
        const netns = names.get(spec.name)!.netns;
        // Where each link's other end must be: the underlay for an uplink, the peer's namespace for a veth.
        const peers = new Map<string, string>();
        for (const l of spec.links) {
          const peer =
            l.kind === "uplink" ? underlayNetns(d.cluster) : l.peer && names.get(l.peer.namespace)?.netns;
          if (peer) peers.set(l.name, peer);
        }
        if (!existing.has(netns)) return Promise.resolve(undefined);
        return namespaceDrift(netns, spec, peers, digests[netns]).then(async (found) => {
          if (found || !hasTunnelState(spec)) return found;
          const why = await tunnelDrift(netns, spec, wireguardSocketDir(this.dir, netns));
          return why ? { namespace: spec.name, netns, why } : undefined;
        });
      }),
    );
    return (await Promise.all(checks)).filter((x): x is NamespaceDrift => x !== undefined);
  }

  private async applyNow(
    next: ClusterDataplane,
    previous: ClusterDataplane | undefined,
    reconcile: Set<string>,
  ): Promise<void> {
    if (next.cluster !== this.o.cluster)
      throw new Error(
        `description of cluster ${next.cluster} given to the linux dataplane of ${this.o.cluster}`,
      );
    // A mode this dataplane does not build is refused before the kernel changes at all (never applied half).
    const refused = await modeRefusal(next);
    if (refused) throw new TortieError("Invalid", refused);
    const given = this.given;
    this.given = undefined;
    const onDisk = given ?? readRecord(this.o.stateDir);
    const record = onDisk ?? this.emptyRecord();
    if (record.cluster !== this.o.cluster)
      throw new Error(
        `${this.o.stateDir} holds cluster ${record.cluster} on the linux dataplane, not ${this.o.cluster}`,
      );
    // Incremental only from a state known to be in the kernel; after a failed or interrupted apply, reconcile.
    const base = previous && !record.pending && record.applied ? previous : undefined;
    // A veth's two ends are programmed together: a namespace reconciled brings the far ends of its veths along.
    for (const h of next.hosts)
      for (const ns of h.namespaces)
        if (reconcile.has(ns.name)) for (const l of ns.links) if (l.peer) reconcile.add(l.peer.namespace);
    for (const h of next.hosts) {
      if (!h.bird || h.birdFailure) continue;
      const why = birdUnavailable(h.bird.dialect, this.binaries);
      if (why) throw new Error(`host ${h.host}: ${why}`);
      birdSocketPath(this.dir, h.host);
    }
    const names = namespaceNames(next);
    const underlay = underlayNetns(this.o.cluster);
    const wanted = [underlay, ...[...names.values()].map((n) => n.netns)];
    const existing = await existingNetns();
    for (const ns of wanted) {
      if (!existing.has(ns) || record.namespaces.includes(ns)) continue;
      const owner = netnsOwner(ns);
      throw new Error(
        owner && owner !== this.o.stateDir
          ? `namespace ${ns} exists and belongs to the tortie state dir ${owner} (run 'tortie down' there)`
          : `namespace ${ns} exists and was not made by ${this.o.stateDir} (delete it with 'ip netns del ${ns}')`,
      );
    }
    // Intent log: every namespace this apply may create, written before it is created, and `pending` before the
    // kernel changes at all (a policy change creates nothing, but an apply killed midway must be reconciled
    // in full, not diffed from a description the kernel only partly holds).
    // When the record already lists every namespace and the same BIRD, only `pending` changes: a marker file.
    // (Processes are written to the record before they start, each on its own, in programHostDaemons.)
    const listsAll = onDisk !== undefined && wanted.every((ns) => onDisk.namespaces.includes(ns));
    const sameBird = deepEqual(onDisk?.birdBinaries, this.binaries);
    record.namespaces = [...new Set([...record.namespaces, ...wanted])];
    record.birdBinaries = this.binaries;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (listsAll && sameBird) markRecordPending(record);
    else {
      record.pending = true;
      writeRecord(record);
    }
    this.current = next;
    try {
      await this.program(next, base, record, existing, reconcile);
      record.applied = next;
      record.pending = false;
      record.namespaces = wanted;
      writeRecord(record);
    } finally {
      this.current = undefined;
    }
  }

  private async program(
    next: ClusterDataplane,
    base: ClusterDataplane | undefined,
    record: LinuxRecord,
    existing: Set<string>,
    reconcile: Set<string>,
  ): Promise<void> {
    const names = namespaceNames(next);
    const underlay = underlayNetns(this.o.cluster);
    const created = new Set<string>();
    const create = async (ns: string) => {
      if (existing.has(ns)) return false;
      markOwner(ns, this.o.stateDir);
      await createNetns(ns);
      created.add(ns);
      return true;
    };
    if (!existing.has(underlay)) {
      markOwner(underlay, this.o.stateDir);
      created.add(underlay);
    }
    // An incremental apply trusts the underlay it made; a reconcile checks its bridge.
    if (!base || created.has(underlay)) await ensureUnderlay(underlay, created.has(underlay));
    const prevHosts = new Map((base?.hosts ?? []).map((h) => [h.host, h]));
    const prevNames = base ? namespaceNames(base) : new Map();
    const plans: NamespacePlan[] = [];
    for (const h of next.hosts) {
      const prevHost = prevHosts.get(h.host);
      let hostCreated = false;
      for (const spec of h.namespaces) {
        const n = names.get(spec.name)!;
        // A host namespace deleted by hand took the host ends of its pods' veths along: the pods' namespaces are
        // made again (their apps restart), as a host that reboots starts its pods again.
        if (spec.kind === "pod" && hostCreated && existing.has(n.netns)) {
          await removeNetns(n.netns);
          existing.delete(n.netns);
        }
        const isNew = await create(n.netns);
        if (spec.kind === "host") hostCreated = isNew;
        const prevSpec = prevHost?.namespaces.find((x) => x.name === spec.name);
        const samePlace = prevNames.get(spec.name)?.netns === n.netns;
        plans.push({
          spec,
          netns: n.netns,
          kind: n.kind,
          host: h.host,
          created: isNew,
          previous:
            !isNew && base && prevSpec && samePlace && !reconcile.has(spec.name) ? prevSpec : undefined,
        });
      }
    }
    const ctx = { names, underlay };
    await programLinks(plans, ctx);
    await programTunnelLinks(plans, (plan, link) => this.programWireguard(plan, link, record));
    await programAddressesRoutes(plans, ctx);
    await programForwarding(plans);
    const digests = await programRules(plans);
    const kept = { ...record.nftDigests };
    for (const [ns, digest] of digests)
      if (digest) kept[ns] = digest;
      else delete kept[ns];
    if (next.dns)
      writeFileSync(join(this.dir, "dns-zone.json"), `${JSON.stringify(next.dns)}\n`, { mode: 0o644 });
    // Namespaces the description no longer has (pods stopped, hosts removed): their processes end with them.
    const keep = new Set([underlay, ...[...names.values()].map((n) => n.netns)]);
    for (const ns of Object.keys(kept)) if (!keep.has(ns)) delete kept[ns];
    if (Object.keys(kept).length) record.nftDigests = kept;
    else delete record.nftDigests;
    for (const ns of record.namespaces) {
      if (keep.has(ns) || !existing.has(ns)) continue;
      for (const [k, p] of Object.entries(record.pids)) if (p.netns === ns) delete record.pids[k];
      await removeNetns(ns);
    }
    for (const h of next.hosts) await this.programHostDaemons(h, prevHosts.get(h.host), record, names);
    for (const [host, prev] of prevHosts)
      if (!next.hosts.some((h) => h.host === host)) await this.stopHost(prev, record);
    // Processes of hosts reconciled without a previous description: stop what the record runs and is not wanted.
    for (const [k, p] of Object.entries(record.pids)) {
      const [host, id] = [k.slice(0, k.indexOf("/")), k.slice(k.indexOf("/") + 1)];
      const h = next.hosts.find((x) => x.host === host);
      const wanted =
        id === "bird"
          ? h?.bird && !h.birdFailure
          : id === WIREGUARD_GO
            ? h?.namespaces.some((ns) => ns.kind === "host" && ns.links.some((l) => l.kind === "wireguard"))
            : h?.processes.some((x) => x.id === id);
      if (!wanted) {
        await stopProcess(p);
        delete record.pids[k];
      }
    }
    // The record is written by the caller next (applied, not pending): what was removed needs no write of its own.
  }

  /**
   * A host's WireGuard device: wireguard-go started (recorded like BIRD, intent first) unless the recorded one
   * still runs and answers, then its configuration synced.
   */
  private async programWireguard(plan: NamespacePlan, link: LinkSpec, record: LinuxRecord): Promise<void> {
    const key = `${plan.host}/${WIREGUARD_GO}`;
    const sockets = wireguardSocketDir(this.dir, plan.netns);
    const live = this.running(record, key);
    if (!live || !(await wireguardAnswers(plan.netns, sockets, link.name))) {
      if (record.pids[key]) await stopProcess(record.pids[key]!);
      record.pids[key] = { pid: 0, netns: plan.netns };
      writeRecord(record);
      const started = recorded(
        startInNetns(plan.netns, wireguardGoArgv(sockets, link.name), `${sockets}.log`),
        plan.netns,
      );
      record.pids[key] = started;
      writeRecord(record);
      await awaitWireguard(plan.netns, sockets, link.name, () => sameProcess(started));
    }
    await syncWireguard(plan.netns, sockets, link);
  }

  /** `wg` sees only the namespace's own WireGuard devices (wireguard-device.ts); other commands run as they are. */
  toolArgv(target: string, argv: string[]): string[] {
    if (argv[0] !== "wg") return argv;
    return withWireguardSockets(wireguardSocketDir(this.dir, this.netns(target)), argv);
  }

  private async stopHost(h: NodeDataplane, record: LinuxRecord): Promise<void> {
    for (const [k, p] of Object.entries(record.pids))
      if (k.startsWith(`${h.host}/`)) {
        await stopProcess(p);
        delete record.pids[k];
      }
  }

  /** The recorded process, when it still runs and in its namespace as it is now (not an orphaned one). */
  private running(record: LinuxRecord, key: string): RecordedProcess | undefined {
    const p = record.pids[key];
    return p && sameProcess(p) && runsIn(p.pid, p.netns) ? p : undefined;
  }

  private async programHostDaemons(
    h: NodeDataplane,
    prev: NodeDataplane | undefined,
    record: LinuxRecord,
    names: Map<string, { netns: string }>,
  ): Promise<void> {
    const hostNs = names.get(h.host)?.netns ?? names.get(h.namespaces[0]?.name ?? "")?.netns;
    if (!hostNs) throw new Error(`host ${h.host} has no host namespace in the description`);
    // Only BIRD's change is asked for here: the namespaces (and their big payloads) are left out of the diff.
    const d = diffNodeDataplane(prev && { ...prev, namespaces: [], processes: [] }, {
      ...h,
      namespaces: [],
      processes: [],
    });
    const birdKey = `${h.host}/bird`;
    const bird = h.birdFailure ? undefined : h.bird;
    const birdRunning = this.running(record, birdKey);
    if (!bird) {
      if (record.pids[birdKey]) await stopProcess(record.pids[birdKey]!);
      delete record.pids[birdKey];
    } else {
      const dir = birdDir(this.dir, h.host);
      const changed = writeBirdFiles(dir, bird);
      if (birdRunning && d.bird === "restart") {
        await stopProcess(birdRunning);
        delete record.pids[birdKey];
      }
      const still = this.running(record, birdKey);
      if (still && changed)
        await reconfigureBird(hostNs, this.birdSocket(h.host), this.binaries[bird.dialect].birdc);
      if (!still) {
        // One left running in a namespace deleted by hand is ended first (it holds the old namespace alive).
        if (record.pids[birdKey]) await stopProcess(record.pids[birdKey]!);
        record.pids[birdKey] = { pid: 0, netns: hostNs }; // intent, then the pid
        writeRecord(record);
        const pid = await startBird(hostNs, dir, bird, this.binaries);
        record.pids[birdKey] = recorded(pid, hostNs);
        writeRecord(record);
      }
    }
    const prevById = new Map((prev?.processes ?? []).map((p) => [p.id, p]));
    for (const p of h.processes) {
      const key = `${h.host}/${p.id}`;
      const netns = names.get(p.namespace)?.netns;
      if (!netns) throw new Error(`host ${h.host}: process ${p.id} runs in unknown namespace ${p.namespace}`);
      const argv = this.o.processArgv(p, h.host);
      if (!argv) {
        // An image that stands for no app runs nothing (a plain busybox), as on the sim.
        if (record.pids[key]) {
          await stopProcess(record.pids[key]!);
          delete record.pids[key];
          writeRecord(record);
        }
        continue;
      }
      const runningNow = this.running(record, key);
      const unchanged = deepEqual(prevById.get(p.id), p) && runningNow?.netns === netns;
      if (runningNow && unchanged) continue;
      if (record.pids[key]) await stopProcess(record.pids[key]!);
      const logDir = join(this.dir, h.host);
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
      record.pids[key] = { pid: 0, netns };
      writeRecord(record);
      record.pids[key] = recorded(startInNetns(netns, argv, join(logDir, `${fileSafe(p.id)}.out`)), netns);
      writeRecord(record);
    }
  }

  async run(target: string, argv: string[], options?: { timeoutMs?: number }): Promise<KernelCommandResult> {
    if (!argv.length) throw new TortieError("Usage", "no command to run");
    return inNetns(this.netns(target), this.toolArgv(target, argv), {
      timeoutMs: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  async query(target: string, what: KernelQuery): Promise<string> {
    const r = await this.run(target, KERNEL_QUERY_COMMANDS[what]);
    if (r.code !== 0)
      throw new Error(
        `${this.netns(target)}: ${KERNEL_QUERY_COMMANDS[what].join(" ")}: ${r.stderr.trim().split("\n")[0]}`,
      );
    return normaliseKernelQuery(what, r.stdout);
  }

  async destroy(): Promise<void> {
    await this.queue;
    await sweepLinuxCluster(this.o.stateDir, this.o.cluster);
  }
}
