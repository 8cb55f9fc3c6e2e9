import { test } from "node:test";
import { dnsQueryMessage, encodeDnsMessage } from "../../src/apps/index.ts";
import {
  encodeIpv4,
  type LinkFrame,
  ping,
  TcpdumpPrinter,
  tcpExchange,
  udpExchange,
} from "../../src/dataplane/sim/index.ts";
import { assertGolden } from "../cli/harness.ts";
import { ip, MiniNet } from "./mini-net.ts";

process.env.TZ = "UTC";

/**
 * Every packet kind the sim prints, through the router's DNAT and back: a whole HTTP exchange (port 80, so
 * tcpdump decodes HTTP), a closed port's RST, a REJECT's ICMP error with the quoted SYN, a DNS query and its
 * answer, a closed UDP port, a ping. The lines were checked against tcpdump 4.99 reading the same bytes from
 * a pcap file; the goldens keep 4.9's forms where the versions differ (`[!http]` for an unterminated line).
 */
function capture(): Uint8Array[] {
  const m = new MiniNet();
  m.server.listen({
    protocol: "udp",
    port: 53,
    handle: () =>
      encodeDnsMessage({
        ...dnsQueryMessage(4242, "customer.yaobank.svc.cluster.local", 1),
        response: true,
        authoritative: true,
        recursionAvailable: true,
        answers: [
          { name: "customer.yaobank.svc.cluster.local.", type: 1, class: 1, ttl: 30, data: "10.96.0.1" },
        ],
      }),
  });
  m.server.listen({
    protocol: "tcp",
    port: 80,
    handle: () => "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
  });
  m.rules(m.server, "*filter\n-A INPUT -p tcp -m tcp --dport 82 -j REJECT\nCOMMIT\n");
  const packets: Uint8Array[] = [];
  m.net.tap = (k, dev, _dir, p) => {
    if (k === m.client && dev === "eth0") packets.push(encodeIpv4(p));
  };
  tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, "GET / HTTP/1.1\r\nHost: 10.0.0.254:8080\r\n\r\n");
  tcpExchange(m.net, m.client, ip("10.1.0.1"), 81, "GET / HTTP/1.1\r\n\r\n");
  tcpExchange(m.net, m.client, ip("10.1.0.1"), 82, "GET / HTTP/1.1\r\n\r\n");
  udpExchange(
    m.net,
    m.client,
    ip("10.1.0.1"),
    53,
    encodeDnsMessage(dnsQueryMessage(4242, "customer.yaobank.svc.cluster.local", 1)),
  );
  udpExchange(m.net, m.client, ip("10.1.0.1"), 5000, "hello");
  ping(m.net, m.client, ip("10.1.0.1"), 77, undefined, 1);
  return packets;
}

function print(verbose: number, portNames: boolean): string {
  const printer = new TcpdumpPrinter({ verbose, portNames });
  const start = Date.UTC(2020, 9, 5, 13, 59, 32) * 1000 + 826328;
  return `${capture()
    .map((b, i) => printer.format(start + i * 1213, b))
    .join("\n")}\n`;
}

test("tcpdump -nn lines (one per packet) for every packet kind", () => {
  assertGolden("sim-tcpdump-nn.txt", print(0, false));
});

test("tcpdump -nv lines: IP header line, service names for ports (4.9's -n), HTTP and DNS decoded", () => {
  assertGolden("sim-tcpdump-nv.txt", print(1, true));
});

test("tcpdump -nne on the router: Ethernet headers on a named interface, Linux cooked (In/Out) on any", () => {
  const m = new MiniNet();
  const frames: { bytes: Uint8Array; frame: LinkFrame }[] = [];
  m.net.tap = (k, _dev, direction, p, f) => {
    if (k === m.router) frames.push({ bytes: encodeIpv4(p), frame: { type: "ether", direction, ...f } });
  };
  tcpExchange(m.net, m.client, ip("10.0.0.254"), 8080, "GET / HTTP/1.1\r\n\r\n");
  const start = Date.UTC(2020, 9, 5, 13, 59, 32) * 1000;
  const out: string[] = [];
  for (const type of ["ether", "sll"] as const) {
    const printer = new TcpdumpPrinter({ verbose: 0, linkHeader: true });
    for (const [i, f] of frames.slice(0, 4).entries())
      out.push(printer.format(start + i, f.bytes, { ...f.frame, type }));
  }
  const verbose = new TcpdumpPrinter({ verbose: 1, linkHeader: true });
  out.push(verbose.format(start, frames[0]!.bytes, { ...frames[0]!.frame, type: "sll" }));
  assertGolden("sim-tcpdump-e.txt", `${out.join("\n")}\n`);
});
