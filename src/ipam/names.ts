import { type Cidr, formatCidr } from "../net/index.ts";

const namesOfCidrs = new WeakMap<Cidr, string>();

/** Calico's CIDRToName: the resource name of a block or an affinity's CIDR part ("10.0.1.0/26" → "10-0-1-0-26"). */
export function cidrToName(cidr: Cidr | string): string {
  if (typeof cidr === "string") return cidr.replace(/[.:/]/g, "-");
  // Block CIDRs are interned (blockCidr), so the name is worked out once per block, not once per operation.
  let name = namesOfCidrs.get(cidr);
  if (name === undefined) {
    name = formatCidr(cidr).replace(/[.:/]/g, "-");
    namesOfCidrs.set(cidr, name);
  }
  return name;
}

/** What a block is affine to: a node ("host") or the virtual node that holds LoadBalancer addresses. */
export interface Affinity {
  type: "host" | "virtual";
  host: string;
}

export const LOAD_BALANCER_AFFINITY: Affinity = { type: "virtual", host: "load-balancer" };

export function affinityString(a: Affinity): string {
  return `${a.type}:${a.host}`;
}

export function parseAffinity(text: string | undefined): Affinity | undefined {
  if (!text) return undefined;
  const colon = text.indexOf(":");
  const type = text.slice(0, colon);
  if (type !== "host" && type !== "virtual") return undefined;
  return { type, host: text.slice(colon + 1) };
}

/** BlockAffinity names are "<host>-<cidr name>" (virtual ones say so), as Calico's Kubernetes backend names them. */
export function affinityName(a: Affinity, cidr: Cidr): string {
  return `${a.type === "virtual" ? "virtual-" : ""}${a.host}-${cidrToName(cidr)}`;
}

/** IPAMHandle names are the handle ID in lower case (Kubernetes names must be). */
export function handleName(handleId: string): string {
  return handleId.toLowerCase();
}

/** The handle the CNI plugin uses for a pod's addresses. */
export function podHandleId(containerId: string): string {
  return `k8s-pod-network.${containerId}`;
}

/** Handles of node tunnel addresses, as calico-node names them. */
export function tunnelHandleId(
  kind: "ipip" | "vxlan" | "vxlan-v6" | "wireguard" | "wireguard-v6",
  node: string,
): string {
  return `${kind}-tunnel-addr-${node}`;
}

/** Calico strips a "\r" suffix that old host-local migrations wrote into handles. */
export function sanitizeHandle(handleId: string): string {
  return handleId.split("\r")[0]!;
}
