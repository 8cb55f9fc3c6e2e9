import * as z from "zod";
import { cidrsOverlap, isMasked, LINK_LOCAL_V4, LINK_LOCAL_V6, parseCidr } from "../../net/index.ts";
import type { KindDef } from "../kind.ts";
import {
  bool,
  cidrString,
  condition,
  int,
  ipString,
  lazySchema,
  netString,
  obj,
  opaque,
  selectorString,
  str,
  strList,
} from "../schema-helpers.ts";
import { calicoPortSetting, felixConfigurationSpec } from "./felix-config-schema.ts";
import { checkInstallation } from "./installation-rules.ts";

const G = "projectcalico.org";
const V = "v3";

const encapMode = lazySchema(() => z.enum(["Never", "Always", "CrossSubnet"]));

export const IPPool: KindDef = {
  group: G,
  version: V,
  kind: "IPPool",
  plural: "ippools",
  calicoctlNames: ["ippool", "ippools", "ipp", "ipps", "pool", "pools"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      cidr: cidrString,
      vxlanMode: encapMode().optional(),
      ipipMode: encapMode().optional(),
      natOutgoing: bool.optional(),
      disabled: bool.optional(),
      disableBGPExport: bool.optional(),
      blockSize: int.optional(),
      nodeSelector: selectorString.optional(),
      namespaceSelector: selectorString.optional(),
      allowedUses: z.array(z.enum(["Workload", "Tunnel", "LoadBalancer"])).optional(),
      assignmentMode: z.enum(["Automatic", "Manual"]).optional(),
    }),
  }),
  defaults(o) {
    const s = o.spec;
    const cidr = parseCidr(s.cidr);
    s.blockSize ??= cidr?.family === 6 ? 122 : 26;
    s.ipipMode ??= "Never";
    s.vxlanMode ??= "Never";
    s.nodeSelector ??= "all()";
    if (!s.allowedUses || s.allowedUses.length === 0) s.allowedUses = ["Workload", "Tunnel"];
    s.assignmentMode ??= "Automatic";
  },
  check(o, out) {
    const s = o.spec;
    const cidr = parseCidr(s.cidr);
    if (!cidr) return;
    if (!isMasked(cidr))
      out.push({
        path: "spec.cidr",
        message: `IP pool CIDR ${s.cidr} is not a network address; use the masked form`,
      });
    if (cidrsOverlap(cidr, cidr.family === 4 ? LINK_LOCAL_V4 : LINK_LOCAL_V6))
      out.push({
        path: "spec.cidr",
        message: `IP pool range overlaps with the link-local range ${cidr.family === 4 ? "169.254.0.0/16" : "fe80::/10"}`,
      });
    const [lo, hi] = cidr.family === 4 ? [20, 32] : [116, 128];
    if (s.blockSize < lo || s.blockSize > hi)
      out.push({
        path: "spec.blockSize",
        message: `block size ${s.blockSize} out of range: IPv${cidr.family} pools need ${lo} to ${hi}`,
      });
    else if (s.blockSize < cidr.prefix && !s.disabled)
      out.push({
        path: "spec.blockSize",
        message: `the IP pool ${s.cidr} is smaller than one block of size /${s.blockSize}`,
      });
    if (s.ipipMode !== "Never" && s.vxlanMode !== "Never")
      out.push({ path: "spec", message: "IPIP and VXLAN modes cannot both be enabled on the same IP pool" });
    if (cidr.family === 6 && s.ipipMode !== "Never")
      out.push({ path: "spec.ipipMode", message: "IPIP is not supported on an IPv6 IP pool" });
    if (/global\(\)/.test(s.nodeSelector ?? ""))
      out.push({ path: "spec.nodeSelector", message: "global() is not allowed in nodeSelector" });
    const uses: string[] = s.allowedUses ?? [];
    if (uses.includes("LoadBalancer")) {
      if (uses.length > 1)
        out.push({ path: "spec.allowedUses", message: "LoadBalancer cannot be combined with other uses" });
      if (s.ipipMode !== "Never" || s.vxlanMode !== "Never")
        out.push({ path: "spec", message: "LoadBalancer IP pools cannot use encapsulation" });
      if (s.nodeSelector !== "all()")
        out.push({
          path: "spec.nodeSelector",
          message: "LoadBalancer IP pools must have nodeSelector all()",
        });
      if (s.disableBGPExport)
        out.push({
          path: "spec.disableBGPExport",
          message: "LoadBalancer IP pools cannot disable BGP export",
        });
    }
  },
};

export const IPReservation: KindDef = {
  group: G,
  version: V,
  kind: "IPReservation",
  plural: "ipreservations",
  calicoctlNames: ["ipreservation", "ipreservations", "ipr", "iprs"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({ spec: obj({ reservedCIDRs: z.array(netString).optional() }) }),
};

export const IPAMConfiguration: KindDef = {
  group: G,
  version: V,
  kind: "IPAMConfiguration",
  plural: "ipamconfigurations",
  calicoctlNames: ["ipamconfiguration", "ipamconfigurations", "ipamconfig", "ipamconfigs"],
  namespaced: false,
  fixedNames: ["default"],
  body: () => ({
    spec: obj({
      strictAffinity: bool.optional(),
      maxBlocksPerHost: int.min(0).optional(),
      autoAllocateBlocks: bool.optional(),
      kubeVirtVMAddressPersistence: z.enum(["Enabled", "Disabled"]).optional(),
    }),
  }),
  defaults(o) {
    o.spec.strictAffinity ??= false;
    o.spec.autoAllocateBlocks ??= true;
  },
  check(o, out) {
    if (o.spec.maxBlocksPerHost > 0 && !o.spec.strictAffinity)
      out.push({
        path: "spec.maxBlocksPerHost",
        message: "maxBlocksPerHost > 0 requires strictAffinity to be true",
      });
  },
};

export const IPAMBlock: KindDef = {
  group: G,
  version: V,
  kind: "IPAMBlock",
  plural: "ipamblocks",
  namespaced: false,
  body: () => ({
    spec: obj({
      cidr: cidrString,
      affinity: str.optional(),
      affinityClaimTime: str.optional(),
      allocations: z.array(z.union([int, z.null()])),
      unallocated: z.array(int),
      attributes: z.array(
        obj({ handle_id: str.optional(), secondary: z.record(z.string(), z.string()).optional() }),
      ),
      strictAffinity: bool.optional(),
      sequenceNumber: int.optional(),
      sequenceNumberForAllocation: z.record(z.string(), int).optional(),
      deleted: bool.optional(),
    }),
  }),
  managedBy: "IPAM blocks are written by tortie's IPAM",
};

export const BlockAffinity: KindDef = {
  group: G,
  version: V,
  kind: "BlockAffinity",
  plural: "blockaffinities",
  namespaced: false,
  body: () => ({
    spec: obj({
      // "" is a legacy affinity, implicitly confirmed (Calico's state is a plain string; IPAM and confd read "" so).
      state: z.enum(["", "pending", "confirmed", "pendingDeletion"]),
      node: str,
      cidr: cidrString,
      type: str.optional(),
      deleted: z.union([bool, str]).optional(),
    }),
  }),
  managedBy: "block affinities are written by tortie's IPAM",
};

export const IPAMHandle: KindDef = {
  group: G,
  version: V,
  kind: "IPAMHandle",
  plural: "ipamhandles",
  namespaced: false,
  body: () => ({ spec: obj({ handleID: str, block: z.record(z.string(), int), deleted: bool.optional() }) }),
  managedBy: "IPAM handles are written by tortie's IPAM",
};

// The CRD allows an entry without a CIDR (confd ignores it).
const cidrEntry = lazySchema(() => obj({ cidr: cidrString.optional() }));

export const BGPConfiguration: KindDef = {
  group: G,
  version: V,
  kind: "BGPConfiguration",
  plural: "bgpconfigurations",
  calicoctlNames: ["bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs"],
  namespaced: false,
  body: () => ({
    spec: obj({
      logSeverityScreen: z.enum(["Trace", "Debug", "Info", "Warning", "Error", "Fatal", "Panic"]).optional(),
      nodeToNodeMeshEnabled: bool.optional(),
      asNumber: int.min(1).max(4294967295).optional(),
      serviceLoadBalancerIPs: z.array(cidrEntry()).optional(),
      serviceExternalIPs: z.array(cidrEntry()).optional(),
      serviceClusterIPs: z.array(cidrEntry()).optional(),
      serviceLoadBalancerAggregation: z.enum(["Enabled", "Disabled"]).optional(),
      listenPort: int.min(1).max(65535).optional(),
      communities: z.array(obj({ name: str, value: str })).optional(),
      prefixAdvertisements: z.array(obj({ cidr: cidrString, communities: strList.optional() })).optional(),
      nodeMeshPassword: opaque.optional(),
      nodeMeshMaxRestartTime: str.optional(),
      bindMode: z.enum(["None", "NodeIP"]).optional(),
      ignoredInterfaces: strList.optional(),
      localWorkloadPeeringIPV4: ipString.optional(),
      localWorkloadPeeringIPV6: ipString.optional(),
      programClusterRoutes: z
        .enum(["Enabled", "Disabled", "EnabledNoEncapOnly", "EnabledIPIPOnly"])
        .optional(),
      ipv4NormalRoutePriority: int.optional(),
      ipv6NormalRoutePriority: int.optional(),
    }),
  }),
  check(o, out) {
    for (const c of o.spec.communities ?? []) {
      if (!/^\d+:\d+(:\d+)?$/.test(c.value))
        out.push({
          path: "spec.communities",
          message: `invalid community value ${JSON.stringify(c.value)}: want aa:nn or aa:nn:mm`,
        });
    }
  },
};

export const BGPPeer: KindDef = {
  group: G,
  version: V,
  kind: "BGPPeer",
  plural: "bgppeers",
  calicoctlNames: ["bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      node: str.optional(),
      peerIP: str.optional(),
      asNumber: int.min(1).max(4294967295).optional(),
      nodeSelector: selectorString.optional(),
      peerSelector: selectorString.optional(),
      localWorkloadSelector: selectorString.optional(),
      keepOriginalNextHop: bool.optional(),
      nextHopMode: z.enum(["Auto", "Self", "Keep"]).optional(),
      password: opaque.optional(),
      sourceAddress: z.enum(["UseNodeIP", "None"]).optional(),
      failureDetectionMode: z.enum(["None", "BFDIfDirectlyConnected"]).optional(),
      restartMode: z.enum(["GracefulRestart", "LongLivedGracefulRestart"]).optional(),
      maxRestartTime: str.optional(),
      birdGatewayMode: z.enum(["Recursive", "DirectIfDirectlyConnected"]).optional(),
      numAllowedLocalASNumbers: int.optional(),
      ttlSecurity: int.optional(),
      keepaliveTime: str.optional(),
      filters: strList.optional(),
      reachableBy: ipString.optional(),
      localASNumber: int.optional(),
      reversePeering: z.enum(["Auto", "Manual"]).optional(),
    }),
  }),
  check(o, out) {
    const s = o.spec;
    if (s.peerIP !== undefined) {
      const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(s.peerIP);
      const host = s.peerIP.includes("]") || (s.peerIP.match(/:/g) ?? []).length === 1 ? m?.[1] : s.peerIP;
      if (!host || !parseCidr(`${host}/${host.includes(":") ? 128 : 32}`))
        out.push({ path: "spec.peerIP", message: `invalid peer IP ${JSON.stringify(s.peerIP)}` });
    }
    if (s.node && s.nodeSelector)
      out.push({ path: "spec", message: "node and nodeSelector cannot both be set" });
    if (s.peerIP && s.peerSelector)
      out.push({ path: "spec", message: "peerIP and peerSelector cannot both be set" });
    if (!s.peerIP && !s.peerSelector && !s.localWorkloadSelector)
      out.push({ path: "spec", message: "one of peerIP, peerSelector or localWorkloadSelector is required" });
  },
};

const bgpFilterRule = lazySchema(() =>
  obj({
    cidr: cidrString.optional(),
    matchOperator: z.enum(["Equal", "NotEqual", "In", "NotIn"]).optional(),
    action: z.enum(["Accept", "Reject"]),
    source: z.enum(["RemotePeers"]).optional(),
    interface: str.optional(),
    prefixLength: obj({ min: int.optional(), max: int.optional() }).optional(),
    peerType: str.optional(),
    communities: opaque.optional(),
    asPathPrefix: z.array(int).optional(),
    priority: int.optional(),
    operations: z.array(opaque).optional(),
  }),
);

export const BGPFilter: KindDef = {
  group: G,
  version: V,
  kind: "BGPFilter",
  plural: "bgpfilters",
  calicoctlNames: ["bgpfilter", "bgpfilters"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      exportV4: z.array(bgpFilterRule()).optional(),
      importV4: z.array(bgpFilterRule()).optional(),
      exportV6: z.array(bgpFilterRule()).optional(),
      importV6: z.array(bgpFilterRule()).optional(),
    }),
  }),
  check(o, out) {
    for (const key of ["exportV4", "importV4", "exportV6", "importV6"]) {
      for (const [i, r] of (o.spec[key] ?? []).entries()) {
        if ((r.cidr === undefined) !== (r.matchOperator === undefined))
          out.push({ path: `spec.${key}[${i}]`, message: "cidr and matchOperator must be set together" });
      }
    }
  },
};

export const CalicoNode: KindDef = {
  group: G,
  version: V,
  kind: "Node",
  plural: "nodes",
  calicoctlNames: ["node", "nodes", "no", "nos"],
  namespaced: false,
  nameRule: "dns1123-subdomain",
  body: () => ({
    spec: obj({
      bgp: obj({
        asNumber: int.optional(),
        ipv4Address: cidrString.optional(),
        ipv6Address: cidrString.optional(),
        ipv4IPIPTunnelAddr: ipString.optional(),
        routeReflectorClusterID: str.optional(),
      }).optional(),
      ipv4VXLANTunnelAddr: ipString.optional(),
      vxlanTunnelMACAddr: str.optional(),
      ipv6VXLANTunnelAddr: ipString.optional(),
      vxlanTunnelMACAddrV6: str.optional(),
      orchRefs: z.array(obj({ nodeName: str.optional(), orchestrator: str })).optional(),
      wireguard: obj({
        interfaceIPv4Address: ipString.optional(),
        interfaceIPv6Address: ipString.optional(),
      }).optional(),
      addresses: z.array(obj({ address: str, type: str.optional() })).optional(),
    }).optional(),
    status: obj({
      podCIDRs: strList.optional(),
      wireguardPublicKey: str.optional(),
      wireguardPublicKeyV6: str.optional(),
      bgp: opaque.optional(),
    }).optional(),
  }),
};

export const FelixConfiguration: KindDef = {
  group: G,
  version: V,
  kind: "FelixConfiguration",
  plural: "felixconfigurations",
  calicoctlNames: ["felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs"],
  namespaced: false,
  // Every setting Felix has is known (strict, like calicoctl); the ones tortie acts on are typed (docs/API.md).
  body: () => ({ spec: felixConfigurationSpec() }),
};

export const KubeControllersConfiguration: KindDef = {
  group: G,
  version: V,
  kind: "KubeControllersConfiguration",
  plural: "kubecontrollersconfigurations",
  calicoctlNames: [
    "kubecontrollersconfiguration",
    "kubecontrollersconfigurations",
    "kubecontrollersconfig",
    "kubecontrollersconfigs",
  ],
  namespaced: false,
  fixedNames: ["default"],
  body: () => ({
    spec: obj({
      logSeverityScreen: str.optional(),
      healthChecks: z.enum(["Enabled", "Disabled"]).optional(),
      etcdV3CompactionPeriod: str.optional(),
      prometheusMetricsPort: calicoPortSetting().optional(),
      debugProfilePort: calicoPortSetting().optional(),
      controllers: obj({
        node: obj({
          reconcilerPeriod: str.optional(),
          syncLabels: z.enum(["Enabled", "Disabled"]).optional(),
          hostEndpoint: obj({
            autoCreate: z.enum(["Enabled", "Disabled"]).optional(),
            createDefaultHostEndpoint: str.optional(),
            templates: z.array(opaque).optional(),
          }).optional(),
          leakGracePeriod: str.optional(),
        }).optional(),
        policy: obj({ reconcilerPeriod: str.optional() }).optional(),
        workloadEndpoint: obj({ reconcilerPeriod: str.optional() }).optional(),
        serviceAccount: obj({ reconcilerPeriod: str.optional() }).optional(),
        namespace: obj({ reconcilerPeriod: str.optional() }).optional(),
        loadBalancer: obj({ assignIPs: str.optional() }).optional(),
      }).optional(),
    }),
    status: opaque.optional(),
  }),
};

export const ClusterInformation: KindDef = {
  group: G,
  version: V,
  kind: "ClusterInformation",
  plural: "clusterinformations",
  calicoctlNames: ["clusterinformation", "clusterinformations", "clusterinfo", "clusterinfos"],
  namespaced: false,
  fixedNames: ["default"],
  body: () => ({
    spec: obj({
      clusterGUID: str.optional(),
      clusterType: str.optional(),
      calicoVersion: str.optional(),
      datastoreReady: bool.optional(),
      variant: str.optional(),
    }),
  }),
  managedBy: "ClusterInformation is maintained by tortie",
};

export const Installation: KindDef = {
  group: "operator.tigera.io",
  version: "v1",
  kind: "Installation",
  plural: "installations",
  namespaced: false,
  body: () => ({
    spec: z.looseObject({
      variant: str.optional(),
      calicoNetwork: z
        .looseObject({
          // Enums are strings here; installation-rules.ts refuses other values in the API server's words.
          bgp: str.optional(),
          containerIPForwarding: str.optional(),
          linuxDataplane: str.optional(),
          hostPorts: z.union([z.enum(["Enabled", "Disabled"]), z.null()]).optional(),
          mtu: int.optional(),
          ipPools: z
            .array(
              obj({
                name: str.optional(),
                cidr: cidrString,
                blockSize: int.optional(),
                encapsulation: str.optional(),
                natOutgoing: str.optional(),
                nodeSelector: selectorString.optional(),
                disableBGPExport: bool.optional(),
                allowedUses: strList.optional(),
                assignmentMode: str.optional(),
                disableNewAllocations: bool.optional(),
              }),
            )
            .optional(),
        })
        .optional(),
    }),
    status: opaque.optional(),
  }),
  check: checkInstallation,
};

export const TigeraStatus: KindDef = {
  group: "operator.tigera.io",
  version: "v1",
  kind: "TigeraStatus",
  plural: "tigerastatuses",
  namespaced: false,
  body: () => ({
    spec: opaque.optional(),
    status: obj({ conditions: z.array(condition).optional() }).optional(),
  }),
};

export const calicoNetworkKinds: KindDef[] = [
  IPPool,
  IPReservation,
  IPAMConfiguration,
  IPAMBlock,
  BlockAffinity,
  IPAMHandle,
  BGPConfiguration,
  BGPPeer,
  BGPFilter,
  CalicoNode,
  FelixConfiguration,
  KubeControllersConfiguration,
  ClusterInformation,
  Installation,
  TigeraStatus,
];
