/** A flat underlay for BGP tests: hosts on 10.0.0.0/24 (eth0), each with a BIRD configuration built by hand. */
import {
  BgpFabric,
  type BgpProtocol,
  type BirdConfig,
  type BirdFilter,
  type BirdProtocol,
  type BirdSavedState,
} from "../../src/dataplane/sim/bird/index.ts";
import {
  joinSegment,
  Kernel,
  Network,
  parseIpv4,
  parseIpv4Prefix,
  type Segment,
} from "../../src/dataplane/sim/index.ts";

export const ip = (s: string): number => parseIpv4(s)!;
export const pfx = (s: string) => parseIpv4Prefix(s)!;

export function acceptAll(name = "all"): BirdFilter {
  return {
    name,
    run: (route) => ({ decision: { accepted: true, file: "bird.cfg", line: 1, text: name }, route }),
  };
}
export function rejectAll(name = "none"): BirdFilter {
  return {
    name,
    run: (route) => ({ decision: { accepted: false, file: "bird.cfg", line: 1, text: name }, route }),
  };
}

const base = { file: "bird.cfg", line: 1, import: acceptAll(), export: acceptAll() };

export function bgp(
  name: string,
  localAs: number,
  neighbor: string,
  as: number,
  more: Partial<BgpProtocol> = {},
): BgpProtocol {
  return {
    ...base,
    kind: "bgp",
    name,
    table: "master",
    localAs,
    neighbor: { ip: ip(neighbor), as },
    passive: false,
    ttlSecurity: false,
    addPaths: true,
    rrClient: false,
    nextHopSelf: false,
    nextHopKeep: false,
    gateway: "recursive",
    connectDelayTime: 2,
    connectRetryTime: 5,
    holdTime: 240,
    keepaliveTime: 80,
    errorWaitTime: [5, 30],
    multihop: true,
    ...more,
  };
}

export function node(
  dialect: "bird1" | "bird2",
  routerId: string,
  statics: string[],
  peers: BgpProtocol[],
): BirdConfig {
  const table = dialect === "bird2" ? "master4" : "master";
  const protocols: BirdProtocol[] = [
    {
      ...base,
      kind: "kernel",
      // BIRD 2 defaults to 32; these hosts set `metric 0` as the labs' host1 does, so routes print without one.
      metric: 0,
      name: "kernel1",
      table,
      learn: true,
      persist: true,
      mergePaths: true,
      gracefulRestart: false,
    },
    { ...base, kind: "device", name: "device1", table },
    {
      ...base,
      kind: "direct",
      name: "direct1",
      table,
      interfaces: [
        { pattern: "cali*", exclude: true },
        { pattern: "*", exclude: false },
      ],
      export: rejectAll(),
    },
    {
      ...base,
      kind: "static",
      name: "static1",
      table,
      routes: statics.map((s) => ({ net: pfx(s), dest: "blackhole" as const })),
    },
    ...peers.map((p) => ({ ...p, table })),
  ];
  return { dialect, file: "bird.cfg", routerId: ip(routerId), protocols, filters: new Map() };
}

export class BgpNet {
  readonly net = new Network(() => 0.25);
  readonly lan: Segment = { name: "lan", members: [] };
  readonly kernels = new Map<string, Kernel>();
  saved: BirdSavedState = {};
  fabric?: BgpFabric;
  static readonly epoch = Date.UTC(2022, 1, 10, 16, 0, 0);

  host(name: string, addr: string, len = 24, dev = "eth0"): Kernel {
    const k = new Kernel(name);
    const link = k.addLink({
      name: dev,
      kind: "ether",
      mac: `02:00:00:00:00:${addr.split(".")[3]!.padStart(2, "0").slice(-2)}`,
      mtu: 1500,
    });
    joinSegment(this.lan, k, link);
    k.addAddress(dev, pfx(`${addr}/${len}`), ip(addr));
    this.kernels.set(name, k);
    return k;
  }

  /**
   * Converges at `net.now`; with `settle`, first lets new sessions through BIRD's connect delay (a converge, then
   * another 10 s later), as a lab does between applying a configuration and looking.
   */
  converge(
    configs: Record<string, { config: BirdConfig; version?: string; startedAt?: Record<string, number> }>,
    settle = true,
  ): BgpFabric {
    if (settle) {
      this.converge(configs, false);
      this.net.now += 10_000;
    }
    const hosts = Object.entries(configs).map(([host, c]) => ({
      host,
      kernel: this.kernels.get(host)!,
      config: c.config,
      version: c.version ?? (c.config.dialect === "bird2" ? "2.0.7" : "v0.3.3+birdv1.6.8"),
      ...(c.startedAt ? { startedAt: c.startedAt } : {}),
    }));
    const fabric = new BgpFabric({
      net: this.net,
      hosts,
      saved: this.saved,
      clock: () => new Date(BgpNet.epoch + this.net.now),
    });
    fabric.converge();
    this.saved = fabric.saved();
    this.fabric = fabric;
    return fabric;
  }
}
