import type { Conntrack } from "./conntrack.ts";
import { ICMP, type Packet } from "./netfilter/index.ts";

/**
 * The ICMP echo identifier after source NAT (`p.src` already translated), as nf_nat_l4proto_unique_tuple
 * picks it: kept when the reply tuple is free, unless `--random`/`--random-fully` asks for a random one; else
 * a random identifier in 0–65535 whose reply tuple is free.
 */
export function natIcmpId(
  conntrack: Conntrack,
  p: Packet,
  randomFully: boolean,
  random: () => number,
  now: number,
): number {
  const free = (id: number) => !conntrack.inUse(ICMP, { src: p.dst, dst: p.src, sport: id, dport: 0 }, now);
  if (!randomFully && free(p.sport)) return p.sport;
  for (let i = 0; i < 64; i++) {
    const id = Math.floor(random() * 65536);
    if (free(id)) return id;
  }
  for (let id = 0; id < 65536; id++) if (free(id)) return id;
  return p.sport;
}
