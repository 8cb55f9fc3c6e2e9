/**
 * The Installation CRD's enums (operator.tigera.io_installations.yaml), refused in the API server's words
 * (`Unsupported value: "Bogus": supported values: "Iptables", "BPF", …`), and the dataplanes tortie does not run,
 * refused at apply so nothing is stored that would silently run iptables instead.
 */
import { type FieldProblem, UnsupportedError } from "../../lib/index.ts";
import type { ApiObject } from "../object.ts";

/** The CRD's enum lists, in the CRD's order (the order the API server prints them in). */
export const LINUX_DATAPLANES = ["Iptables", "BPF", "VPP", "Nftables"] as const;
const ENABLED_DISABLED = ["Enabled", "Disabled"];
const ENCAPSULATIONS = ["IPIPCrossSubnet", "IPIP", "VXLAN", "VXLANCrossSubnet", "None"];
/** The dataplanes tortie runs; the CRD's others are refused as not built. */
const RUN_BY_TORTIE = new Set(["Iptables", "BPF"]);

function checkEnum(value: unknown, allowed: readonly string[], path: string, out: FieldProblem[]): void {
  if (value === undefined || allowed.includes(value as string)) return;
  out.push({
    path,
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((v) => `"${v}"`).join(", ")}`,
  });
}

export function checkInstallation(o: ApiObject, out: FieldProblem[]): void {
  const network = o.spec?.calicoNetwork;
  if (!network) return;
  const dataplanePath = "spec.calicoNetwork.linuxDataplane";
  checkEnum(network.linuxDataplane, LINUX_DATAPLANES, dataplanePath, out);
  checkEnum(network.bgp, ENABLED_DISABLED, "spec.calicoNetwork.bgp", out);
  checkEnum(network.containerIPForwarding, ENABLED_DISABLED, "spec.calicoNetwork.containerIPForwarding", out);
  (network.ipPools ?? []).forEach((pool: Record<string, unknown>, i: number) => {
    checkEnum(pool.encapsulation, ENCAPSULATIONS, `spec.calicoNetwork.ipPools[${i}].encapsulation`, out);
    checkEnum(pool.natOutgoing, ENABLED_DISABLED, `spec.calicoNetwork.ipPools[${i}].natOutgoing`, out);
  });
  const dataplane = network.linuxDataplane;
  if (out.length === 0 && dataplane !== undefined && !RUN_BY_TORTIE.has(dataplane))
    throw new UnsupportedError(
      `Installation ${dataplanePath} ${JSON.stringify(dataplane)} (tortie runs Iptables and BPF)`,
    );
}
