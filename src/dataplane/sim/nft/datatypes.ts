import { formatIpv4, maskOf, parseIpv4 } from "../ipv4.ts";
import { protocolByName, protocolName } from "../netfilter/index.ts";

/** A value range `[lo, hi]` of one datatype (a single value has lo === hi). */
export type Range = [number, number];

/** One nft datatype as far as the sim needs it: parse, print, and the bytes nft sorts elements by. */
export interface DataType {
  name: string;
  /** Width in bytes and byte order of the value in the kernel's registers (nft's msort packs these). */
  bytes: number;
  bigEndian: boolean;
  /** How many elements nft prints on one line of a set of this type. */
  perLine: number;
  parse(text: string): Range | undefined;
  format(r: Range): string;
}

function parseNumber(text: string, max: number): number | undefined {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

function numericRange(text: string, max: number): Range | undefined {
  const dash = text.indexOf("-", 1);
  if (dash > 0) {
    const lo = parseNumber(text.slice(0, dash), max);
    const hi = parseNumber(text.slice(dash + 1), max);
    return lo === undefined || hi === undefined || hi < lo ? undefined : [lo, hi];
  }
  const n = parseNumber(text, max);
  return n === undefined ? undefined : [n, n];
}

const ipv4: DataType = {
  name: "ipv4_addr",
  bytes: 4,
  bigEndian: true,
  perLine: 2,
  parse(text) {
    const slash = text.indexOf("/");
    if (slash >= 0) {
      const addr = parseIpv4(text.slice(0, slash));
      const len = parseNumber(text.slice(slash + 1), 32);
      if (addr === undefined || len === undefined) return undefined;
      const lo = (addr & maskOf(len)) >>> 0;
      return [lo, (lo | ~maskOf(len)) >>> 0];
    }
    const dash = text.indexOf("-");
    if (dash >= 0) {
      const lo = parseIpv4(text.slice(0, dash));
      const hi = parseIpv4(text.slice(dash + 1));
      return lo === undefined || hi === undefined || hi < lo ? undefined : [lo, hi];
    }
    const a = parseIpv4(text);
    return a === undefined ? undefined : [a, a];
  },
  format([lo, hi]) {
    if (lo === hi) return formatIpv4(lo);
    const size = hi - lo + 1;
    const len = 32 - Math.log2(size);
    if (Number.isInteger(len) && (lo & ~maskOf(len)) >>> 0 === 0) return `${formatIpv4(lo)}/${len}`;
    return `${formatIpv4(lo)}-${formatIpv4(hi)}`;
  },
};

const inetProto: DataType = {
  name: "inet_proto",
  bytes: 1,
  bigEndian: true,
  perLine: 5,
  parse(text) {
    const n = protocolByName(text);
    return n === undefined || n === 0 ? numericRange(text, 255) : [n, n];
  },
  format([lo, hi]) {
    const one = (n: number) => protocolName(n) ?? `${n}`;
    return lo === hi ? one(lo) : `${one(lo)}-${one(hi)}`;
  },
};

const inetService: DataType = {
  name: "inet_service",
  bytes: 2,
  bigEndian: true,
  perLine: 5,
  parse: (text) => numericRange(text, 65535),
  format: ([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`),
};

const hex8 = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

const mark: DataType = {
  name: "mark",
  bytes: 4,
  bigEndian: false,
  perLine: 5,
  parse: (text) => numericRange(text, 0xffffffff),
  format: ([lo, hi]) => (lo === hi ? hex8(lo) : `${hex8(lo)}-${hex8(hi)}`),
};

const integer: DataType = {
  name: "integer",
  bytes: 4,
  bigEndian: false,
  perLine: 5,
  parse: (text) => numericRange(text, 0xffffffff),
  format: ([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`),
};

/** `ct state` bits, in the order nft prints them. */
export const CT_STATES: [string, number][] = [
  ["invalid", 1],
  ["established", 2],
  ["related", 4],
  ["new", 8],
  ["untracked", 64],
];

const ctState: DataType = {
  name: "ct_state",
  bytes: 4,
  bigEndian: false,
  perLine: 2,
  parse(text) {
    let bits = 0;
    for (const part of text.split(",")) {
      const s = CT_STATES.find(([n]) => n === part);
      if (!s) return undefined;
      bits |= s[1];
    }
    return [bits, bits];
  },
  format([bits]) {
    return CT_STATES.filter(([, b]) => bits & b)
      .map(([n]) => n)
      .join(",");
  },
};

/** fib's address types, with the names `MatchContext.isAddressType` knows. */
export const FIB_TYPES = ["unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole"];

const fibAddrType: DataType = {
  name: "fib_addrtype",
  bytes: 4,
  bigEndian: false,
  perLine: 2,
  parse(text) {
    const i = FIB_TYPES.indexOf(text);
    return i < 0 ? undefined : [i, i];
  },
  format: ([lo]) => FIB_TYPES[lo] ?? `${lo}`,
};

export const DATATYPES: Record<string, DataType> = {
  ipv4_addr: ipv4,
  inet_proto: inetProto,
  inet_service: inetService,
  mark,
  integer,
  ct_state: ctState,
  fib_addrtype: fibAddrType,
};

/**
 * nft sorts a set's elements before printing them (mergesort.c): a single value by its number, a
 * concatenation by its packed bytes read as one host-endian (little-endian) integer.
 */
export function sortValue(types: DataType[], key: Range[]): bigint {
  if (types.length === 1) return BigInt(key[0]![0]);
  const bytes: number[] = [];
  types.forEach((t, i) => {
    const v = key[i]![0];
    const b: number[] = [];
    for (let k = 0; k < t.bytes; k++) b.push(Math.floor(v / 2 ** (8 * k)) & 255);
    if (t.bigEndian) b.reverse();
    bytes.push(...b);
  });
  let n = 0n;
  for (let k = bytes.length - 1; k >= 0; k--) n = (n << 8n) | BigInt(bytes[k]!);
  return n;
}

/** nft's time format: `3h`, `1m30s`, `59m59s980ms`. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  const parts: [number, string][] = [
    [86400000, "d"],
    [3600000, "h"],
    [60000, "m"],
    [1000, "s"],
    [1, "ms"],
  ];
  let rest = Math.floor(ms);
  let out = "";
  for (const [unit, name] of parts) {
    const n = Math.floor(rest / unit);
    rest -= n * unit;
    if (n > 0) out += `${n}${name}`;
  }
  return out;
}

/** `10800s`, `3h`, `1h30m`, `500ms` → milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+)(ms|d|h|m|s)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    total += n * { d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 }[m[2] as "d"];
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}
