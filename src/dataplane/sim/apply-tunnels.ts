/**
 * The parts of a namespace's description that tunnels bring: the VXLAN and WireGuard devices' settings, permanent
 * neighbour and fdb entries and policy routing rules. Refuses what ip(8), bridge(8) and wg(8) would, with their line.
 */
import type { FdbSpec, LinkSpec, NeighbourSpec, RuleSpec } from "../../calc/index.ts";
import { parseIpv4, parseIpv4Prefix } from "./ipv4.ts";
import type { Kernel, Link } from "./kernel.ts";
import { wireguardPublicKey } from "./tunnel-devices.ts";

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function address(text: string, what: string): number {
  const ip = parseIpv4(text);
  if (ip === undefined) throw new Error(`Error: ${what} address is expected rather than "${text}".`);
  return ip;
}

function device(k: Kernel, dev: string): Link {
  const link = k.links.get(dev);
  if (!link) throw new Error(`Cannot find device "${dev}"`);
  return link;
}

/** The kernel's device kind for a description's link kind. */
export function linkKind(kind: LinkSpec["kind"]): Link["kind"] {
  if (kind === "uplink") return "ether";
  return kind;
}

/** Sets a tunnel link's own settings (`ip link add … type vxlan …`, `wg set …`). */
export function configureTunnel(link: Link, spec: LinkSpec): void {
  if (spec.kind === "vxlan") {
    const v = spec.vxlan;
    if (!v) throw new Error("vxlan: missing virtual network identifier");
    if (!Number.isInteger(v.vni) || v.vni < 0 || v.vni >= 2 ** 24)
      throw new Error(`Error: argument "${v.vni}" is wrong: invalid id`);
    link.vxlan = { vni: v.vni, port: v.port, local: address(v.local, "inet"), parent: v.parent };
  } else if (spec.kind === "wireguard") {
    const w = spec.wireguard;
    if (!w) throw new Error(`${spec.name}: a wireguard link needs its wireguard settings`);
    const derived = wireguardPublicKey(w.privateKey);
    if (derived === undefined) throw new Error("Key is not the correct length or format");
    link.wireguard = {
      privateKey: w.privateKey,
      publicKey: w.publicKey,
      derivedPublicKey: derived,
      listenPort: w.listenPort,
      fwmark: w.fwmark,
      peers: w.peers.map((p) => {
        const colon = p.endpoint.lastIndexOf(":");
        const ip = parseIpv4(p.endpoint.slice(0, colon));
        const port = Number(p.endpoint.slice(colon + 1));
        if (colon < 0 || ip === undefined || !Number.isInteger(port) || port < 1 || port > 65535)
          throw new Error(`Unable to parse endpoint "${p.endpoint}"`);
        const allowedIps = p.allowedIps.map((cidr) => {
          const prefix = parseIpv4Prefix(cidr);
          if (!prefix) throw new Error(`Unable to parse IP address: \`${cidr}'`);
          return prefix;
        });
        return {
          publicKey: p.publicKey,
          endpoint: { ip, port },
          allowedIps,
          allowedIpsText: [...p.allowedIps],
          rxBytes: 0,
          txBytes: 0,
        };
      }),
    };
  }
}

/** `ip neigh replace IP lladdr MAC dev DEV nud permanent`. */
export function addNeighbour(k: Kernel, n: NeighbourSpec): void {
  device(k, n.dev);
  const ip = address(n.ip, "inet");
  if (!MAC.test(n.mac)) throw new Error(`"${n.mac}" is invalid lladdr.`);
  k.neighbours.set(`${n.dev}|${ip}`, {
    ip,
    dev: n.dev,
    mac: n.mac.toLowerCase(),
    confirmed: 0,
    permanent: true,
  });
}

/** `bridge fdb replace MAC dev DEV dst IP self permanent`. */
export function addFdb(k: Kernel, f: FdbSpec): void {
  device(k, f.dev);
  if (!MAC.test(f.mac)) throw new Error(`Invalid mac address ${f.mac}`);
  const dst = address(f.dst, "inet");
  const mac = f.mac.toLowerCase();
  const i = k.fdb.findIndex((e) => e.dev === f.dev && e.mac === mac);
  if (i >= 0) k.fdb.splice(i, 1);
  k.fdb.push({ dev: f.dev, mac, dst });
}

/** `ip rule add [not] fwmark V/M lookup T priority P`. */
export function addRule(k: Kernel, r: RuleSpec): void {
  const fwmark = r.fwmark
    ? { value: r.fwmark.value >>> 0, mask: r.fwmark.mask >>> 0, not: r.fwmark.not === true }
    : undefined;
  if (
    k.rules.some(
      (x) =>
        x.priority === r.priority &&
        x.table === r.table &&
        x.fwmark?.value === fwmark?.value &&
        x.fwmark?.mask === fwmark?.mask,
    )
  )
    throw new Error("RTNETLINK answers: File exists");
  k.addRule({ priority: r.priority, table: r.table, ...(fwmark ? { fwmark } : {}) });
}
