/**
 * Removing a cluster from the kernel: its processes, its namespaces (the record's, plus any `tt-<cluster>-<host>…`
 * of the record's hosts still owned by this state dir), their /etc/netns dirs and <stateDir>/linux. Works from the
 * record alone, so it also cleans up after a `kill -9` midway through an apply.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { runCommand } from "./exec.ts";
import { clusterPrefix, hostNetns, underlayNetns } from "./names.ts";
import { killNetnsPids, stopProcess } from "./processes.ts";
import { linuxDir, readRecord } from "./record.ts";

const OWNERS = "/run/tortie/netns-owners";

/** The state dir that made a namespace (a marker in /run, which lives as long as /run/netns). */
export function netnsOwner(netns: string): string | undefined {
  try {
    return readFileSync(`${OWNERS}/${netns}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * The state dir that runs a cluster of this name on this machine, when it is not `stateDir`: the owner of the
 * cluster's underlay namespace, which exists while any of its hosts do.
 */
export function clusterOwnedElsewhere(cluster: string, stateDir: string): string | undefined {
  const owner = netnsOwner(underlayNetns(cluster));
  return owner !== undefined && owner !== stateDir ? owner : undefined;
}

export function markOwner(netns: string, stateDir: string): void {
  mkdirSync(OWNERS, { recursive: true, mode: 0o700 });
  writeFileSync(`${OWNERS}/${netns}`, `${stateDir}\n`, { mode: 0o600 });
}

/** The named network namespaces (`ip netns list` reads the same directory; no process spawned). */
export async function existingNetns(): Promise<Set<string>> {
  try {
    return new Set(readdirSync("/run/netns"));
  } catch {
    return new Set();
  }
}

/** Deletes one namespace and what belongs to it outside the kernel; returns the processes it killed. */
export async function removeNetns(netns: string): Promise<number> {
  const killed = await killNetnsPids(netns);
  const r = await runCommand("ip", ["netns", "del", netns]);
  if (r.code !== 0 && !/No such file/.test(r.stderr))
    throw new Error(`ip netns del ${netns}: ${r.stderr.trim()}`);
  rmSync(`/etc/netns/${netns}`, { recursive: true, force: true });
  rmSync(`${OWNERS}/${netns}`, { force: true });
  return killed;
}

export async function sweepLinuxCluster(
  stateDir: string,
  cluster: string,
): Promise<{ namespaces: number; processes: number }> {
  const record = readRecord(stateDir);
  if (record && record.cluster !== cluster)
    throw new Error(`${stateDir} holds cluster ${record.cluster}, not ${cluster}`);
  const prefix = clusterPrefix(cluster);
  let processes = 0;
  for (const p of Object.values(record?.pids ?? {})) if (await stopProcess(p, 300)) processes++;
  const hosts = new Set((record?.applied?.hosts ?? []).map((h) => h.host));
  for (const ns of record?.namespaces ?? [])
    if (ns.startsWith(`${prefix}-`)) hosts.add(ns.slice(prefix.length + 1));
  const existing = await existingNetns();
  const mine = new Set<string>();
  for (const ns of record?.namespaces ?? []) if (existing.has(ns)) mine.add(ns);
  for (const ns of existing) {
    const owner = netnsOwner(ns);
    if (owner !== undefined && owner !== stateDir) continue;
    if (ns === prefix) mine.add(ns);
    for (const h of hosts) {
      const hn = hostNetns(cluster, h);
      if (ns === hn || (ns.startsWith(`${hn}-`) && owner === stateDir)) mine.add(ns);
    }
  }
  // Pods' namespaces first: their veths go with them, then the hosts', then the underlay.
  const order = [...mine].sort((a, b) => b.length - a.length);
  for (const ns of order) processes += await removeNetns(ns);
  // Markers of this state dir's namespaces deleted by hand (removeNetns only saw the ones still there).
  let markers: string[] = [];
  try {
    markers = readdirSync(OWNERS);
  } catch {}
  for (const ns of markers) if (netnsOwner(ns) === stateDir) rmSync(`${OWNERS}/${ns}`, { force: true });
  rmSync(linuxDir(stateDir), { recursive: true, force: true });
  return { namespaces: order.length, processes };
}
