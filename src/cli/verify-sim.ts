/**
 * `tortie verify`'s sim side: a fresh SimCluster from the stored objects with an empty SimState (zero counters,
 * no conntrack), made to match the description verify applies to the real kernel, and the probes and queries
 * run on it as the emulated tools would.
 */
import { emptySimState, runSimCommand, SimCluster } from "../agent/index.ts";
import type { ApiObject } from "../api/index.ts";
import {
  type ClusterDataplane,
  clusterDataplane,
  iptablesDelta,
  type KernelQuery,
  normaliseKernelQuery,
} from "../calc/index.ts";
import type { ClusterTopology } from "../control/index.ts";
import { type ConntrackEntry, formatIpv4, type Kernel, SIM_KERNEL_FEATURES } from "../dataplane/sim/index.ts";
import { TortieError } from "../lib/index.ts";
import { type ProbeOutcome, simFetchOutcome } from "./verify-compare.ts";
import type { Probe } from "./verify-probes.ts";

/**
 * curl's --connect-timeout on both kernels: short, but between the SYN's first retransmission (1 s) and its
 * second (3 s), so a connection that times out sent two SYNs on both (at exactly 1 s the real kernel's
 * retransmission races curl giving up, and an unconfirmed SYN is counted again in nat).
 */
export const CONNECT_TIMEOUT_MS = 1500;

/** How long a name lookup may take on both kernels before it counts as unresolved. */
export const DNS_TIMEOUT_MS = CONNECT_TIMEOUT_MS * 5;

const PROTO_NAMES: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp", 132: "sctp" };

function withoutRules(o: unknown): string {
  return JSON.stringify(o, (k, v) => (k === "iptables" ? undefined : v));
}

/**
 * Turns the sim's own programming (the description it computed, with its kernel's features) into `target`'s:
 * changed iptables chains are reloaded with one `--noflush` payload per namespace, as the linux dataplane's
 * partial sync does. Only rules may differ: anything else is refused ("not supported yet").
 */
function align(cluster: SimCluster, own: ClusterDataplane, target: ClusterDataplane): void {
  const rest = (d: ClusterDataplane) => withoutRules({ ...d, hosts: d.hosts.map((h) => h.host) });
  if (rest(own) !== rest(target))
    throw new TortieError(
      "Invalid",
      "not supported yet: verifying a sim description that differs from the sim's own in more than iptables rules (its hosts, underlay or DNS zone)",
    );
  for (const host of target.hosts) {
    const base = own.hosts.find((h) => h.host === host.host);
    if (!base || withoutRules(base) !== withoutRules(host))
      throw new TortieError(
        "Invalid",
        `not supported yet: verifying a sim description that differs from the sim's own in more than iptables rules (host ${host.host})`,
      );
    host.namespaces.forEach((ns, i) => {
      const delta = iptablesDelta(base.namespaces[i]!.iptables, ns.iptables);
      if (!delta) return;
      const k = cluster.kernel(ns.name);
      if (!k) throw new TortieError("NotFound", `the sim has no namespace ${ns.name}`);
      k.netfilter.restore(delta, { noflush: true });
    });
  }
}

export class SimSide {
  readonly cluster: SimCluster;

  /** `target` is the description to build (the real kernel's, or a test's changed copy). */
  constructor(objects: ApiObject[], topology: ClusterTopology, target?: ClusterDataplane) {
    this.cluster = new SimCluster(objects, topology, emptySimState());
    if (target) {
      const own = clusterDataplane({ objects, topology, features: SIM_KERNEL_FEATURES });
      align(this.cluster, own, target);
    }
  }

  kernel(target: string): Kernel {
    const k = this.cluster.kernel(target);
    if (!k) throw new TortieError("NotFound", `the sim has no namespace ${target}`);
    return k;
  }

  probe(p: Probe): ProbeOutcome {
    try {
      return this.probeNow(p);
    } catch (e) {
      // An emulated app that throws (a bug of the twin's) is that probe's outcome, not the end of verify.
      return { kind: "error", detail: `the sim's app failed: ${(e as Error).message.split("\n")[0]}` };
    }
  }

  private probeNow(p: Probe): ProbeOutcome {
    const k = this.kernel(p.from);
    const start = this.cluster.net.now;
    if (p.kind === "dns") {
      const r = this.cluster.resolve(k, p.target, DNS_TIMEOUT_MS);
      return r.ok ? { kind: "address", ip: formatIpv4(r.ip) } : { kind: "unresolved" };
    }
    const r = this.cluster.fetch(k, p.target, CONNECT_TIMEOUT_MS);
    return simFetchOutcome(r, CONNECT_TIMEOUT_MS, this.cluster.net.now - start);
  }

  /**
   * The sim's half of verify's WireGuard warm-up (LinuxSide.waitForWireguard): every pair of nodes whose keys match
   * has completed its handshake now, as the real nodes did before the probes, without packets (the real warm-up's
   * traffic leaves no counters and no conntrack entries behind).
   */
  primeWireguard(hosts: string[]): void {
    const devices = hosts.flatMap((h) => {
      const link = [...(this.cluster.kernel(h)?.links.values() ?? [])].find((l) => l.wireguard);
      return link?.wireguard ? [link.wireguard] : [];
    });
    const byKey = new Map(devices.map((d) => [d.derivedPublicKey, d]));
    for (const d of devices)
      for (const peer of d.peers)
        if (byKey.get(peer.publicKey)?.peers.some((p) => p.publicKey === d.derivedPublicKey))
          peer.handshakeAt = this.cluster.net.now;
  }

  /** A tool's output in a namespace, as `tortie exec` prints it on the sim. */
  run(target: string, argv: string[]): string {
    const r = runSimCommand(this.cluster, this.kernel(target), argv);
    if (r.code !== 0)
      throw new TortieError(
        "Invalid",
        `sim: ${argv.join(" ")} in ${target} failed: ${r.stderr.split("\n")[0]}`,
      );
    return r.stdout;
  }

  /** KernelQuery's normal form, from the emulated tool's output through the same normaliser as the kernel's. */
  query(target: string, what: KernelQuery, argv: string[]): string {
    return normaliseKernelQuery(what, this.run(target, argv));
  }

  /** Every live conntrack entry of every namespace built. */
  private entries(): Set<ConntrackEntry> {
    const out = new Set<ConntrackEntry>();
    for (const k of this.cluster.kernels.values())
      for (const e of k.conntrack.snapshot(this.cluster.net.now)) out.add(e);
    return out;
  }

  /**
   * Runs each probe and says which ones sent a connection to a frontend of `random` (a Service kube-proxy spreads
   * over several endpoints): their endpoint is a random draw on each kernel, so what they leave in per-endpoint
   * counters cannot be compared (only their outcome and their translations, with the endpoint left out).
   */
  classify(probes: Probe[], random: Map<string, string>): Set<Probe> {
    const out = new Set<Probe>();
    for (const p of probes) {
      const before = this.entries();
      this.probe(p);
      for (const e of this.entries()) {
        if (before.has(e)) continue;
        const key = `${PROTO_NAMES[e.proto] ?? e.proto}|${formatIpv4(e.orig.dst)}|${e.orig.dport}`;
        if (random.has(key)) out.add(p);
      }
    }
    return out;
  }
}
