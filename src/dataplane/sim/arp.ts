import type { Kernel, Link, Segment } from "./kernel.ts";

/**
 * ARP: who on this link answers for `ip`? On a veth, the peer namespace if it owns the address, or if the
 * peer end has proxy_arp and a route to the address through another device (Calico's 169.254.1.1 trick).
 * On a segment, whichever member owns it.
 */
export function resolveNeighbour(
  link: Link,
  ip: number,
): { kernel: Kernel; link: Link; proxy: boolean } | undefined {
  if (link.peer) {
    const answer = answers(link.peer.kernel, link.peer.link, ip);
    if (answer) return answer;
  }
  if (link.segment) {
    const segment = link.segment;
    const answer = segmentAnswer(segment, link, ip, 0);
    if (answer || !segment.resolve) return answer;
    const before = segment.members.length;
    segment.resolve(ip);
    if (segment.members.length > before) return segmentAnswer(segment, link, ip, before);
  }
  return undefined;
}

/** Whichever member of the segment (from index `from` on) answers for `ip`. */
function segmentAnswer(
  segment: Segment,
  link: Link,
  ip: number,
  from: number,
): { kernel: Kernel; link: Link; proxy: boolean } | undefined {
  for (let i = from; i < segment.members.length; i++) {
    const m = segment.members[i]!;
    if (m === link) continue;
    const answer = answers(segmentOwners.get(m)!, m, ip);
    if (answer) return answer;
  }
  return undefined;
}

/** Does `kernel` answer ARP for `ip` on `link`: it owns the address, or proxies for it through another device. */
function answers(
  kernel: Kernel,
  link: Link,
  ip: number,
): { kernel: Kernel; link: Link; proxy: boolean } | undefined {
  if (!link.up) return undefined;
  if (kernel.isLocal(ip)) return { kernel, link, proxy: false };
  if (link.proxyArp) {
    const r = kernel.main.lookup(ip);
    if (r) for (const n of r.nexthops) if (n.dev !== link.name) return { kernel, link, proxy: true };
  }
  return undefined;
}

const segmentOwners = new WeakMap<Link, Kernel>();

export function joinSegment(segment: Segment, kernel: Kernel, link: Link): void {
  link.segment = segment;
  segment.members.push(link);
  segmentOwners.set(link, kernel);
}
