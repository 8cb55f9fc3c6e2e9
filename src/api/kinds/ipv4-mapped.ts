import { type Cidr, formatCidr } from "../../net/index.ts";

/**
 * The IPv4 network an IPv4-mapped IPv6 CIDR (inside ::ffff:0:0/96) stands for, else undefined. Go parses
 * `::ffff:10.200.0.0/120` to an address whose To4() is 10.200.0.0 and a mask whose last 32 bits are a /24, so
 * libcalico-go's overlap check (IPNet.Contains) treats it as 10.200.0.0/24; tortie compares pools the same way.
 */
function ipv4MappedCidr(c: Cidr): Cidr | undefined {
  if (c.family !== 6 || c.prefix < 96 || c.value >> 32n !== 0xffffn) return undefined;
  return { family: 4, value: c.value & 0xffffffffn, prefix: c.prefix - 96 };
}

/** A pool CIDR as libcalico-go compares it with other pools. */
export function poolComparable(c: Cidr): Cidr {
  return ipv4MappedCidr(c) ?? c;
}

export function ipv4MappedProblem(text: string, c: Cidr): string | undefined {
  const v4 = ipv4MappedCidr(c);
  return v4
    ? `IPv4-mapped IPv6 CIDR ${text} is not supported for an IP pool; use the IPv4 CIDR ${formatCidr(v4)}`
    : undefined;
}
