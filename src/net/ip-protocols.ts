/**
 * IP protocol names as iptables and nft resolve them: netbase's /etc/protocols (Debian 12) through
 * getprotobyname/getprotobynumber, then iptables' own `xtables_chain_protos` for the few names missing there.
 * Checked against iptables 1.8.9 and nft 1.0.6 in a namespace: `-p 4` is saved as `-p ipencap`, 94 as `ipip`,
 * 58 as `ipv6-icmp`; `meta l4proto 4` is listed as `ipencap`.
 */

/** /etc/protocols: official name → number (the first name of a number is what getprotobynumber gives). */
const NETBASE: readonly (readonly [string, number])[] = [
  ["ip", 0],
  ["hopopt", 0],
  ["icmp", 1],
  ["igmp", 2],
  ["ggp", 3],
  ["ipencap", 4],
  ["st", 5],
  ["tcp", 6],
  ["egp", 8],
  ["igp", 9],
  ["pup", 12],
  ["udp", 17],
  ["hmp", 20],
  ["xns-idp", 22],
  ["rdp", 27],
  ["iso-tp4", 29],
  ["dccp", 33],
  ["xtp", 36],
  ["ddp", 37],
  ["idpr-cmtp", 38],
  ["ipv6", 41],
  ["ipv6-route", 43],
  ["ipv6-frag", 44],
  ["idrp", 45],
  ["rsvp", 46],
  ["gre", 47],
  ["esp", 50],
  ["ah", 51],
  ["skip", 57],
  ["ipv6-icmp", 58],
  ["ipv6-nonxt", 59],
  ["ipv6-opts", 60],
  ["rspf", 73],
  ["vmtp", 81],
  ["eigrp", 88],
  ["ospf", 89],
  ["ax.25", 93],
  ["ipip", 94],
  ["etherip", 97],
  ["encap", 98],
  ["pim", 103],
  ["ipcomp", 108],
  ["vrrp", 112],
  ["l2tp", 115],
  ["isis", 124],
  ["sctp", 132],
  ["fc", 133],
  ["mobility-header", 135],
  ["udplite", 136],
  ["mpls-in-ip", 137],
  ["manet", 138],
  ["hip", 139],
  ["shim6", 140],
  ["wesp", 141],
  ["rohc", 142],
  ["ethernet", 143],
];

/** iptables' `xtables_chain_protos`: the names it knows without a lookup (all that `-L -n` in 1.8.4 prints). */
const XTABLES: readonly (readonly [string, number])[] = [
  ["tcp", 6],
  ["sctp", 132],
  ["udp", 17],
  ["udplite", 136],
  ["icmp", 1],
  ["icmpv6", 58],
  ["esp", 50],
  ["ah", 51],
  ["ipv6-mh", 135],
  ["mh", 135],
  ["all", 0],
];

const byName = new Map<string, number>([...XTABLES, ...NETBASE].reverse());
const netbaseByNumber = new Map<number, string>([...NETBASE].reverse().map(([n, p]) => [p, n]));
const xtablesByNumber = new Map<number, string>([...XTABLES].reverse().map(([n, p]) => [p, n]));

/** `-p NAME` as iptables parses it (lower-cased; a number 0–255, `all`, /etc/protocols, then its own names). */
export function parseProtocol(name: string): number | undefined {
  const lower = name.toLowerCase();
  if (/^\d{1,3}$/.test(lower)) return Number(lower) <= 255 ? Number(lower) : undefined;
  return byName.get(lower);
}

/** getprotobynumber's name (proto 0 has none for iptables: it never looks 0 up). */
export function netbaseProtocolName(num: number): string | undefined {
  return num === 0 ? undefined : netbaseByNumber.get(num);
}

/**
 * The protocol column or `-p` word iptables prints: `lookup` (iptables-save, -S, -L without -n) asks
 * /etc/protocols first; without it (1.8.4's -L -n) only iptables' own names; a number when neither knows it.
 */
export function iptablesProtocolText(num: number, lookup: boolean): string {
  return (lookup ? netbaseProtocolName(num) : undefined) ?? xtablesByNumber.get(num) ?? `${num}`;
}
