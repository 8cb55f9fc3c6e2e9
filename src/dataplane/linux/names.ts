/**
 * The kernel's names for a cluster's namespaces and the devices tortie adds: every namespace starts with
 * `tt-<cluster>`, so two clusters and the machine's own network never collide.
 */

import type { ClusterDataplane } from "../../calc/index.ts";
import { sha256Base32 } from "../../lib/index.ts";

/** Linux's limit for a device name (IFNAMSIZ - 1). */
export const MAX_DEVICE_NAME = 15;

export function clusterPrefix(cluster: string): string {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(cluster))
    throw new Error(
      `cluster name "${cluster}" must be lower-case letters, digits and '-' to name namespaces`,
    );
  return `tt-${cluster}`;
}

/** The underlay's namespace: it holds the bridge every host's uplink is a port of. */
export function underlayNetns(cluster: string): string {
  return clusterPrefix(cluster);
}

export function hostNetns(cluster: string, host: string): string {
  return `${clusterPrefix(cluster)}-${host}`;
}

function shortHash(text: string, chars: number): string {
  return sha256Base32(text).slice(0, chars).toLowerCase();
}

/**
 * A pod's namespace: `tt-<cluster>-<host>-<cali iface>` (the host-side veth's name is unique on the host), or a
 * hash of the pod's name when the host has no veth to it.
 */
export function podNetns(cluster: string, host: string, pod: string, hostVeth: string | undefined): string {
  return `${hostNetns(cluster, host)}-${hostVeth ?? `p${shortHash(pod, 10)}`}`;
}

/** The underlay bridge's port for a host's uplink: `u` and a hash of the host (≤ 15 characters, unique). */
export function underlayPortName(host: string): string {
  return `u${shortHash(host, 12)}`;
}

export const UNDERLAY_BRIDGE = "br0";

export function checkDeviceName(netns: string, dev: string): void {
  if (dev.length > MAX_DEVICE_NAME || !/^[A-Za-z0-9_.@:-]+$/.test(dev))
    throw new Error(
      `${netns}: device name "${dev}" is not a valid Linux interface name (at most 15 characters)`,
    );
}

/** Every kernel namespace name of a description: cluster name → kernel name. */
export function namespaceNames(
  d: ClusterDataplane,
): Map<string, { netns: string; host: string; kind: "host" | "pod" }> {
  const out = new Map<string, { netns: string; host: string; kind: "host" | "pod" }>();
  for (const h of d.hosts) {
    const hostNs = h.namespaces.find((n) => n.kind === "host");
    for (const ns of h.namespaces) {
      if (ns.kind === "host") {
        out.set(ns.name, { netns: hostNetns(d.cluster, h.host), host: h.host, kind: "host" });
        continue;
      }
      const veth = hostNs?.links.find((l) => l.peer?.namespace === ns.name)?.name;
      out.set(ns.name, { netns: podNetns(d.cluster, h.host, ns.name, veth), host: h.host, kind: "pod" });
    }
  }
  return out;
}
