import { parseIpv4 } from "../ipv4.ts";
import { servicePort } from "./services.ts";

/**
 * The part of pcap-filter(7) tortie's tcpdump understands: `ip|tcp|udp|icmp`, `[tcp|udp] [src|dst] port N`,
 * `[src|dst] host A`, `[src|dst] net CIDR`, `[ip] proto N|NAME` (`ip proto 4` for IPIP), `and`/`&&`, `or`/`||`, `not`/`!`, parentheses, and libpcap's
 * qualifier inheritance (`port 80 or 443`). As in libpcap, `and` and `or` have equal precedence and associate
 * left to right; `not` binds tightest. Errors are libpcap 1.9's messages.
 */

export interface FilterPacket {
  src: number;
  dst: number;
  proto: number;
  sport: number;
  dport: number;
}

export type PacketFilter = (p: FilterPacket) => boolean;

export class FilterError extends Error {}

const SYNTAX = "syntax error in filter expression: syntax error";
const PROTOS: Record<string, number | undefined> = { ip: undefined, tcp: 6, udp: 17, icmp: 1, sctp: 132 };
const PORT_PROTOS = new Set([6, 17, 132]);
/**
 * `proto NAME` as libpcap resolves it (its own names, then /etc/protocols); `tcp`, `udp` and `icmp` are keywords,
 * so they are written escaped (`proto \\tcp`).
 */
const PROTO_NAMES: Record<string, number> = {
  "\\icmp": 1,
  igmp: 2,
  ipencap: 4,
  "\\tcp": 6,
  "\\udp": 17,
  gre: 47,
  esp: 50,
  ah: 51,
  ipip: 94,
  "\\sctp": 132,
};

type Dir = "src" | "dst" | "src or dst" | "src and dst";
interface Qualifiers {
  proto?: string;
  dir?: Dir;
  type?: "host" | "net" | "port";
}

function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /\s*(&&|\|\||[()!]|[^\s()!&|]+)/y;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  for (;;) {
    const at = re.lastIndex;
    if (/^\s*$/.test(text.slice(at))) break;
    m = re.exec(text);
    if (!m) throw new FilterError(SYNTAX);
    out.push(m[1]!);
  }
  return out;
}

/** Compiles a filter expression (the arguments after the options, joined by spaces as tcpdump does). */
export function compileFilter(text: string): PacketFilter {
  const tokens = tokenize(text);
  if (tokens.length === 0) return () => true;
  let i = 0;
  let last: Qualifiers = {};
  const peek = () => tokens[i];
  const next = () => tokens[i++];

  const expr = (): PacketFilter => {
    let left = unary();
    for (;;) {
      const t = peek();
      if (t === "and" || t === "&&") {
        next();
        const a = left;
        const b = unary();
        left = (p) => a(p) && b(p);
      } else if (t === "or" || t === "||") {
        next();
        const a = left;
        const b = unary();
        left = (p) => a(p) || b(p);
      } else return left;
    }
  };

  const unary = (): PacketFilter => {
    const t = peek();
    if (t === "not" || t === "!") {
      next();
      const inner = unary();
      return (p) => !inner(p);
    }
    if (t === "(") {
      next();
      const inner = expr();
      if (next() !== ")") throw new FilterError(SYNTAX);
      return inner;
    }
    return primitive();
  };

  const primitive = (): PacketFilter => {
    const q: Qualifiers = {};
    let t = peek();
    if (t === undefined) throw new FilterError(SYNTAX);
    if (t in PROTOS) {
      q.proto = next();
      t = peek();
    }
    if (t === "src" || t === "dst") {
      q.dir = next() as "src" | "dst";
      const conj = peek();
      if ((conj === "or" || conj === "and") && (tokens[i + 1] === "src" || tokens[i + 1] === "dst")) {
        i += 2;
        q.dir = `src ${conj}` as Dir;
      }
      t = peek();
    }
    if (t === "proto" && (q.proto === undefined || q.proto === "ip") && q.dir === undefined) {
      next();
      const name = next();
      if (name === undefined || isKeyword(name) || name in PROTOS) throw new FilterError(SYNTAX);
      const num = /^\d+$/.test(name) ? Number(name) : PROTO_NAMES[name];
      if (num === undefined) throw new FilterError(`unknown ip proto '${name.replace(/^\\/, "")}'`);
      last = {};
      return (p) => p.proto === num;
    }
    if (t === "host" || t === "net" || t === "port") {
      q.type = next() as Qualifiers["type"];
      t = peek();
    }
    const qualified = q.proto !== undefined || q.dir !== undefined || q.type !== undefined;
    if (!qualified) {
      // A bare value inherits the qualifiers of the primitive before it (`port 80 or 443`).
      if (t === undefined || isKeyword(t) || last.type === undefined) throw new FilterError(SYNTAX);
      next();
      return value(last, t);
    }
    if (q.type === undefined && q.dir === undefined) {
      // `tcp`, `udp`, `icmp`, `ip` on their own.
      last = q;
      const proto = PROTOS[q.proto!];
      return proto === undefined ? () => true : (p) => p.proto === proto;
    }
    if (t === undefined || isKeyword(t)) throw new FilterError(SYNTAX);
    next();
    const full: Qualifiers = { ...q, type: q.type ?? "host" };
    last = full;
    return value(full, t);
  };

  const result = expr();
  if (i !== tokens.length) throw new FilterError(SYNTAX);
  return result;
}

function isKeyword(t: string): boolean {
  return [
    "and",
    "or",
    "not",
    "&&",
    "||",
    "!",
    "(",
    ")",
    "src",
    "dst",
    "host",
    "net",
    "port",
    "proto",
  ].includes(t);
}

function dirTest(dir: Dir | undefined, test: (side: "src" | "dst") => boolean): boolean {
  if (dir === "src") return test("src");
  if (dir === "dst") return test("dst");
  if (dir === "src and dst") return test("src") && test("dst");
  return test("src") || test("dst");
}

function value(q: Qualifiers, text: string): PacketFilter {
  const proto = q.proto === undefined ? undefined : PROTOS[q.proto];
  const protoOk = (p: FilterPacket) => proto === undefined || p.proto === proto;
  if (q.type === "port") {
    if (q.proto === "icmp") throw new FilterError("port qualifier applied to icmp");
    const port = parsePort(text);
    return (p) =>
      protoOk(p) &&
      PORT_PROTOS.has(p.proto) &&
      dirTest(q.dir, (s) => (s === "src" ? p.sport : p.dport) === port);
  }
  if (q.type === "net") {
    const [addrText, lenText] = text.split("/");
    const addr = parseNetAddress(addrText ?? "");
    if (addr === undefined) throw new FilterError(SYNTAX);
    const len = lenText === undefined ? addr.impliedLen : Number(lenText);
    if (!/^\d+$/.test(lenText ?? "0") || len > 32) throw new FilterError(`mask length must be <= 32`);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if ((addr.ip & ~mask) >>> 0 !== 0) throw new FilterError(`non-network bits set in "${text}"`);
    return (p) =>
      protoOk(p) && dirTest(q.dir, (s) => ((s === "src" ? p.src : p.dst) & mask) >>> 0 === addr.ip);
  }
  const ip = parseIpv4(text);
  if (ip === undefined) {
    if (/^[\d.]+$/.test(text)) throw new FilterError(SYNTAX);
    throw new FilterError(`unknown host '${text}'`);
  }
  return (p) => protoOk(p) && dirTest(q.dir, (s) => (s === "src" ? p.src : p.dst) === ip);
}

function parsePort(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 65535) throw new FilterError(`illegal port number ${n} > 65535`);
    return n;
  }
  const named = servicePort(text);
  if (named === undefined) throw new FilterError(`unknown port '${text}'`);
  return named;
}

/** A network number: 1 to 4 dotted parts (`10`, `10.1`, `10.1.2.0`), the length implied by the parts given. */
function parseNetAddress(text: string): { ip: number; impliedLen: number } | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){0,3}$/.test(text)) return undefined;
  const parts = text.split(".").map(Number);
  if (parts.some((n) => n > 255)) return undefined;
  let ip = 0;
  for (let k = 0; k < 4; k++) ip = ip * 256 + (parts[k] ?? 0);
  return { ip: ip >>> 0, impliedLen: parts.length * 8 };
}
