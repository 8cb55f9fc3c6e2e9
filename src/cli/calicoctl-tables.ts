import type { ApiObject } from "../api/index.ts";

type Cell = (o: ApiObject, ctx: { asNumber: string }) => string;

const name: Cell = (o) => o.metadata.name ?? "";
const s = (v: unknown) => (v === undefined || v === null ? "" : String(v));
const orDash = (v: unknown) => (v === undefined || v === null || v === false || v === "" ? "-" : String(v));
/** Go's fmt of a bool field that may be unset: `false`. */
const bool = (v: unknown) => (v ? "true" : "false");
const join = (v: unknown) => (Array.isArray(v) ? v.join(",") : "");

/** calicoctl's headings per kind, narrow then wide, with its template for each column (resourcemgr/*.go). */
export const CALICOCTL_TABLES: Record<
  string,
  { headings: string[]; wide: string[]; cells: Record<string, Cell> }
> = {
  IPPool: {
    headings: ["NAME", "CIDR", "SELECTOR"],
    wide: ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT", "SELECTOR"],
    cells: {
      NAME: name,
      CIDR: (o) => s(o.spec.cidr),
      NAT: (o) => bool(o.spec.natOutgoing),
      IPIPMODE: (o) => o.spec.ipipMode || "Never",
      VXLANMODE: (o) => o.spec.vxlanMode || "Never",
      DISABLED: (o) => bool(o.spec.disabled),
      DISABLEBGPEXPORT: (o) => bool(o.spec.disableBGPExport),
      SELECTOR: (o) => s(o.spec.nodeSelector),
    },
  },
  BGPConfiguration: {
    headings: ["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
    wide: ["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
    cells: {
      NAME: name,
      LOGSEVERITY: (o) => s(o.spec?.logSeverityScreen),
      MESHENABLED: (o) => orDash(o.spec?.nodeToNodeMeshEnabled),
      ASNUMBER: (o) => orDash(o.spec?.asNumber),
    },
  },
  BGPPeer: {
    headings: ["NAME", "PEERIP", "NODE", "ASN"],
    wide: ["NAME", "PEERIP", "NODE", "ASN"],
    cells: {
      NAME: name,
      PEERIP: (o) => s(o.spec.peerIP),
      NODE: (o) => o.spec.node || o.spec.nodeSelector || "(global)",
      ASN: (o) => (o.spec.asNumber === undefined ? "0" : String(o.spec.asNumber)),
    },
  },
  HostEndpoint: {
    headings: ["NAME", "NODE"],
    wide: ["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"],
    cells: {
      NAME: name,
      NODE: (o) => s(o.spec.node),
      INTERFACE: (o) => s(o.spec.interfaceName),
      IPS: (o) => join(o.spec.expectedIPs),
      PROFILES: (o) => join(o.spec.profiles),
    },
  },
  GlobalNetworkPolicy: {
    headings: ["NAME"],
    wide: ["NAME", "ORDER", "SELECTOR"],
    cells: {
      NAME: name,
      ORDER: (o) => (o.spec.order === undefined ? "<nil>" : String(o.spec.order)),
      SELECTOR: (o) => s(o.spec.selector),
    },
  },
  NetworkPolicy: {
    headings: ["NAME", "TIER"],
    wide: ["NAME", "TIER", "ORDER", "SELECTOR"],
    cells: {
      NAME: name,
      TIER: (o) => s(o.spec.tier),
      ORDER: (o) => (o.spec.order === undefined ? "<nil>" : String(o.spec.order)),
      SELECTOR: (o) => s(o.spec.selector),
    },
  },
  Node: {
    headings: ["NAME"],
    wide: ["NAME", "ASN", "IPV4", "IPV6"],
    cells: {
      NAME: name,
      ASN: (o, c) =>
        o.spec?.bgp ? (o.spec.bgp.asNumber ? String(o.spec.bgp.asNumber) : `(${c.asNumber})`) : "",
      IPV4: (o) => s(o.spec?.bgp?.ipv4Address),
      IPV6: (o) => s(o.spec?.bgp?.ipv6Address),
    },
  },
  WorkloadEndpoint: {
    headings: ["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
    wide: ["NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"],
    cells: {
      NAME: name,
      WORKLOAD: (o) => o.spec.workload || o.spec.pod || "",
      NODE: (o) => s(o.spec.node),
      NETWORKS: (o) => join(o.spec.ipNetworks),
      INTERFACE: (o) => s(o.spec.interfaceName),
      PROFILES: (o) => join(o.spec.profiles),
      NATS: (o) => join(o.spec.ipNATs),
    },
  },
};

export function calicoctlTable(
  kind: string,
  objects: ApiObject[],
  opts: { wide: boolean; withNamespace: boolean; asNumber: string },
): string[][] {
  const t = CALICOCTL_TABLES[kind] ?? { headings: ["NAME"], wide: ["NAME"], cells: { NAME: name } };
  const headings = [...(opts.wide ? t.wide : t.headings)];
  const cells: Record<string, Cell> = { ...t.cells, NAMESPACE: (o) => s(o.metadata.namespace) };
  if (opts.withNamespace) headings.unshift("NAMESPACE");
  return [headings, ...objects.map((o) => headings.map((h) => cells[h]!(o, { asNumber: opts.asNumber })))];
}
