import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeIpv4, internetChecksum, parseIpv4, TcpdumpPrinter } from "../../src/dataplane/sim/index.ts";
import type { Packet } from "../../src/dataplane/sim/netfilter/index.ts";

const HOST1 = parseIpv4("198.19.15.254")!;
const CONTROL = parseIpv4("198.19.0.1")!;

function tcp(
  fields: Partial<Packet> & Pick<Packet, "src" | "dst" | "sport" | "dport" | "len" | "tcpFlags">,
): Packet {
  return { proto: 6, mark: 0, icmpType: 0, icmpCode: 0, df: true, ...fields };
}

/** The first three packets of seed 002's capture ("Snoop traffic without DSR"), field for field. */
const SYN = tcp({
  src: HOST1,
  dst: CONTROL,
  sport: 57064,
  dport: 30180,
  len: 60,
  tcpFlags: 2,
  ttl: 64,
  ipId: 59453,
  tcp: {
    seq: 2716257334,
    ack: 0,
    win: 64240,
    options: [
      { kind: "mss", value: 1460 },
      { kind: "sackOK" },
      { kind: "TS", val: 3319780880, ecr: 0 },
      { kind: "nop" },
      { kind: "wscale", value: 7 },
    ],
  },
});
const SYN_ACK = tcp({
  src: CONTROL,
  dst: HOST1,
  sport: 30180,
  dport: 57064,
  len: 60,
  tcpFlags: 0x12,
  ttl: 62,
  ipId: 0,
  tcp: {
    seq: 23038493,
    ack: 2716257335,
    win: 65184,
    options: [
      { kind: "mss", value: 1370 },
      { kind: "sackOK" },
      { kind: "TS", val: 2052464730, ecr: 3319780880 },
      { kind: "nop" },
      { kind: "wscale", value: 7 },
    ],
  },
});
const ACK = tcp({
  src: HOST1,
  dst: CONTROL,
  sport: 57064,
  dport: 30180,
  len: 52,
  tcpFlags: 0x10,
  ttl: 64,
  ipId: 59454,
  tcp: {
    seq: 2716257335,
    ack: 23038494,
    win: 502,
    options: [{ kind: "nop" }, { kind: "nop" }, { kind: "TS", val: 3319780883, ecr: 2052464730 }],
  },
});

test("internet checksum: RFC 1071's worked example and a well-known IPv4 header", () => {
  assert.equal(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), 0x220d);
  const header = Uint8Array.from([
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
    0xa8, 0x00, 0xc7,
  ]);
  assert.equal(internetChecksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  assert.equal(internetChecksum(header), 0, "a header carrying its checksum sums to zero");
  // An odd length pads with a zero byte.
  assert.equal(internetChecksum(Uint8Array.from([0x01])), ~0x0100 & 0xffff);
});

test("TCP checksums over the pseudo-header equal the ones a real kernel sent (seed 002's capture)", () => {
  const sum = (p: Packet) => {
    const b = encodeIpv4(p);
    return (b[36]! << 8) | b[37]!;
  };
  assert.equal(sum(SYN), 0x520e);
  assert.equal(sum(SYN_ACK), 0x287a);
  assert.equal(sum(ACK), 0x5394);
  const b = encodeIpv4(SYN);
  assert.equal(b.length, 60);
  assert.equal(internetChecksum(b.subarray(0, 20)), 0, "IPv4 header checksum verifies");
});

test("tcpdump -v prints the seed's lines for those packets, relative sequence numbers from the SYN-ACK on", () => {
  process.env.TZ = "UTC";
  const printer = new TcpdumpPrinter({ verbose: 1 });
  const at = Date.UTC(2020, 9, 5, 13, 59, 32) * 1000;
  const lines = [
    printer.format(at + 826328, encodeIpv4(SYN)),
    printer.format(at + 827552, encodeIpv4(SYN_ACK)),
    printer.format(at + 828602, encodeIpv4(ACK)),
  ];
  assert.deepEqual(lines.join("\n").split("\n"), [
    "13:59:32.826328 IP (tos 0x0, ttl 64, id 59453, offset 0, flags [DF], proto TCP (6), length 60)",
    "    198.19.15.254.57064 > 198.19.0.1.30180: Flags [S], cksum 0x520e (correct), seq 2716257334, win 64240, options [mss 1460,sackOK,TS val 3319780880 ecr 0,nop,wscale 7], length 0",
    "13:59:32.827552 IP (tos 0x0, ttl 62, id 0, offset 0, flags [DF], proto TCP (6), length 60)",
    "    198.19.0.1.30180 > 198.19.15.254.57064: Flags [S.], cksum 0x287a (correct), seq 23038493, ack 2716257335, win 65184, options [mss 1370,sackOK,TS val 2052464730 ecr 3319780880,nop,wscale 7], length 0",
    "13:59:32.828602 IP (tos 0x0, ttl 64, id 59454, offset 0, flags [DF], proto TCP (6), length 52)",
    "    198.19.15.254.57064 > 198.19.0.1.30180: Flags [.], cksum 0x5394 (correct), ack 1, win 502, options [nop,nop,TS val 3319780883 ecr 2052464730], length 0",
  ]);
  // Without -v: one line each, no checksum.
  const plain = new TcpdumpPrinter({ verbose: 0 });
  assert.equal(
    plain.format(at + 826328, encodeIpv4(SYN)),
    "13:59:32.826328 IP 198.19.15.254.57064 > 198.19.0.1.30180: Flags [S], seq 2716257334, win 64240, options [mss 1460,sackOK,TS val 3319780880 ecr 0,nop,wscale 7], length 0",
  );
});

test("a corrupted segment is reported as tcpdump reports it", () => {
  const b = encodeIpv4(SYN);
  b[37] = b[37]! ^ 0x01;
  const line = new TcpdumpPrinter({ verbose: 1 }).format(0, b);
  assert.match(line, /cksum 0x520f \(incorrect -> 0x520e\)/);
});
