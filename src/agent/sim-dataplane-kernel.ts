/**
 * The sim's emulated kernel behind the `DataplaneKernel` interface (calc/node-dataplane-types.ts), for the
 * contract suite that holds it and the linux dataplane to one description: namespaces, links, routes, iptables
 * and ipsets. It builds emulated namespaces straight from the description (no store, no SimCluster); it runs no
 * BIRD and no apps (SimCluster does, for the twin).
 */
import {
  type ClusterDataplane,
  type DataplaneKernel,
  KERNEL_QUERY_COMMANDS,
  type KernelCommandResult,
  type KernelQuery,
  normaliseKernelQuery,
} from "../calc/index.ts";
import { applyNamespace, Kernel, type Segment } from "../dataplane/sim/index.ts";
import { bridgeCommand } from "./bridge-fdb.ts";
import { ipShow } from "./ip-show.ts";
import { conntrack, iptables, iptablesSave } from "./sim-commands.ts";
import { sysctlCommand } from "./sysctl-command.ts";
import { wgCommand } from "./wg-show.ts";

const ok = (stdout: string): KernelCommandResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): KernelCommandResult => ({ stdout: "", stderr, code });

/** Builds every namespace of a description into fresh emulated kernels (throws one line on a refusal). */
function build(description: ClusterDataplane): Map<string, Kernel> {
  const kernels = new Map<string, Kernel>();
  const underlay: Segment = { name: description.underlay.name, members: [] };
  const options = {
    segment: (n: string) => (n === underlay.name ? underlay : undefined),
    kernel: (n: string) => kernels.get(n),
    clock: () => 0,
  };
  for (const host of description.hosts)
    for (const ns of host.namespaces) {
      if (kernels.has(ns.name)) throw new Error(`namespace ${ns.name} is described twice`);
      const k = new Kernel(ns.name);
      try {
        applyNamespace(k, ns, options);
      } catch (e) {
        throw new Error(`${ns.name}: ${(e as Error).message.split("\n")[0]}`);
      }
      kernels.set(ns.name, k);
    }
  return kernels;
}

/** `ip -br link`, as iproute2 prints it (name@peer's ifindex, state, MAC, flags). */
function briefLinks(k: Kernel): string {
  const out: string[] = [];
  for (const l of k.links.values()) {
    const name = l.peer ? `${l.name}@if${l.peer.link.index}` : l.kind === "ipip" ? `${l.name}@NONE` : l.name;
    // Devices without a carrier of their own (lo, tunnels) report UNKNOWN when up.
    const carrierless =
      l.kind === "loopback" || l.kind === "vxlan" || l.kind === "ipip" || l.kind === "wireguard";
    const state = l.up ? (carrierless ? "UNKNOWN" : "UP") : "DOWN";
    const flags =
      l.kind === "loopback"
        ? "<LOOPBACK,UP,LOWER_UP>"
        : l.kind === "ipip"
          ? "<NOARP,UP,LOWER_UP>"
          : l.kind === "wireguard"
            ? "<POINTOPOINT,NOARP,UP,LOWER_UP>"
            : "<BROADCAST,MULTICAST,UP,LOWER_UP>";
    // tunl0's link-layer address is 0.0.0.0; WireGuard has none (ip -br prints nothing for it).
    const address = l.kind === "ipip" ? "0.0.0.0 " : l.kind === "wireguard" ? "" : `${l.mac} `;
    out.push(`${name.padEnd(16)} ${state.padEnd(14)} ${address}${flags}`);
  }
  return `${out.join("\n")}\n`;
}

/** `ipset save` of a namespace's sets. */
function ipsetSave(k: Kernel): string {
  const out: string[] = [];
  for (const s of k.ipsets.sets.values()) {
    out.push(`create ${s.name} ${s.type} family inet hashsize 1024 maxelem 1048576`);
    for (const m of s.members) out.push(`add ${s.name} ${m}`);
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

export class SimDataplaneKernel implements DataplaneKernel {
  private kernels = new Map<string, Kernel>();

  /**
   * Builds every namespace afresh, with or without `previous`: the emulated kernel is cheap to build, and a full
   * rebuild is exactly the description. The new namespaces replace the old only when all were built (fail static).
   */
  async apply(next: ClusterDataplane, _previous?: ClusterDataplane): Promise<void> {
    this.kernels = build(next);
  }

  async run(target: string, argv: string[]): Promise<KernelCommandResult> {
    const k = this.kernels.get(target);
    if (!k) return fail(`no namespace ${target}\n`);
    const [cmd, ...args] = argv;
    switch (cmd) {
      case "ip":
        if ((args[0] === "-br" || args[0] === "-brief") && "link".startsWith(args[1] ?? "?"))
          return ok(briefLinks(k));
        return ipShow(k, args, 0);
      case "sysctl":
        return sysctlCommand(k, args);
      case "iptables-save":
        return iptablesSave(k, args);
      case "iptables":
        return iptables(k, args);
      case "ipset":
        // `ipset list`'s header (revision, memory size, references) is the kernel's own: only `save` is modelled.
        if (args[0] === "save") return ok(ipsetSave(k));
        return fail(`not supported yet: ipset ${args.join(" ")} on this kernel\n`);
      case "conntrack":
        return conntrack(0, k, args);
      case "bridge":
        return bridgeCommand(k, args);
      case "wg":
        // No traffic flows in this kernel (no Network): handshakes and transfer stay none.
        return wgCommand(k, args, 0, 0);
      default:
        return fail(`not supported yet: ${cmd ?? "(no command)"} on the sim dataplane kernel\n`);
    }
  }

  async query(target: string, what: KernelQuery): Promise<string> {
    const r = await this.run(target, KERNEL_QUERY_COMMANDS[what]);
    if (r.code !== 0) throw new Error(r.stderr.split("\n")[0]);
    return normaliseKernelQuery(what, r.stdout);
  }

  async destroy(): Promise<void> {
    this.kernels = new Map();
  }
}
