import {
  encodeIpv4,
  joinSegment,
  Kernel,
  maskOf,
  Network,
  parseIpv4,
  parseIpv4Prefix,
  type Segment,
  TcpdumpPrinter,
} from "../../src/dataplane/sim/index.ts";

/**
 * A small routed network for dataplane tests:
 *
 *   client 10.0.0.1 ──(lan)── 10.0.0.254 eth0  router  eth1 10.1.0.254 ──(dmz)── 10.1.0.1 server
 *
 * The router forwards, and DNATs 10.0.0.254:8080 to the server's port 80 (no SNAT: the server routes back
 * through the router by default). Every packet the client's eth0 sees is printed as tcpdump -nnv would.
 */
export class MiniNet {
  readonly net = new Network(() => 0.25);
  readonly client = new Kernel("client");
  readonly router = new Kernel("router");
  readonly server = new Kernel("server");
  /** What tcpdump -nnv -i eth0 on the client would print. */
  readonly clientCapture: string[] = [];

  constructor() {
    const lan: Segment = { name: "lan", members: [] };
    const dmz: Segment = { name: "dmz", members: [] };
    const attach = (k: Kernel, dev: string, seg: Segment, cidr: string, mac: string) => {
      const link = k.addLink({ name: dev, kind: "ether", mac, mtu: 1500 });
      joinSegment(seg, k, link);
      const prefix = parseIpv4Prefix(cidr)!;
      k.addAddress(
        dev,
        { ...prefix, addr: (prefix.addr & prefix.mask) >>> 0 },
        parseIpv4(cidr.split("/")[0]!)!,
      );
    };
    attach(this.client, "eth0", lan, "10.0.0.1/24", "02:00:00:00:00:01");
    attach(this.router, "eth0", lan, "10.0.0.254/24", "02:00:00:00:00:fe");
    attach(this.router, "eth1", dmz, "10.1.0.254/24", "02:00:00:00:01:fe");
    attach(this.server, "eth0", dmz, "10.1.0.1/24", "02:00:00:00:01:01");
    this.router.sysctl.ipForward = true;
    this.defaultRoute(this.client, "10.0.0.254", "eth0");
    this.defaultRoute(this.server, "10.1.0.254", "eth0");
    this.router.netfilter.restore(
      "*nat\n-A PREROUTING -d 10.0.0.254/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.1:80\nCOMMIT\n",
      { noflush: true },
    );
    this.server.listen({ protocol: "tcp", port: 80, handle: () => "HTTP/1.1 200 OK\r\n\r\n" });
    this.server.listen({ protocol: "udp", port: 53, handle: () => undefined });
    this.net.now = 1000;
    const printer = new TcpdumpPrinter({ verbose: 1 });
    let t = 0;
    this.net.tap = (k, dev, _dir, p) => {
      if (k === this.client && dev === "eth0") this.clientCapture.push(printer.format(t++, encodeIpv4(p)));
    };
  }

  route(k: Kernel, cidr: string, via: string, dev: string): void {
    k.addRoute({
      type: "unicast",
      dst: parseIpv4Prefix(cidr)!,
      nexthops: [{ via: parseIpv4(via)!, dev, weight: 1 }],
      proto: "static",
      scope: "global",
      metric: 0,
    });
  }

  defaultRoute(k: Kernel, via: string, dev: string): void {
    k.addRoute({
      type: "unicast",
      dst: { addr: 0, len: 0, mask: maskOf(0) },
      nexthops: [{ via: parseIpv4(via)!, dev, weight: 1 }],
      proto: "static",
      scope: "global",
      metric: 0,
    });
  }

  rules(k: Kernel, text: string): void {
    k.netfilter.restore(text, { noflush: true });
  }
}

export const ip = (s: string): number => parseIpv4(s)!;
