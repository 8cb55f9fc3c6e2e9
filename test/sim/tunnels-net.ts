/** Builds a tunnel fixture (test/fixtures/dataplane/tunnels.ts) into emulated kernels joined by one Network. */
import type { ClusterDataplane } from "../../src/calc/index.ts";
import {
  applyNamespace,
  encodeIpv4,
  Kernel,
  Network,
  type Segment,
  TcpdumpPrinter,
} from "../../src/dataplane/sim/index.ts";

export class TunnelNet {
  readonly net = new Network(() => 0.25);
  readonly kernels = new Map<string, Kernel>();
  /** Captures by `namespace dev`, as `tcpdump -nv -i dev` would print them (both directions). */
  readonly captures = new Map<string, string[]>();

  constructor(description: ClusterDataplane) {
    const underlay: Segment = { name: description.underlay.name, members: [] };
    for (const host of description.hosts)
      for (const ns of host.namespaces) {
        const k = new Kernel(ns.name);
        applyNamespace(k, ns, {
          segment: (n) => (n === underlay.name ? underlay : undefined),
          kernel: (n) => this.kernels.get(n),
        });
        this.kernels.set(ns.name, k);
      }
    this.net.now = 1000;
    const printer = new TcpdumpPrinter({ verbose: 1 });
    let t = 0;
    this.net.tap = (k, dev, _dir, p) => {
      const key = `${k.name} ${dev}`;
      const list = this.captures.get(key) ?? [];
      list.push(printer.format(t++, encodeIpv4(p)));
      this.captures.set(key, list);
    };
  }

  kernel(name: string): Kernel {
    const k = this.kernels.get(name);
    if (!k) throw new Error(`no namespace ${name}`);
    return k;
  }
}
