import {
  type Cidr,
  cidrContainsCidr,
  cidrContainsIp,
  cidrsOverlap,
  type IpAddress,
  parseCidrOrIp,
} from "../net/index.ts";

/** Addresses IPAM must not hand out: the union of every IPReservation's reservedCIDRs. */
export class AddressFilter {
  private readonly cidrs: Cidr[];

  constructor(cidrs: Cidr[]) {
    this.cidrs = cidrs;
  }

  static fromReservations(reservations: { spec?: { reservedCIDRs?: string[] } }[]): AddressFilter {
    const cidrs: Cidr[] = [];
    for (const r of reservations)
      for (const text of r.spec?.reservedCIDRs ?? []) {
        const c = parseCidrOrIp(text);
        if (c) cidrs.push(c);
      }
    return new AddressFilter(cidrs);
  }

  get isEmpty(): boolean {
    return this.cidrs.length === 0;
  }

  matchesIp(ip: IpAddress): boolean {
    for (const c of this.cidrs) if (cidrContainsIp(c, ip)) return true;
    return false;
  }

  /** Every address of `cidr` is reserved (by one reservation; Calico does not merge them either). */
  coversCidr(cidr: Cidr): boolean {
    for (const c of this.cidrs) if (cidrContainsCidr(c, cidr)) return true;
    return false;
  }

  overlapsCidr(cidr: Cidr): boolean {
    for (const c of this.cidrs) if (cidrsOverlap(c, cidr)) return true;
    return false;
  }
}

export const NO_RESERVATIONS = new AddressFilter([]);
