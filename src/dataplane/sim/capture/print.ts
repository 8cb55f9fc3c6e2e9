import { formatIpv4 } from "../ipv4.ts";
import { internetChecksum, pseudoHeaderSum } from "../wire.ts";
import { formatDns } from "./dns.ts";
import { SERVICES } from "./services.ts";

/** tcpdump decodes UDP to or from this port as VXLAN (IANA's VXLAN port). */
const VXLAN_PORT = 4789;

/**
 * tcpdump 4.9's text for IPv4 packets (what the seed labs' Ubuntu printed), from the packet's bytes: the
 * `IP (tos …)` line under -v, TCP with relative sequence numbers per conversation, UDP, ICMP echo and errors
 * (with the quoted datagram under -v). Names are never looked up: tortie's tcpdump requires -n.
 */
export interface PrintOptions {
  /** Count of -v. */
  verbose: number;
  /** Ports by service name (a single -n); -nn prints numbers. */
  portNames?: boolean;
  /** -e: the link-level header, Ethernet on a named interface or Linux cooked (SLL v1) on `any`. */
  linkHeader?: boolean;
}

/** The frame a packet travelled in, for -e. */
export interface LinkFrame {
  type: "ether" | "sll";
  direction: "in" | "out";
  src: string;
  dst: string;
}

const PROTO_NAMES: Record<number, string> = { 1: "ICMP", 6: "TCP", 17: "UDP", 132: "SCTP", 4: "IPIP" };

/** Flags in tcpdump's table order: FIN, SYN, RST, PUSH, ACK, URG, ECE, CWR. */
const TCP_FLAG_CHARS: [number, string][] = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "."],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
];

/** `HH:MM:SS.uuuuuu` in local time, as tcpdump stamps each line. */
function formatTimestamp(epochMicros: number): string {
  const whole = Math.floor(epochMicros);
  const d = new Date(Math.floor(whole / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  const micros = String(((whole % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${micros}`;
}

interface Conversation {
  seq: number;
  ack: number;
}

/** Prints packets one after another; keeps tcpdump's per-conversation initial sequence numbers. */
export class TcpdumpPrinter {
  private readonly conversations = new Map<string, Conversation>();
  constructor(readonly options: PrintOptions) {}

  /** One packet's text (one line, or two under -v), without a trailing newline. */
  format(epochMicros: number, bytes: Uint8Array, frame?: LinkFrame): string {
    let link = "";
    if (this.options.linkHeader && frame) {
      // ether_hdr_print and sll_print: the frame's length counts the 14-byte or 16-byte header.
      link =
        frame.type === "ether"
          ? `${frame.src} > ${frame.dst}, ethertype IPv4 (0x0800), length ${bytes.length + 14}: `
          : `${(frame.direction === "in" ? "In" : "Out").padStart(3)} ${frame.src} ethertype IPv4 (0x0800), length ${bytes.length + 16}: `;
    }
    return `${formatTimestamp(epochMicros)} ${link}${this.ip(bytes)}`;
  }

  private ip(b: Uint8Array): string {
    if (b.length < 20 || b[0]! >> 4 !== 4) return `IP truncated-ip ${b.length}`;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const hlen = (b[0]! & 15) * 4;
    const total = v.getUint16(2);
    const proto = b[9]!;
    const src = v.getUint32(12);
    const dst = v.getUint32(16);
    const l4 = b.subarray(hlen, Math.min(total, b.length));
    // ip_print names the protocol only when no link-level header (-e) already did.
    let head = this.options.linkHeader ? "" : "IP ";
    if (this.options.verbose) {
      const off = v.getUint16(6);
      const flags = [off & 0x8000 ? "rsvd" : "", off & 0x4000 ? "DF" : "", off & 0x2000 ? "+" : ""]
        .filter(Boolean)
        .join("");
      head += `(tos 0x${b[1]!.toString(16)}, ttl ${b[8]}, id ${v.getUint16(4)}, offset ${(off & 0x1fff) * 8}, flags [${flags || "none"}], proto ${PROTO_NAMES[proto] ?? "unknown"} (${proto}), length ${total}`;
      if (internetChecksum(b.subarray(0, hlen)) !== 0) head += `, bad cksum ${v.getUint16(10).toString(16)}!`;
      head += ")\n    ";
    }
    return head + this.transport(proto, src, dst, l4);
  }

  private transport(proto: number, src: number, dst: number, l4: Uint8Array): string {
    const s = formatIpv4(src);
    const d = formatIpv4(dst);
    if (proto === 6 && l4.length >= 20) return this.tcp(src, dst, l4);
    if (proto === 17 && l4.length >= 8) {
      const v = new DataView(l4.buffer, l4.byteOffset, l4.byteLength);
      const sport = v.getUint16(0);
      const dport = v.getUint16(2);
      const len = v.getUint16(4) - 8;
      const sum = this.options.verbose && v.getUint16(6) === 0 ? "[no cksum] " : "";
      const head = `${s}.${this.port("udp", sport)} > ${d}.${this.port("udp", dport)}: ${sum}`;
      if (sport === 53 || dport === 53) return head + formatDns(l4.subarray(8), this.options.verbose);
      if ((sport === VXLAN_PORT || dport === VXLAN_PORT) && l4.length >= 16)
        return head + this.vxlan(l4.subarray(8));
      return `${head}UDP, length ${len}`;
    }
    if (proto === 1 && l4.length >= 8) return `${s} > ${d}: ${this.icmp(l4)}`;
    // IPIP: ip_print prints the inner datagram as a packet of its own after the outer addresses.
    if (proto === 4 && l4.length >= 20) return `${s} > ${d}: ${this.ip(l4)}`;
    return `${s} > ${d}: ip-proto-${proto} ${l4.length}`;
  }

  /** vxlan_print: the flags and VNI, then the inner Ethernet frame (its MACs only under -e). */
  private vxlan(b: Uint8Array): string {
    const flags = b[0]!;
    const vni = (b[4]! << 16) | (b[5]! << 8) | b[6]!;
    let out = `VXLAN, flags [${flags & 0x08 ? "I" : "."}] (0x${flags.toString(16).padStart(2, "0")}), vni ${vni}\n`;
    const frame = b.subarray(8);
    if (frame.length < 14) return `${out}[|ether]`;
    if (this.options.linkHeader) {
      const mac = (at: number) =>
        [...frame.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
      out += `${mac(6)} > ${mac(0)}, ethertype IPv4 (0x0800), length ${frame.length}: `;
    }
    return out + this.ip(frame.subarray(14));
  }

  private port(proto: "tcp" | "udp", port: number): string {
    return (this.options.portNames && SERVICES[proto][port]) || String(port);
  }

  private tcp(src: number, dst: number, t: Uint8Array): string {
    const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
    const sport = v.getUint16(0);
    const dport = v.getUint16(2);
    let seq = v.getUint32(4);
    let ack = v.getUint32(8);
    const hlen = (t[12]! >> 4) * 4;
    const flags = t[13]!;
    const win = v.getUint16(14);
    const length = t.length - hlen;
    const flagText = TCP_FLAG_CHARS.filter(([bit]) => flags & bit)
      .map(([, c]) => c)
      .join("");
    let out = `${formatIpv4(src)}.${this.port("tcp", sport)} > ${formatIpv4(dst)}.${this.port("tcp", dport)}: Flags [${flagText || "none"}]`;
    if (flags & 0x10) {
      // tcpdump's relative sequence numbers: one entry per conversation, in a fixed collating order.
      const rev = src > dst || (src === dst && sport > dport);
      const key = rev ? `${dst}|${src}|${dport}|${sport}` : `${src}|${dst}|${sport}|${dport}`;
      const known = this.conversations.get(key);
      if (!known || flags & 0x02) {
        this.conversations.set(key, rev ? { ack: seq, seq: (ack - 1) >>> 0 } : { seq, ack: (ack - 1) >>> 0 });
      } else if (rev) {
        seq = (seq - known.ack) >>> 0;
        ack = (ack - known.seq) >>> 0;
      } else {
        seq = (seq - known.seq) >>> 0;
        ack = (ack - known.ack) >>> 0;
      }
    }
    if (this.options.verbose) {
      const sum = internetChecksum(t, pseudoHeaderSum(src, dst, 6, t.length));
      const stored = v.getUint16(16);
      out += `, cksum 0x${stored.toString(16).padStart(4, "0")}`;
      out +=
        sum === 0 ? " (correct)" : ` (incorrect -> 0x${shouldBe(stored, sum).toString(16).padStart(4, "0")})`;
    }
    if (this.options.verbose > 1 || length > 0 || flags & 0x07) {
      out += `, seq ${seq}`;
      if (length > 0) out += `:${(seq + length) >>> 0}`;
    }
    if (flags & 0x10) out += `, ack ${ack}`;
    out += `, win ${win}`;
    if (hlen > 20) out += `, options [${tcpOptions(t.subarray(20, hlen))}]`;
    out += `, length ${length}`;
    if (length > 0 && !(flags & 0x04) && [80, 8080].some((port) => port === sport || port === dport))
      out += `: ${this.http(t.subarray(hlen))}`;
    return out;
  }

  /** print-http.c through txtproto_print: the first line, or under -v every printable line. */
  private http(b: Uint8Array): string {
    const first = /^[^ \r\n]*/.exec(Buffer.from(b.subarray(0, 64)).toString("latin1"))?.[0] ?? "";
    const second =
      Buffer.from(b.subarray(0, 128))
        .toString("latin1")
        .split(/[ \r\n]/)[1] ?? "";
    const isReqResp = HTTP_COMMANDS.has(first.toUpperCase()) || /^\d{3}$/.test(second);
    if (!isReqResp) return "HTTP";
    if (!this.options.verbose) return `HTTP${textLine(b, 0, ": ").text}`;
    let out = `HTTP, length: ${b.length}`;
    for (let i = 0; i < b.length; ) {
      const line = textLine(b, i, "\n\t");
      out += line.text;
      if (line.next === 0) break;
      i = line.next;
    }
    return out;
  }

  private icmp(b: Uint8Array): string {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const type = b[0]!;
    const code = b[1]!;
    let text: string;
    if (type === 8 || type === 0)
      text = `ICMP echo ${type === 8 ? "request" : "reply"}, id ${v.getUint16(4)}, seq ${v.getUint16(6)}`;
    else if (type === 3)
      text = `ICMP ${unreachable(code, b.subarray(8), (proto, port) => this.port(proto, port))}`;
    else if (type === 11) text = `ICMP time exceeded in-transit`;
    else text = `ICMP type-#${type}`;
    text += `, length ${b.length}`;
    if (this.options.verbose && internetChecksum(b) !== 0)
      text += ` (wrong icmp cksum ${v.getUint16(2).toString(16)} (->${shouldBe(v.getUint16(2), internetChecksum(b)).toString(16)})!)`;
    if (this.options.verbose && (type === 3 || type === 11) && b.length >= 28)
      text += `\n\t${this.ip(b.subarray(8))}`;
    return text;
  }
}

const HTTP_COMMANDS = new Set([
  "OPTIONS",
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "TRACE",
  "CONNECT",
  "PROPFIND",
  "PROPPATCH",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
]);

/** print_txt_line (tcpdump 4.9): one CRLF- or LF-ended printable line; `next` 0 when nothing more prints. */
function textLine(b: Uint8Array, start: number, prefix: string): { text: string; next: number } {
  const line = (end: number) => Buffer.from(b.subarray(start, end)).toString("latin1");
  for (let i = start; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x0a) return { text: prefix + line(i), next: i + 1 };
    if (c === 0x0d) {
      if (i + 1 >= b.length || b[i + 1] !== 0x0a) return { text: "", next: 0 };
      return { text: prefix + line(i), next: i + 2 };
    }
    if ((c < 0x20 || c > 0x7e) && c !== 0x09) return { text: "", next: 0 };
  }
  return { text: `${prefix}${line(b.length)}[!http]`, next: 0 };
}

/** in_cksum_shouldbe: the checksum the header should have carried. */
function shouldBe(stored: number, sum: number): number {
  let s = ~stored & 0xffff;
  s += ~sum & 0xffff;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

function tcpOptions(o: Uint8Array): string {
  const parts: string[] = [];
  let i = 0;
  while (i < o.length) {
    const kind = o[i]!;
    if (kind === 0) {
      parts.push("eol");
      break;
    }
    if (kind === 1) {
      parts.push("nop");
      i++;
      continue;
    }
    const len = o[i + 1] ?? 2;
    const at = (k: number) => new DataView(o.buffer, o.byteOffset + i + k);
    if (kind === 2) parts.push(`mss ${at(2).getUint16(0)}`);
    else if (kind === 3) parts.push(`wscale ${o[i + 2]}`);
    else if (kind === 4) parts.push("sackOK");
    else if (kind === 8) parts.push(`TS val ${at(2).getUint32(0)} ecr ${at(6).getUint32(0)}`);
    else parts.push(`unknown-${kind}`);
    i += Math.max(2, len);
  }
  return parts.join(",");
}

/** The text of an ICMP destination unreachable, from its code and the quoted datagram. */
function unreachable(
  code: number,
  quoted: Uint8Array,
  portName: (proto: "tcp" | "udp", port: number) => string,
): string {
  const dst =
    quoted.length >= 20 ? formatIpv4(new DataView(quoted.buffer, quoted.byteOffset).getUint32(16)) : "?";
  const proto = quoted[9] ?? 0;
  const hlen = ((quoted[0] ?? 0x45) & 15) * 4;
  switch (code) {
    case 0:
      return `net ${dst} unreachable`;
    case 1:
      return `host ${dst} unreachable`;
    case 2:
      return `${dst} protocol ${proto} unreachable`;
    case 3: {
      if (quoted.length < hlen + 4) return `${dst} port ? unreachable`;
      const port = new DataView(quoted.buffer, quoted.byteOffset + hlen).getUint16(2);
      if (proto === 6 || proto === 17) {
        const name = proto === 6 ? "tcp" : "udp";
        return `${dst} ${name} port ${portName(name, port)} unreachable`;
      }
      return `${dst} protocol ${proto} port ${port} unreachable`;
    }
    case 9:
      return `net ${dst} unreachable - admin prohibited`;
    case 10:
      return `host ${dst} unreachable - admin prohibited`;
    case 13:
      return `host ${dst} unreachable - admin prohibited filter`;
    default:
      return `#${code} ${dst} unreachable`;
  }
}
