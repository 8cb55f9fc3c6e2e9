/**
 * IPv4 addresses as unsigned 32-bit numbers: the emulated kernel compares and masks addresses on every
 * packet, and numbers are an order of magnitude cheaper than the `net` folder's bigint values.
 */

export interface Ipv4Prefix {
  addr: number;
  len: number;
  mask: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value >>> 0;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** `a.b.c.d[/n]`; host bits are cleared, as the kernel does for rules and routes. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  const slash = text.indexOf("/");
  const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  let len = 32;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (/^\d{1,2}$/.test(lenText)) len = Number(lenText);
    else {
      // iptables also accepts a dotted mask.
      const m = parseIpv4(lenText);
      if (m === undefined) return undefined;
      len = popcount(m);
      if (maskOf(len) !== m) return undefined;
    }
    if (len > 32) return undefined;
  }
  const mask = maskOf(len);
  return { addr: (addr & mask) >>> 0, len, mask };
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x; x = (x & (x - 1)) >>> 0) n++;
  return n;
}

export function prefixContains(p: Ipv4Prefix, ip: number): boolean {
  return (ip & p.mask) >>> 0 === p.addr;
}

export function formatPrefix(p: Ipv4Prefix): string {
  return `${formatIpv4(p.addr)}/${p.len}`;
}
