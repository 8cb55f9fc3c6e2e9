import { formatIpv4 } from "../ipv4.ts";

/** tcpdump 4.9's ns_print for a DNS message over UDP: queries and answers at -v and below. */

const TYPES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  41: "OPT",
  255: "ANY",
};
const OPCODES = ["", " inv_q", " stat", " op3", " notify", " update", " op6", " op7"];
const RCODES = [
  "",
  " FormErr",
  " ServFail",
  " NXDomain",
  " NotImp",
  " Refused",
  " YXDomain",
  " YXRRSet",
  " NXRRSet",
  " NotAuth",
  " NotZone",
];

class Truncated extends Error {}

function u16(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) throw new Truncated();
  return (b[at]! << 8) | b[at + 1]!;
}

/** A domain name (with compression pointers) and the offset after it where it was written. */
function name(b: Uint8Array, at: number): { text: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  let i = at;
  for (let hops = 0; hops < 64; hops++) {
    if (i >= b.length) throw new Truncated();
    const len = b[i]!;
    if (len === 0) {
      if (next < 0) next = i + 1;
      return { text: labels.length ? `${labels.join(".")}.` : ".", next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = i + 2;
      i = u16(b, i) & 0x3fff;
      continue;
    }
    if (i + 1 + len > b.length) throw new Truncated();
    labels.push(Buffer.from(b.subarray(i + 1, i + 1 + len)).toString("latin1"));
    i += 1 + len;
  }
  throw new Truncated();
}

function typeName(t: number): string {
  return TYPES[t] ?? `Type${t}`;
}

function question(b: Uint8Array, at: number): { text: string; next: number } {
  const n = name(b, at);
  const type = u16(b, n.next);
  const cls = u16(b, n.next + 2);
  return { text: ` ${typeName(type)}${cls !== 1 ? ` (Class ${cls})` : ""}? ${n.text}`, next: n.next + 4 };
}

function record(b: Uint8Array, at: number, verbose: number): { text: string; next: number } {
  const n = name(b, at);
  const type = u16(b, n.next);
  const cls = u16(b, n.next + 2);
  const len = u16(b, n.next + 8);
  const data = n.next + 10;
  if (data + len > b.length) throw new Truncated();
  let text = verbose ? ` ${n.text}` : "";
  if (cls !== 1 && type !== 41) text += ` (Class ${cls})`;
  text += ` ${typeName(type)}`;
  if (type === 1 && len >= 4)
    text += ` ${formatIpv4(((b[data]! << 24) | (b[data + 1]! << 16) | (b[data + 2]! << 8) | b[data + 3]!) >>> 0)}`;
  else if (type === 2 || type === 5 || type === 12) text += ` ${name(b, data).text}`;
  return { text, next: data + len };
}

/** The text after `src.port > dst.port: ` for a DNS message of `b.length` bytes. */
export function formatDns(b: Uint8Array, verbose: number): string {
  if (b.length < 12) return ` [|domain]`;
  try {
    const id = u16(b, 0);
    const flags = u16(b, 2);
    const [qd, an, ns, ar] = [u16(b, 4), u16(b, 6), u16(b, 8), u16(b, 10)];
    const opcode = (flags >> 11) & 15;
    let out: string;
    let at = 12;
    if (flags & 0x8000) {
      out = `${id}${OPCODES[opcode & 7]}${RCODES[flags & 15] ?? ` Resp${flags & 15}`}${flags & 0x400 ? "*" : ""}${flags & 0x80 ? "" : "-"}${flags & 0x200 ? "|" : ""}${flags & 0x20 ? "$" : ""}`;
      if (qd !== 1) out += ` [${qd}q]`;
      for (let q = 0; q < qd; q++) at = question(b, at).next;
      out += ` ${an}/${ns}/${ar}`;
      for (let r = 0; r < an; r++) {
        const rec = record(b, at, verbose);
        out += (r ? "," : "") + rec.text;
        at = rec.next;
      }
    } else {
      out = `${id}${OPCODES[opcode & 7]}${flags & 0x100 ? "+" : ""}${flags & 0x10 ? "%" : ""}`;
      if (flags & 0x6cf) out += ` [b2&3=0x${flags.toString(16)}]`;
      if (qd !== 1) out += ` [${qd}q]`;
      if (an !== 0) out += ` [${an}a]`;
      if (ns !== 0) out += ` [${ns}n]`;
      if (ar !== 0) out += ` [${ar}au]`;
      for (let q = 0; q < qd; q++) {
        const qq = question(b, at);
        out += qq.text;
        at = qq.next;
      }
    }
    return `${out} (${b.length})`;
  } catch (e) {
    if (e instanceof Truncated) return ` [|domain]`;
    throw e;
  }
}
