import type { ConntrackEntry } from "./conntrack.ts";
import type { Kernel } from "./kernel.ts";
import type { CtState, MatchContext, Packet } from "./netfilter/index.ts";

/** What rules may ask of the namespace a packet is in. A class, so no closures are made per packet. */
export class KernelMatchContext implements MatchContext {
  constructor(
    private readonly kernel: Kernel,
    public inIface: string,
    public outIface: string,
    public ctState: CtState,
    public ctNat: ConntrackEntry | undefined,
    readonly random: () => number,
  ) {}

  isLocal(ip: number): boolean {
    return this.kernel.isLocal(ip);
  }

  isAddressType(ip: number, type: string): boolean {
    if (type === "LOCAL") return this.kernel.isLocal(ip);
    if (type === "UNICAST") return !this.kernel.isLocal(ip) && ip >>> 28 !== 14 && ip !== 0xffffffff;
    if (type === "BROADCAST") return ip === 0xffffffff;
    if (type === "MULTICAST") return ip >>> 28 === 14;
    return false;
  }

  ipsetHas(name: string, p: Packet, dirs: readonly ("src" | "dst")[]): boolean {
    return this.kernel.ipsets.has(name, p, dirs);
  }
}
