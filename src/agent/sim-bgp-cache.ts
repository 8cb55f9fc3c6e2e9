/**
 * The BGP outcome cache. A full BGP run (sim-bgp.ts: every host's BIRD, every session probed over TCP 179)
 * needs every host built; its outcome (per host, the routes BIRD's kernel protocol programmed and the sessions'
 * saved states) changes only when what it depends on changes, or when a BGP timer fires. So a full run's
 * outcome is saved with a fingerprint of its inputs and a horizon (the earliest pending timer); a later command
 * whose inputs hash the same, before the horizon, replays the routes on the hosts it builds instead.
 */
import { createHash } from "node:crypto";
import type { ApiObject } from "../api/index.ts";
import type { ClusterTopology } from "../control/index.ts";
import type { BgpFabric, Kernel, Route } from "../dataplane/sim/index.ts";

/**
 * Kinds that cannot change a BGP run: namespaced network policies apply to workload endpoints only (Calico
 * makes none for host-networked pods), so they never see the hosts' TCP 179. Every other kind counts (when
 * unsure, include it): confd's inputs, what renders the hosts' netfilter (host endpoints, global policies,
 * tiers, network sets, Felix's configuration, Services and EndpointSlices, namespaces and profiles).
 */
const NOT_BGP = new Set(["NetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy"]);

/** What of a pod a BGP run sees: its address and node (its /32 route, which BIRD's kernel protocol learns), labels. */
function podForBgp(p: ApiObject): unknown {
  return [
    p.metadata.namespace,
    p.metadata.name,
    p.metadata.labels ?? null,
    p.spec?.nodeName ?? null,
    p.spec?.hostNetwork ?? null,
    p.status?.podIP ?? null,
    p.status?.podIPs ?? null,
  ];
}

/** JSON with big integers (some kinds' fields are bigint) written as `123n`. */
const bigints = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? `${value}n` : value);

/**
 * Two hashes in one pass over the objects: of what a full BGP run depends on (the topology and every object that
 * can change it), and of every input (what Felix's notes — unsupported features, warnings — come from).
 */
export function inputFingerprints(
  topology: ClusterTopology,
  objects: readonly ApiObject[],
  /** The code's identity (tortie's build): another version may program differently from the same objects. */
  build = "",
): { bgp: string; all: string } {
  const bgp = createHash("sha256");
  const all = createHash("sha256");
  const top = `${build}\n${JSON.stringify(topology, bigints)}\n`;
  bgp.update(top);
  all.update(top);
  for (const o of objects) {
    const text = `${JSON.stringify(o, bigints)}\n`;
    all.update(text);
    if (NOT_BGP.has(o.kind)) continue;
    bgp.update(o.kind === "Pod" ? `${JSON.stringify(podForBgp(o), bigints)}\n` : text);
  }
  return { bgp: bgp.digest("hex"), all: all.digest("hex") };
}

/**
 * The virtual time at which the outcome of the run just made could next change with no input changing: a
 * session waiting out its connect delay, or one that lost its path and waits for its hold timer. Infinity when
 * nothing is pending.
 */
export function bgpHorizon(fabric: BgpFabric, now: number): number {
  let horizon = Number.POSITIVE_INFINITY;
  const at = (t: number) => {
    if (t > now && t < horizon) horizon = t;
    // A timer due now or already past still moves a state at the next run: no caching past this moment.
    if (t <= now) horizon = Math.min(horizon, now);
  };
  for (const s of fabric.speakers.values())
    for (const e of s.ends) {
      const st = e.state;
      if (st.upAt !== undefined && st.bgpState !== "Established") at(st.upAt);
      if (st.lostAt !== undefined) {
        const other = fabric.matchOf(e);
        const hold = Math.min(e.proto.holdTime, other?.proto.holdTime ?? e.proto.holdTime) * 1000;
        if (hold > 0) at(st.lostAt + hold);
      }
      if (st.bgpState === "Idle" && !st.error) {
        const due = st.since + e.proto.connectDelayTime * 1000;
        if (due > now) at(due);
      }
    }
  return horizon;
}

/** The routes BIRD programmed into a namespace (`proto bird`), to replay on a later command. */
export function birdRoutes(k: Kernel): Route[] {
  return k.main.routes.filter((r) => r.proto === "bird");
}
