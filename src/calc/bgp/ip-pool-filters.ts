import type { ApiObject } from "../../api/index.ts";
import { formatCidr, maskCidr, parseCidr } from "../../net/index.ts";

/**
 * The BIRD filter lines confd derives from IP pools (bgp_processor.go's processIPPools): which pools are
 * exported to BGP peers, which tunnel routes stay off iBGP, and which learned routes BIRD may program into the
 * kernel. Lines are the exact text confd puts in bird_ipam.cfg.
 */
export interface PoolFilterLines {
  /** `if (net ~ <pool>) then { reject; } # BGP export is disabled.`, sorted. */
  exportRejectDisabled: string[];
  /** The iBGP-only rejection of Felix's tunnel-device routes. */
  ibgpRejectTunnelRoutes: string[];
  /** `if (net ~ <pool>) then { accept; }`, sorted. */
  exportAcceptEnabled: string[];
  /** The kernel programming filter's per-pool lines, sorted. */
  kernel: string[];
}

/** BGPConfiguration.programClusterRoutes: which pools' cluster routes BIRD programs (the rest Felix does). */
interface ClusterRoutePolicy {
  ipip: boolean;
  noEncap: boolean;
}

function clusterRoutePolicy(value: unknown): ClusterRoutePolicy {
  switch (value) {
    case "Disabled":
      return { ipip: false, noEncap: false };
    case "Enabled":
      return { ipip: true, noEncap: true };
    case "EnabledIPIPOnly":
      return { ipip: true, noEncap: false };
    default:
      return { ipip: false, noEncap: true };
  }
}

interface PoolView {
  cidr: string;
  ipip: "always" | "cross-subnet" | "";
  vxlan: boolean;
  disableBGPExport: boolean;
}

function poolView(pool: ApiObject): PoolView | undefined {
  const cidr = typeof pool.spec?.cidr === "string" ? parseCidr(pool.spec.cidr) : undefined;
  if (!cidr) return undefined;
  const ipipMode = pool.spec?.ipipMode;
  const vxlanMode = pool.spec?.vxlanMode;
  return {
    cidr: formatCidr(maskCidr(cidr)),
    ipip: ipipMode === "Always" ? "always" : ipipMode === "CrossSubnet" ? "cross-subnet" : "",
    vxlan: vxlanMode === "Always" || vxlanMode === "CrossSubnet",
    disableBGPExport: pool.spec?.disableBGPExport === true,
  };
}

function programsPool(policy: ClusterRoutePolicy, pool: PoolView): boolean {
  if (pool.vxlan) return false;
  if (pool.ipip !== "") return policy.ipip;
  return policy.noEncap;
}

function statement(cidr: string, action: "accept" | "reject", extra = "", comment = ""): string {
  const body = extra
    ? `  if (net ~ ${cidr}) then { ${extra} ${action}; }`
    : `  if (net ~ ${cidr}) then { ${action}; }`;
  return comment ? `${body} # ${comment}` : body;
}

/** bgp_processor.go's processIPPool: one line, or none when its action is not the one asked for. */
function poolLine(
  pool: PoolView,
  policy: ClusterRoutePolicy,
  forKernel: boolean,
  want: "accept" | "reject" | "",
  localSubnet: string,
  family: 4 | 6,
): string | undefined {
  const pick = (action: "accept" | "reject", extra = "", comment = "") =>
    want === "" || want === action ? statement(pool.cidr, action, extra, comment) : undefined;
  if (pool.disableBGPExport && !forKernel) return pick("reject", "", "BGP export is disabled.");
  if (pool.vxlan)
    return forKernel ? pick("reject", "", "VXLAN routes are handled by Felix.") : pick("accept");
  if (programsPool(policy, pool)) {
    let extra = "";
    if (forKernel && family === 4) {
      if (pool.ipip === "always") extra = `krt_tunnel="tunl0";`;
      else if (pool.ipip === "cross-subnet") {
        extra = `if (defined(bgp_next_hop)&&(bgp_next_hop ~ ${localSubnet})) then krt_tunnel=""; else krt_tunnel="tunl0";`;
      }
    }
    return pick("accept", extra);
  }
  if (forKernel) return pick("reject", "", "Cluster routes are handled by Felix.");
  return pick("accept");
}

/**
 * The pool filter lines for one family. `programClusterRoutes` is the default BGPConfiguration's field;
 * `localSubnet` is this node's network_v<family> (undefined when the node has no address of that family, in
 * which case confd writes no IPv4 kernel lines at all).
 */
export function poolFilterLines(
  pools: readonly ApiObject[],
  family: 4 | 6,
  programClusterRoutes: unknown,
  localSubnet: string | undefined,
): PoolFilterLines {
  const policy = clusterRoutePolicy(programClusterRoutes);
  const patterns = ["*.cali", "*.calico", ...(policy.ipip ? [] : ["tunl0"])];
  const conditions = patterns.map((p) => `(ifname ~ "${p}")`).join(" || ");
  const lines: PoolFilterLines = {
    exportRejectDisabled: [],
    ibgpRejectTunnelRoutes: [
      "if (defined(ifname)) then {",
      `  if (${conditions}) then {`,
      "    reject;",
      "  }",
      "}",
    ],
    exportAcceptEnabled: [],
    kernel: [],
  };
  const kernelAction = family === 6 ? "reject" : "";
  for (const o of pools) {
    if (o.kind !== "IPPool") continue;
    const pool = poolView(o);
    if (!pool || (pool.cidr.includes(":") ? 6 : 4) !== family) continue;
    const reject = poolLine(pool, policy, false, "reject", "", family);
    if (reject) lines.exportRejectDisabled.push(reject);
    const accept = poolLine(pool, policy, false, "accept", "", family);
    if (accept) lines.exportAcceptEnabled.push(accept);
    if (family === 6 || localSubnet !== undefined) {
      const kernel = poolLine(pool, policy, true, kernelAction, localSubnet ?? "", family);
      if (kernel) lines.kernel.push(kernel);
    }
  }
  lines.exportRejectDisabled.sort();
  lines.exportAcceptEnabled.sort();
  lines.kernel.sort();
  return lines;
}
