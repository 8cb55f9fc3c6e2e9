/**
 * The sim's tcpdump prints VXLAN and IPIP packets as tcpdump 4.99 does: pinned lines, and (when tcpdump is
 * installed) the real tool reading the same bytes from a pcap must print the same text.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  encapsulateIpip,
  encapsulateVxlan,
  encodeIpv4,
  parseIpv4,
  TcpdumpPrinter,
} from "../../src/dataplane/sim/index.ts";
import { pcapFile } from "./pcap-writer.ts";

const inner = {
  src: parseIpv4("10.244.1.2")!,
  dst: parseIpv4("10.244.2.2")!,
  proto: 1,
  sport: 7,
  dport: 0,
  len: 84,
  mark: 0,
  tcpFlags: 0,
  icmpType: 8,
  icmpCode: 0,
  ttl: 63,
  df: true,
  ipId: 7002,
  icmpSeq: 1,
};
const node1 = parseIpv4("192.168.0.11")!;
const node2 = parseIpv4("192.168.0.12")!;
const frame = { src: "66:de:6a:00:00:01", dst: "66:de:6a:00:00:02" };
const packets = [
  encapsulateVxlan(inner, { src: node1, dst: node2, vni: 4096, frame }),
  encapsulateIpip(inner, { src: node1, dst: node2 }),
].map((p) => encodeIpv4(p));

function simText(verbose: number): string {
  const printer = new TcpdumpPrinter({ verbose });
  // tcpdump -r stamps each record with its pcap time: record i at i µs past the epoch (UTC).
  return packets.map((b, i) => `${printer.format(i, b)}\n`).join("");
}

test("VXLAN and IPIP as tcpdump -n and -nv print them", () => {
  const text = simText(1);
  assert.match(
    text,
    /^\d\d:\d\d:\d\d\.000000 IP \(tos 0x0, ttl 64, id \d+, offset 0, flags \[none\], proto UDP \(17\), length 134\)\n {4}192\.168\.0\.11\.\d+ > 192\.168\.0\.12\.4789: VXLAN, flags \[I\] \(0x08\), vni 4096\nIP \(tos 0x0, ttl 63, id 7002, offset 0, flags \[DF\], proto ICMP \(1\), length 84\)\n {4}10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request, id 7, seq 1, length 64\n/,
  );
  assert.match(
    text,
    /\n\d\d:\d\d:\d\d\.000001 IP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[DF\], proto IPIP \(4\), length 104\)\n {4}192\.168\.0\.11 > 192\.168\.0\.12: IP \(tos 0x0, ttl 63, id 7002, offset 0, flags \[DF\], proto ICMP \(1\), length 84\)\n {4}10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request, id 7, seq 1, length 64\n$/,
  );
  assert.match(
    simText(0),
    /\n\d\d:\d\d:\d\d\.000001 IP 192\.168\.0\.11 > 192\.168\.0\.12: IP 10\.244\.1\.2 > 10\.244\.2\.2: ICMP echo request, id 7, seq 1, length 64\n$/,
  );
});

test("the real tcpdump reads the sim's bytes the same way", (t) => {
  try {
    execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
  } catch {
    t.skip("tcpdump is not installed");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "tortie-encap-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "encap.pcap");
  writeFileSync(file, pcapFile(packets));
  const env = { ...process.env, TZ: process.env.TZ ?? "UTC" };
  for (const [flags, verbose] of [
    ["-nv", 1],
    ["-n", 0],
  ] as const) {
    const real = execFileSync("tcpdump", [flags, "-r", file], {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    assert.equal(simText(verbose), real, `tcpdump ${flags}`);
  }
});
