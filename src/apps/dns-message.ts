/**
 * DNS messages in RFC 1035 wire format. The sim carries payloads as strings, so a message travels as a
 * "binary" (latin1) string: one character per byte.
 */
import { formatIp, parseIp } from "../net/index.ts";

export const DNS_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, AAAA: 28, SRV: 33 } as const;
export type DnsTypeName = keyof typeof DNS_TYPES;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion {
  /** Absolute name with the trailing dot, lower case. */
  name: string;
  type: number;
  class: number;
}

export interface DnsResource {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Presentation form: an address, a domain name, `prio weight port target`, or SOA's seven fields. */
  data: string;
}

export interface DnsMessage {
  id: number;
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsResource[];
  authority: DnsResource[];
  additional: DnsResource[];
}

export class DnsFormatError extends Error {}

export function typeName(type: number): string {
  for (const [name, value] of Object.entries(DNS_TYPES)) if (value === type) return name;
  return `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  for (const [name, value] of Object.entries(RCODE)) if (value === rcode) return name;
  return `RCODE${rcode}`;
}

class Writer {
  private readonly bytes: number[] = [];
  private readonly names = new Map<string, number>();
  u8(v: number): void {
    this.bytes.push(v & 255);
  }
  u16(v: number): void {
    this.bytes.push((v >>> 8) & 255, v & 255);
  }
  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  get length(): number {
    return this.bytes.length;
  }
  patch16(at: number, v: number): void {
    this.bytes[at] = (v >>> 8) & 255;
    this.bytes[at + 1] = v & 255;
  }
  /** A domain name with compression pointers to suffixes written before (RFC 1035 §4.1.4). */
  name(name: string): void {
    const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join(".").toLowerCase();
      const at = this.names.get(suffix);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.length < 0x3fff) this.names.set(suffix, this.length);
      const label = Buffer.from(labels[i]!, "utf8");
      if (label.length > 63) throw new DnsFormatError(`label too long: ${labels[i]}`);
      this.u8(label.length);
      for (const b of label) this.u8(b);
    }
    this.u8(0);
  }
  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

function writeRdata(w: Writer, r: DnsResource): void {
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  switch (r.type) {
    case DNS_TYPES.A:
      for (const part of r.data.split(".")) w.u8(Number(part));
      break;
    case DNS_TYPES.AAAA: {
      const ip = parseIp(r.data);
      if (ip?.family !== 6) throw new DnsFormatError(`not an IPv6 address: ${r.data}`);
      for (let shift = 112n; shift >= 0n; shift -= 16n) w.u16(Number((ip.value >> shift) & 0xffffn));
      break;
    }
    case DNS_TYPES.CNAME:
    case DNS_TYPES.PTR:
    case DNS_TYPES.NS:
      w.name(r.data);
      break;
    case DNS_TYPES.SRV: {
      const [prio, weight, port, target] = r.data.split(" ");
      w.u16(Number(prio));
      w.u16(Number(weight));
      w.u16(Number(port));
      w.name(target ?? ".");
      break;
    }
    case DNS_TYPES.SOA: {
      const [mname, rname, ...nums] = r.data.split(" ");
      w.name(mname ?? ".");
      w.name(rname ?? ".");
      for (const n of nums) w.u32(Number(n));
      break;
    }
    default:
      throw new DnsFormatError(`cannot encode record type ${r.type}`);
  }
  w.patch16(lengthAt, w.length - start);
}

export function encodeDnsMessage(m: DnsMessage): string {
  const w = new Writer();
  w.u16(m.id);
  w.u16(
    (m.response ? 0x8000 : 0) |
      ((m.opcode & 15) << 11) |
      (m.authoritative ? 0x400 : 0) |
      (m.truncated ? 0x200 : 0) |
      (m.recursionDesired ? 0x100 : 0) |
      (m.recursionAvailable ? 0x80 : 0) |
      (m.rcode & 15),
  );
  for (const n of [m.questions.length, m.answers.length, m.authority.length, m.additional.length]) w.u16(n);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of [...m.answers, ...m.authority, ...m.additional]) {
    w.name(r.name);
    w.u16(r.type);
    w.u16(r.class);
    w.u32(r.ttl);
    writeRdata(w, r);
  }
  return w.toBuffer().toString("latin1");
}

class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number): void {
    if (this.at + n > this.buf.length) throw new DnsFormatError("message truncated");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  name(): string {
    const labels: string[] = [];
    let pos = this.at;
    let jumped = false;
    for (let hops = 0; hops < 128; hops++) {
      if (pos >= this.buf.length) throw new DnsFormatError("name runs past the message");
      const len = this.buf[pos]!;
      if (len === 0) {
        if (!jumped) this.at = pos + 1;
        return labels.length ? `${labels.join(".")}.` : ".";
      }
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError("name runs past the message");
        if (!jumped) this.at = pos + 2;
        jumped = true;
        pos = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        continue;
      }
      if (len & 0xc0) throw new DnsFormatError("bad label type");
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError("label runs past the message");
      labels.push(this.buf.subarray(pos + 1, pos + 1 + len).toString("utf8"));
      pos += 1 + len;
    }
    throw new DnsFormatError("compression loop");
  }
}

function readResource(r: Reader): DnsResource {
  const name = r.name();
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const length = r.u16();
  r.need(length);
  const end = r.at + length;
  let data: string;
  switch (type) {
    case DNS_TYPES.A:
      data = [r.u8(), r.u8(), r.u8(), r.u8()].join(".");
      break;
    case DNS_TYPES.AAAA: {
      let value = 0n;
      for (let i = 0; i < 8; i++) value = (value << 16n) | BigInt(r.u16());
      data = formatIp({ family: 6, value }); // RFC 5952, as dig and nslookup print it
      break;
    }
    case DNS_TYPES.CNAME:
    case DNS_TYPES.PTR:
    case DNS_TYPES.NS:
      data = r.name();
      break;
    case DNS_TYPES.SRV:
      data = `${r.u16()} ${r.u16()} ${r.u16()} ${r.name()}`;
      break;
    case DNS_TYPES.SOA:
      data = `${r.name()} ${r.name()} ${[r.u32(), r.u32(), r.u32(), r.u32(), r.u32()].join(" ")}`;
      break;
    default:
      data = r.buf.subarray(r.at, end).toString("hex");
  }
  r.at = end;
  return { name, type, class: klass, ttl, data };
}

export function decodeDnsMessage(payload: string): DnsMessage {
  const r = new Reader(Buffer.from(payload, "latin1"));
  const id = r.u16();
  const flags = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()];
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]!; i++) questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const sections: DnsResource[][] = [[], [], []];
  for (let s = 0; s < 3; s++) for (let i = 0; i < counts[s + 1]!; i++) sections[s]!.push(readResource(r));
  return {
    id,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 15,
    authoritative: (flags & 0x400) !== 0,
    truncated: (flags & 0x200) !== 0,
    recursionDesired: (flags & 0x100) !== 0,
    recursionAvailable: (flags & 0x80) !== 0,
    rcode: flags & 15,
    questions,
    answers: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
  };
}

/** A recursive query for one name and type, as a stub resolver sends it. */
export function dnsQueryMessage(id: number, name: string, type: number): DnsMessage {
  return {
    id,
    response: false,
    opcode: 0,
    authoritative: false,
    truncated: false,
    recursionDesired: true,
    recursionAvailable: false,
    rcode: 0,
    questions: [{ name: name.endsWith(".") ? name : `${name}.`, type, class: 1 }],
    answers: [],
    authority: [],
    additional: [],
  };
}
