/**
 * The dataplane modes the linux dataplane refuses, each with a one-line reason, before anything is programmed:
 * Calico's eBPF mode (no BPF loader here) and IPIP where the kernel has no IPIP tunnel driver (probed, as the
 * nfacct probe does, in a throwaway namespace: where the driver exists, IPIP is built for real).
 */
import type { ClusterDataplane } from "../../calc/index.ts";
import { runCommand } from "./exec.ts";

export const BPF_REFUSAL =
  "not supported yet on the linux dataplane: Calico's eBPF mode (bpfEnabled) needs a BPF loader, which the linux dataplane does not have; use the sim";

export function ipipRefusal(pool: string): string {
  return `not supported yet on the linux dataplane: IPIP pool "${pool}" (this kernel has no IPIP tunnel driver; use vxlanMode or the sim)`;
}

let ipipProbe: Promise<boolean> | undefined;

/** Whether this kernel can make an IPIP device (asked once per process). */
export function kernelHasIpip(): Promise<boolean> {
  ipipProbe ??= (async () => {
    const ns = `tt-probe-${process.pid}-ipip`;
    if ((await runCommand("ip", ["netns", "add", ns])).code !== 0) return false;
    try {
      return (await runCommand("ip", ["-n", ns, "link", "add", "tt-ipip", "type", "ipip"])).code === 0;
    } finally {
      await runCommand("ip", ["netns", "del", ns]);
    }
  })();
  return ipipProbe;
}

/**
 * Why `d` cannot be applied here, or undefined. `ipipPool` names the pool for the message when the caller knows
 * it (the CLI reads the store; the dataplane sees only tunl0).
 */
export async function modeRefusal(d: ClusterDataplane, ipipPool?: string): Promise<string | undefined> {
  if (d.hosts.some((h) => h.bpf)) return BPF_REFUSAL;
  const ipipHost = d.hosts.find((h) => h.namespaces.some((ns) => ns.links.some((l) => l.kind === "ipip")));
  if ((ipipHost || ipipPool) && !(await kernelHasIpip()))
    return ipipPool
      ? ipipRefusal(ipipPool)
      : `not supported yet on the linux dataplane: IPIP on host ${ipipHost!.host} (this kernel has no IPIP tunnel driver; use vxlanMode or the sim)`;
  return undefined;
}
