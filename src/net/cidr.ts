import { familyBits, formatIp, type IpAddress, type IpFamily, parseIp } from "./ip.ts";

/** A network prefix. `value` is the address as written; use `isMasked`/`maskCidr` for the network address. */
export interface Cidr {
  family: IpFamily;
  value: bigint;
  prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash === -1) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > familyBits(ip.family)) return undefined;
  return { family: ip.family, value: ip.value, prefix };
}

/** Accepts a CIDR or a bare address (as a host prefix), as Calico does for `nets` and peer IPs. */
export function parseCidrOrIp(text: string): Cidr | undefined {
  if (text.includes("/")) return parseCidr(text);
  const ip = parseIp(text);
  return ip ? { family: ip.family, value: ip.value, prefix: familyBits(ip.family) } : undefined;
}

function computeHostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(familyBits(family) - prefix)) - 1n;
}

/** Host and network masks per family and prefix, made once: policy matching tests CIDRs millions of times. */
const HOST_MASKS = { 4: [] as bigint[], 6: [] as bigint[] };
const NET_MASKS = { 4: [] as bigint[], 6: [] as bigint[] };
for (const family of [4, 6] as const)
  for (let prefix = 0; prefix <= familyBits(family); prefix++) {
    HOST_MASKS[family][prefix] = computeHostMask(family, prefix);
    NET_MASKS[family][prefix] = ~computeHostMask(family, prefix);
  }

function hostMask(family: IpFamily, prefix: number): bigint {
  return HOST_MASKS[family]?.[prefix] ?? computeHostMask(family, prefix);
}

export function networkAddress(c: Cidr): bigint {
  return c.value & ~hostMask(c.family, c.prefix);
}

export function isMasked(c: Cidr): boolean {
  return (c.value & hostMask(c.family, c.prefix)) === 0n;
}

export function maskCidr(c: Cidr): Cidr {
  return { family: c.family, value: networkAddress(c), prefix: c.prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.value })}/${c.prefix}`;
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

export function cidrContainsIp(c: Cidr, ip: IpAddress): boolean {
  if (c.family !== ip.family) return false;
  const mask = NET_MASKS[c.family]?.[c.prefix] ?? ~computeHostMask(c.family, c.prefix);
  return (ip.value & mask) === (c.value & mask);
}

/** True when `outer` contains every address of `inner`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.prefix <= inner.prefix &&
    cidrContainsIp(outer, { family: inner.family, value: inner.value })
  );
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

export const LINK_LOCAL_V4 = parseCidr("169.254.0.0/16")!;
export const LINK_LOCAL_V6 = parseCidr("fe80::/10")!;
