import type { ConntrackEntry } from "./conntrack.ts";
import type { Kernel } from "./kernel.ts";
import type { CtState, MatchContext, Packet } from "./netfilter/index.ts";

/**
 * What rules may ask of the namespace a packet is in, and the packet's conntrack verdict there. A class, so no
 * closures are made per packet; one per namespace, reused for each packet's hooks (network.ts).
 */
export class KernelMatchContext implements MatchContext {
  /** The packet's connection in this namespace (kept while raw's rules see none), its direction, and whether
   * the packet opens it (a new entry, confirmed at POSTROUTING or INPUT if the packet gets that far). */
  ctEntry: ConntrackEntry | undefined = undefined;
  ctReply = false;
  ctFresh = false;

  constructor(
    private readonly kernel: Kernel,
    public inIface: string,
    public outIface: string,
    public ctState: CtState,
    public ctNat: ConntrackEntry | undefined,
    readonly random: () => number,
  ) {}

  /** Sets the conntrack verdict rules see (`--ctstate`, and the NAT status bits of `ctNat`). */
  track(entry: ConntrackEntry | undefined, reply: boolean, fresh: boolean, state: CtState): void {
    this.ctEntry = entry;
    this.ctNat = entry;
    this.ctReply = reply;
    this.ctFresh = fresh;
    this.ctState = state;
  }

  /** After NOTRACK in raw: no conntrack entry, no NAT, and rules see the state UNTRACKED. */
  untrack(): void {
    this.track(undefined, false, false, "UNTRACKED");
  }

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
