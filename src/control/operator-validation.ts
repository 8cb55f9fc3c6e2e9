/**
 * What the Tigera operator (v1.23, pkg/controller/installation/validation.go validateCustomResource) checks in the
 * Installation once its defaults are filled in, beyond what the CRD refuses at apply: the API server stores such an
 * Installation, and the operator reports the problem on TigeraStatus `calico` (Degraded, reason "Invalid
 * Installation provided") and installs nothing. IPv4 pools only: tortie's clusters are IPv4.
 */
import type { ApiObject } from "../api/index.ts";
import { parseCidr } from "../net/index.ts";

/** The operator's message for the first problem found, or undefined when the Installation is valid. */
export function installationProblem(installation: ApiObject): string | undefined {
  const network = installation.spec?.calicoNetwork ?? {};
  const pools = (network.ipPools ?? []) as Record<string, unknown>[];
  const v4 = pools.filter((p) => parseCidr(String(p.cidr))?.family === 4);
  if (v4.length > 1) return "multiple IPv4 IPPools detected: only one IPPool per version is allowed";
  const pool = v4[0];
  if (!pool) return undefined;
  const cidr = parseCidr(String(pool.cidr))!;
  // The operator's defaults: BGP Enabled, IPIP, natOutgoing Enabled, nodeSelector all().
  const bgpEnabled = (network.bgp ?? "Enabled") === "Enabled";
  const encapsulation = pool.encapsulation ?? "IPIP";
  if ((encapsulation === "IPIP" || encapsulation === "IPIPCrossSubnet") && !bgpEnabled)
    return "IPIP encapsulation requires that BGP is enabled";
  if (encapsulation === "None" && !bgpEnabled) return "Unencapsulated IP pools require that BGP is enabled";
  if (pool.nodeSelector === "") return "ipPool.nodeSelector should not be empty";
  if (pool.blockSize !== undefined) {
    const blockSize = Number(pool.blockSize);
    if (blockSize > 32 || blockSize < 20)
      return "ipPool.blockSize must be greater than 19 and less than or equal to 32";
    if (cidr.prefix > blockSize)
      return "IP pool size is too small. It must be equal to or greater than the block size.";
  }
  return undefined;
}
