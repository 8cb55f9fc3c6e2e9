import * as z from "zod";
import type { FieldProblem } from "../../lib/index.ts";
import { cidrContainsCidr, cidrContainsIp, formatIp, parseCidr, parseIp } from "../../net/index.ts";
import type { KindDef } from "../kind.ts";
import { isDns1123Label } from "../meta.ts";
import { bool, cidrString, int, ipString, lazySchema, obj, str, strMap } from "../schema-helpers.ts";

const host = lazySchema(() =>
  obj({
    name: str,
    /** Underlay address with prefix, e.g. 198.19.0.1/20. */
    address: cidrString,
    role: z.enum(["control-plane", "worker", "external"]),
    /** The underlay interface name inside the host (ens4, ens160, …). */
    interface: str.optional(),
    labels: strMap.optional(),
    /**
     * An external host's own BIRD 2 configuration (bird.conf), run by the sim's BGP speaker: the lab's host1 is
     * its router. Cluster hosts run Calico's BIRD, rendered from the datastore, and may not carry one.
     */
    bird: str.optional(),
    /** Taints of the host's Node (kubeadm taints its control plane; k3s does not). */
    taints: z
      .array(
        obj({
          key: str,
          value: str.optional(),
          effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        }),
      )
      .optional(),
  }),
);

/**
 * The cluster tortie builds with `tortie up`: hosts, underlay, pod and service ranges, the default pool.
 * Stored once per cluster (`tortie get topology`); the control plane reads its ranges from it.
 */
export const Topology: KindDef = {
  group: "tortie.dev",
  version: "v1",
  kind: "Topology",
  plural: "topologies",
  namespaced: false,
  nameRule: "dns1123-label",
  body: () => ({
    spec: obj({
      clusterCIDR: cidrString,
      serviceCIDR: cidrString,
      nodePortRange: z
        .string()
        .regex(/^\d+-\d+$/, "must be MIN-MAX")
        .optional(),
      clusterDomain: str.optional(),
      /** Defaults to the tenth address of serviceCIDR, as kubeadm and k3s do. */
      dnsServiceIP: ipString.optional(),
      asNumber: int.min(1).max(4294967295).optional(),
      kubernetesVersion: str.optional(),
      defaultPool: obj({
        name: str.optional(),
        cidr: cidrString,
        blockSize: int.min(0).max(128).optional(),
        natOutgoing: bool.optional(),
        encapsulation: z.enum(["None", "IPIP", "IPIPCrossSubnet", "VXLAN", "VXLANCrossSubnet"]).optional(),
      }),
      hosts: z.array(host()).min(1),
      /** kube-proxy's mode on every node: iptables (KUBE-* chains) or nftables (table ip kube-proxy). */
      kubeProxyMode: z.enum(["iptables", "nftables"]).optional(),
      /**
       * Which kernel runs the cluster: the sim's emulated one (default), or the machine's own (network namespaces,
       * iptables, real BIRD and apps; `tortie up --dataplane linux`, root only).
       */
      dataplane: z.enum(["sim", "linux"]).optional(),
    }),
    status: z.looseObject({}).optional(),
  }),
  defaults(o) {
    const s = o.spec;
    s.nodePortRange ??= "30000-32767";
    s.clusterDomain ??= "cluster.local";
    s.asNumber ??= 64512;
    s.kubernetesVersion ??= "v1.31.0";
    s.defaultPool.name ??= "default-ipv4-ippool";
    s.defaultPool.blockSize ??= 26;
    s.defaultPool.natOutgoing ??= true;
    s.defaultPool.encapsulation ??= "None";
    for (const h of s.hosts) h.interface ??= "eth0";
    const svc = parseCidr(s.serviceCIDR);
    if (svc && s.dnsServiceIP === undefined)
      s.dnsServiceIP = formatIp({ family: svc.family, value: svc.value + 10n });
  },
  check(o, out: FieldProblem[]) {
    const s = o.spec;
    const names = new Set<string>();
    for (const [i, h] of (s.hosts as { name: string; address: string }[]).entries()) {
      if (!isDns1123Label(h.name))
        out.push({
          path: `spec.hosts[${i}].name`,
          message: `Invalid value: "${h.name}": not a DNS-1123 label`,
        });
      if (names.has(h.name))
        out.push({ path: `spec.hosts[${i}].name`, message: `Duplicate value: "${h.name}"` });
      names.add(h.name);
      if ((h as { bird?: string }).bird !== undefined && (h as { role?: string }).role !== "external")
        out.push({
          path: `spec.hosts[${i}].bird`,
          message:
            "Forbidden: only an external host carries its own BIRD configuration (cluster hosts run Calico's)",
        });
    }
    if (!(s.hosts as { role: string }[]).some((h) => h.role === "control-plane"))
      out.push({ path: "spec.hosts", message: "Required value: one host must have role control-plane" });
    const cluster = parseCidr(s.clusterCIDR);
    const pool = parseCidr(s.defaultPool.cidr);
    if (cluster && pool && !cidrContainsCidr(cluster, pool))
      out.push({
        path: "spec.defaultPool.cidr",
        message: `Invalid value: "${s.defaultPool.cidr}": must lie inside clusterCIDR ${s.clusterCIDR}`,
      });
    const range = /^(\d+)-(\d+)$/.exec(s.nodePortRange ?? "");
    if (
      range &&
      !(Number(range[1]) >= 1 && Number(range[1]) <= Number(range[2]) && Number(range[2]) <= 65535)
    )
      out.push({ path: "spec.nodePortRange", message: `Invalid value: "${s.nodePortRange}"` });
    const svc = parseCidr(s.serviceCIDR);
    const dns = s.dnsServiceIP ? parseIp(s.dnsServiceIP) : undefined;
    if (svc && dns && !cidrContainsIp(svc, dns))
      out.push({
        path: "spec.dnsServiceIP",
        message: `Invalid value: "${s.dnsServiceIP}": must lie inside serviceCIDR ${s.serviceCIDR}`,
      });
  },
};

export const tortieKinds: KindDef[] = [Topology];
