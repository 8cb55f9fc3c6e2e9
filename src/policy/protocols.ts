/** Protocol names Calico accepts, as IANA numbers (numorstring.Protocol.NumValue). */
const NUMBERS: Record<string, number> = { ICMP: 1, TCP: 6, UDP: 17, ICMPv6: 58, SCTP: 132, UDPLite: 136 };

export function protocolNumber(p: string | number): number | undefined {
  if (typeof p === "number") return p;
  if (/^[0-9]+$/.test(p)) return Number(p);
  return NUMBERS[p] ?? NUMBERS[Object.keys(NUMBERS).find((k) => k.toLowerCase() === p.toLowerCase()) ?? ""];
}

export function protocolName(n: number): string {
  return Object.entries(NUMBERS).find(([, v]) => v === n)?.[0] ?? String(n);
}

export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;
export const ICMP = 1;
export const ICMPV6 = 58;
