/**
 * One topology, built twice: as Linux network namespaces joined by veth pairs (a bash script run as root) and
 * as sim `Kernel`s joined the same way. Interface names, addresses, routes and sysctls are the same in both.
 */
import { formatIpv4, Kernel, parseIpv4, parseIpv4Prefix, type Route } from "../../src/dataplane/sim/index.ts";

export interface VethEnd {
  ns: string;
  dev: string;
  /** `IP/LEN`. */
  addrs: string[];
  proxyArp?: boolean;
}

export interface TopologySpec {
  namespaces: { name: string; forward?: boolean; routes: string[] }[];
  veths: [VethEnd, VethEnd][];
}

/** The kernel's name for a namespace of the spec: `tdiff-<run id>-<name>`. */
export function netnsName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A bash script that creates the namespaces (IPv6 off, so only the test's IPv4 traffic moves). Commands go
 * through `ip -batch` per namespace: a loaded machine spawns processes slowly.
 */
export function kernelBuildScript(spec: TopologySpec, prefix: string): string {
  const ns = (n: string) => netnsName(prefix, n);
  const batch = (name: string | undefined, cmds: string[]) =>
    cmds.length ? `ip ${name ? `-n ${q(ns(name))} ` : ""}-batch - <<'EOF'\n${cmds.join("\n")}\nEOF` : "";
  const lines = [
    "set -e",
    batch(
      undefined,
      spec.namespaces.map((n) => `netns add ${ns(n.name)}`),
    ),
  ];
  for (const n of spec.namespaces)
    lines.push(
      `ip netns exec ${q(ns(n.name))} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 ` +
        `net.ipv4.ip_forward=${n.forward ? 1 : 0} net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ` +
        // The sim sends no ICMP redirects; a router that forwards back out the interface a packet came in on
        // would send one.
        "net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0",
    );
  for (const n of spec.namespaces)
    lines.push(
      batch(n.name, [
        "link set lo up",
        ...spec.veths
          .filter(([a]) => a.ns === n.name)
          .map(([a, b]) => `link add ${a.dev} type veth peer name ${b.dev} netns ${ns(b.ns)}`),
      ]),
    );
  // Routes without a gateway first: a gateway must be reachable when its route is added.
  const direct = (r: string) => (r.includes(" via ") ? 1 : 0);
  for (const n of spec.namespaces) {
    const ends = spec.veths.flat().filter((e) => e.ns === n.name);
    lines.push(
      batch(n.name, [
        ...ends.flatMap((e) => [...e.addrs.map((a) => `addr add ${a} dev ${e.dev}`), `link set ${e.dev} up`]),
        ...[...n.routes].sort((a, b) => direct(a) - direct(b)).map((r) => `route add ${r}`),
      ]),
    );
    const proxy = ends.filter((e) => e.proxyArp).map((e) => `net.ipv4.conf.${e.dev}.proxy_arp=1`);
    if (proxy.length) lines.push(`ip netns exec ${q(ns(n.name))} sysctl -qw ${proxy.join(" ")}`);
  }
  return lines.filter(Boolean).join("\n");
}

/** Deletes every namespace of the spec that exists (never fails). */
export function kernelTeardownScript(spec: TopologySpec, prefix: string): string {
  return spec.namespaces.map((n) => `ip netns del ${q(netnsName(prefix, n.name))} 2>/dev/null`).join("; ");
}

/** The same topology as sim kernels, keyed by the spec's names. */
export function buildSimTopology(spec: TopologySpec): Map<string, Kernel> {
  const kernels = new Map<string, Kernel>();
  for (const n of spec.namespaces) {
    const k = new Kernel(n.name);
    k.sysctl.ipForward = n.forward === true;
    kernels.set(n.name, k);
  }
  let mac = 1;
  for (const [a, b] of spec.veths) {
    const ka = kernels.get(a.ns)!;
    const kb = kernels.get(b.ns)!;
    const macText = () => `02:00:00:00:00:${(mac++).toString(16).padStart(2, "0")}`;
    const la = ka.addLink({ name: a.dev, kind: "veth", mac: macText(), mtu: 1500 });
    const lb = kb.addLink({ name: b.dev, kind: "veth", mac: macText(), mtu: 1500 });
    la.peer = { kernel: kb, link: lb };
    lb.peer = { kernel: ka, link: la };
    for (const [end, link, k] of [
      [a, la, ka],
      [b, lb, kb],
    ] as const) {
      link.proxyArp = end.proxyArp === true;
      for (const addr of end.addrs)
        k.addAddress(end.dev, parseIpv4Prefix(addr)!, parseIpv4(addr.split("/")[0]!)!);
    }
  }
  for (const n of spec.namespaces) for (const r of n.routes) kernels.get(n.name)!.addRoute(parseRoute(r));
  return kernels;
}

/**
 * The iproute2 route forms the specs use: `[blackhole] PREFIX|default [via IP] [dev DEV] [scope link]
 * [proto P] [metric N]`.
 */
export function parseRoute(text: string): Route {
  const w = text.split(/\s+/);
  let type: Route["type"] = "unicast";
  if (w[0] === "blackhole" || w[0] === "unreachable" || w[0] === "prohibit")
    type = w.shift() as Route["type"];
  const dstText = w.shift()!;
  const dst = dstText === "default" ? { addr: 0, len: 0, mask: 0 } : parseIpv4Prefix(dstText);
  if (!dst) throw new Error(`bad route destination in "${text}"`);
  let via: number | undefined;
  let dev: string | undefined;
  let scope: Route["scope"] = "global";
  let proto = "boot";
  let metric = 0;
  for (let i = 0; i < w.length; i += 2) {
    const v = w[i + 1]!;
    if (w[i] === "via") via = parseIpv4(v);
    else if (w[i] === "dev") dev = v;
    else if (w[i] === "scope") scope = v as Route["scope"];
    else if (w[i] === "proto") proto = v;
    else if (w[i] === "metric") metric = Number(v);
    else throw new Error(`unknown route word "${w[i]}" in "${text}"`);
  }
  if (type === "unicast" && !dev) throw new Error(`route "${text}" needs a dev`);
  return {
    type,
    dst,
    nexthops: type === "unicast" ? [{ via, dev: dev!, weight: 1 }] : [],
    proto,
    scope: via === undefined && type === "unicast" ? "link" : scope,
    metric,
  };
}

/** A sim route as `ip route add` takes it (for routes copied from a sim kernel into a namespace). */
export function routeText(r: Route): string | undefined {
  if (r.proto === "kernel" || r.nexthops.length > 1) return undefined;
  const dst = r.dst.len === 0 ? "default" : `${formatIpv4(r.dst.addr)}/${r.dst.len}`;
  if (r.type !== "unicast") return `${r.type} ${dst}`;
  const hop = r.nexthops[0]!;
  const via = hop.via === undefined ? "" : ` via ${formatIpv4(hop.via)}`;
  return `${dst}${via} dev ${hop.dev}${r.metric ? ` metric ${r.metric}` : ""}`;
}
