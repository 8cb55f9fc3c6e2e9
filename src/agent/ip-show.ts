import {
  formatIpv4,
  formatRoutes,
  formatRules,
  type Kernel,
  type Link,
  localTableRoutes,
  maskOf,
} from "../dataplane/sim/index.ts";
import { sha256 } from "../lib/index.ts";
import type { CommandResult } from "./sim-commands.ts";

/**
 * `ip [-c] [-4] address|link|route|rule|neighbour [show ...]` over a sim namespace, in iproute2 6.1's text
 * format (checked against the real tool in network namespaces). The sim has no IPv6, so no inet6 lines.
 */
export function ipShow(k: Kernel, args: string[], now: number): CommandResult {
  let color = false;
  let details = false;
  const words: string[] = [];
  for (const a of args) {
    // iproute2 takes any abbreviation of `-details` (`-d`, `-det`).
    if (a.length >= 2 && "-details".startsWith(a)) details = true;
    else if (
      a === "-c" ||
      a === "-color" ||
      a === "--color" ||
      a === "-color=always" ||
      a === "--color=always"
    )
      color = true;
    else if (a === "-color=never" || a === "--color=never" || a === "-color=auto" || a === "--color=auto") {
      // auto: the emulated tool's output is not a terminal.
    } else if (a === "-4") {
      // The sim is IPv4 only.
    } else words.push(a);
  }
  const [object = "", ...rest] = words;
  const kind = ipObject(object);
  if (!kind) return fail(`not supported yet: ip ${args.join(" ")} on the sim dataplane\n`);
  const [verb = "show", ...filters] = rest;
  if (!["show", "list", "lst"].some((v) => v.startsWith(verb)) || verb.length === 0)
    return fail(`not supported yet: ip ${args.join(" ")} on the sim dataplane (only show)\n`);
  const c = palette(color);
  switch (kind) {
    case "address":
    case "link": {
      const f = linkFilter(filters);
      if ("error" in f) return fail(f.error);
      const links = [...k.links.values()].filter((l) => (!f.up || l.up) && (!f.dev || l.name === f.dev));
      if (f.dev && links.length === 0 && !k.links.has(f.dev))
        return fail(`Device "${f.dev}" does not exist.\n`);
      const without = details ? links.find((l) => linkDetails(k, l) === undefined) : undefined;
      if (without)
        return fail(
          `not supported yet: ip -d ${kind} show for ${without.kind} devices (${without.name}) on the sim dataplane\n`,
        );
      return ok(
        links
          .map((l) =>
            kind === "link" ? linkText(l, c, true, details ? k : undefined) : addressText(k, l, c, details),
          )
          .join(""),
      );
    }
    case "route":
      return routeShow(k, filters);
    case "rule":
      if (filters.length > 0)
        return fail(`not supported yet: ip rule show ${filters.join(" ")} on the sim dataplane\n`);
      return ok(formatRules(k.rules));
    case "neighbour": {
      let dev: string | undefined;
      let permanentOnly = false;
      for (let i = 0; i < filters.length; i++) {
        if (filters[i] === "dev" && filters[i + 1]) dev = filters[++i];
        else if (filters[i] === "nud" && filters[i + 1] === "permanent") {
          permanentOnly = true;
          i++;
        } else return fail(`not supported yet: ip neigh show ${filters.join(" ")} on the sim dataplane\n`);
      }
      if (dev && !k.links.has(dev)) return fail(`Cannot find device "${dev}"\n`);
      return ok(neighbourText(k, dev, c, now, permanentOnly));
    }
  }
}

/**
 * `ip route [show] [table main|local|all|N]`: one table's routes (no `table` on the lines), or every table's in
 * the kernel's dump order, those outside main naming their table. Table local is the kernel's, from the addresses.
 */
function routeShow(k: Kernel, filters: string[]): CommandResult {
  if (filters.length === 0) return ok(formatRoutes(k.main.routes));
  if (filters.length !== 2 || filters[0] !== "table")
    return fail(`not supported yet: ip route show ${filters.join(" ")} on the sim dataplane\n`);
  const which = filters[1]!;
  const localRoutes = () => localTableRoutes(k.addresses, (dev) => k.links.get(dev)?.up === true);
  if (which === "all") {
    const ids = [...k.tables.keys()].filter((id) => id !== LOCAL_TABLE_ID).sort((a, b) => a - b);
    const routes = ids.map((id) => formatRoutes(k.tables.get(id)!.routes, { showTable: true }));
    return ok(routes.join("") + formatRoutes(localRoutes(), { showTable: true }));
  }
  const id = TABLE_NAMES[which] ?? (/^\d+$/.test(which) ? Number(which) : undefined);
  if (id === undefined) return fail(`Error: argument "${which}" is wrong: table id value is invalid\n\n`);
  if (id === LOCAL_TABLE_ID) return ok(formatRoutes(localRoutes()));
  const table = k.tables.get(id);
  // The kernel answers a dump of a table never made with an error (exit status 2).
  if (!table) return fail("Error: ipv4: FIB table does not exist.\nDump terminated\n", 2);
  return ok(formatRoutes(table.routes));
}

const LOCAL_TABLE_ID = 255;
/** iproute2's names for the reserved tables (/etc/iproute2/rt_tables). */
const TABLE_NAMES: Record<string, number> = { default: 253, main: 254, local: LOCAL_TABLE_ID };

type IpObject = "address" | "link" | "route" | "rule" | "neighbour";

/** iproute2 matches an abbreviation against its object table in order: a, r(oute), ru(le), n, l. */
function ipObject(word: string): IpObject | undefined {
  if (!word) return undefined;
  if ("address".startsWith(word)) return "address";
  if ("route".startsWith(word)) return "route";
  if (word.length >= 2 && "rule".startsWith(word)) return "rule";
  if ("neighbour".startsWith(word) || "neighbor".startsWith(word)) return "neighbour";
  if ("link".startsWith(word)) return "link";
  return undefined;
}

function linkFilter(words: string[]): { up: boolean; dev?: string } | { error: string } {
  let up = false;
  let dev: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "up") up = true;
    else if (w === "dev") {
      dev = words[++i];
      if (!dev) return { error: 'Command line is not complete. Try option "help"\n' };
    } else if (w.startsWith("-") || ["type", "master", "vrf", "group", "label", "scope", "to"].includes(w))
      return { error: `not supported yet: ip link/addr show ${w} on the sim dataplane\n` };
    else if (dev === undefined) dev = w;
    else return { error: `Error: either "dev" is duplicate, or "${w}" is a garbage.\n` };
  }
  return dev === undefined ? { up } : { up, dev };
}

interface Palette {
  ifname(s: string): string;
  mac(s: string): string;
  inet(s: string): string;
  state(s: string): string;
}

/** iproute2's -c colours: interface names cyan, MACs yellow, IPv4 magenta, UP green and DOWN red. */
function palette(on: boolean): Palette {
  const wrap = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    ifname: wrap(36),
    mac: wrap(33),
    inet: wrap(35),
    state: (s) => (s === "UP" ? wrap(32)(`${s} `) : s === "DOWN" ? wrap(31)(`${s} `) : `${s} `),
  };
}

/** A veth's peer namespace as `ip` names it: pods live in containerd's named `cni-<uuid>` netns. */
function peerNetns(l: Link): string {
  if (!l.peer) return "";
  const name = l.peer.kernel.name;
  if (!name.includes("/")) return " link-netnsid 0";
  const hex = [...sha256(`netns:${name}`).slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return ` link-netns cni-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The header flags, `link/` line type and address of a tunnel device, as iproute2 prints them. */
function tunnelLinkLine(l: Link): { flags: string; name: string; link: string } | undefined {
  const up = l.up ? ",UP,LOWER_UP" : "";
  // tunl0 is the ipip module's fallback device: no lower device (`@NONE`), no local or remote address.
  if (l.kind === "ipip")
    return { flags: `NOARP${up}`, name: `${l.name}@NONE`, link: "link/ipip 0.0.0.0 brd 0.0.0.0" };
  // Kernel WireGuard has no link-layer address: `link/none ` (iproute2 prints the type and a space).
  if (l.kind === "wireguard") return { flags: `POINTOPOINT,NOARP${up}`, name: l.name, link: "link/none " };
  return undefined;
}

/**
 * The generic tail of `ip -d`. tso_max_size is what the driver leaves: lo raises it to GSO_MAX_SIZE, the others
 * keep the legacy 64 KiB. `ip -d addr` has no `addrgenmode` (its dump carries no IPv6 link settings).
 */
const genericDetails = (tsoMax: number, forAddress: boolean) =>
  `${forAddress ? "" : "addrgenmode eui64 "}numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size ${tsoMax} tso_max_segs 65535 gro_max_size 65536 `;

/**
 * `ip -d`'s additions to the link line, iproute2 6.1 with a 6.x kernel (the generic part as the real tool prints
 * it here for lo; the vxlan part as iplink_vxlan.c prints the attributes Felix's device has: learning off, the
 * kernel's defaults ttl 0 (`auto`), ageing 300, UDP checksums on, IPv6 zero checksums off, source ports 0 0).
 * Undefined for devices whose details the sim does not model yet.
 */
function linkDetails(k: Kernel, l: Link, forAddress = false): string | undefined {
  if (l.kind === "loopback")
    return ` promiscuity 0  allmulti 0 minmtu 0 maxmtu 0 ${genericDetails(524280, forAddress)}`;
  if (l.kind === "vxlan" && l.vxlan) {
    const v = l.vxlan;
    const lower = k.links.has(v.parent) ? `dev ${v.parent} ` : "";
    return (
      ` promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \n    vxlan id ${v.vni} local ${formatIpv4(v.local)} ${lower}` +
      `srcport 0 0 dstport ${v.port} nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx ` +
      genericDetails(65536, forAddress)
    );
  }
  return undefined;
}

function linkText(l: Link, c: Palette, withMode: boolean, detailsOf?: Kernel): string {
  const details = detailsOf ? (linkDetails(detailsOf, l, !withMode) ?? "") : "";
  const tunnel = tunnelLinkLine(l);
  if (tunnel) {
    const state = l.up ? "UNKNOWN" : "DOWN";
    const head = `${l.index}: ${c.ifname(`${tunnel.name}: `)}<${tunnel.flags}> mtu ${l.mtu} qdisc ${l.up ? "noqueue" : "noop"} state ${c.state(state)}${withMode ? "mode DEFAULT " : ""}group default qlen 1000`;
    return `${head}\n    ${tunnel.link}\n`;
  }
  const loop = l.kind === "loopback";
  const flags = loop
    ? `LOOPBACK${l.up ? ",UP,LOWER_UP" : ""}`
    : `BROADCAST,MULTICAST${l.up ? ",UP,LOWER_UP" : ""}`;
  // A VXLAN device has no carrier of its own to report: UNKNOWN when up, as lo.
  const state = loop || (l.kind === "vxlan" && l.up) ? "UNKNOWN" : l.up ? "UP" : "DOWN";
  const qdisc = l.kind === "ether" ? "mq" : "noqueue";
  // Calico creates its veths with no transmit queue; lo and NICs have the default 1000.
  const qlen = l.kind === "veth" ? "" : "qlen 1000";
  const name = `${l.name}${l.peer ? `@if${l.peer.link.index}` : ""}: `;
  const head = `${l.index}: ${c.ifname(name)}<${flags}> mtu ${l.mtu} qdisc ${qdisc} state ${c.state(state)}${withMode ? "mode DEFAULT " : ""}group default ${qlen}`;
  const brd = loop ? "00:00:00:00:00:00" : "ff:ff:ff:ff:ff:ff";
  return `${head}\n    link/${loop ? "loopback" : "ether"} ${c.mac(l.mac)} brd ${c.mac(brd)}${peerNetns(l)}${details}\n`;
}

function addressText(k: Kernel, l: Link, c: Palette, details: boolean): string {
  let text = linkText(l, c, false, details ? k : undefined);
  for (const a of k.addresses.filter((x) => x.dev === l.name)) {
    const loop = l.kind === "loopback";
    // Broadcast: the subnet's, and for a pod's /32 the address itself (as Calico's CNI sets it, seed 002).
    const brd = loop ? undefined : formatIpv4((a.ip | ~maskOf(a.len)) >>> 0);
    text += `    inet ${c.inet(formatIpv4(a.ip))}/${a.len} ${brd ? `brd ${c.inet(`${brd} `)}` : ""}scope ${loop ? "host" : "global"} ${l.name}\n`;
    text += "       valid_lft forever preferred_lft forever\n";
  }
  return text;
}

function neighbourText(
  k: Kernel,
  dev: string | undefined,
  c: Palette,
  now: number,
  permanentOnly: boolean,
): string {
  const lines: string[] = [];
  for (const n of k.neighbours.values()) {
    if ((dev && n.dev !== dev) || (permanentOnly && !n.permanent)) continue;
    // base_reachable_time is 30 s: a neighbour not confirmed since goes STALE (and stays, below gc_thresh1).
    const state = n.permanent ? "PERMANENT" : now - n.confirmed < 30_000 ? "REACHABLE" : "STALE";
    lines.push(
      `${c.inet(`${formatIpv4(n.ip)} `)}${dev ? "" : `dev ${c.ifname(`${n.dev} `)}`}lladdr ${c.mac(`${n.mac} `)}${state} \n`,
    );
  }
  return lines.join("");
}

const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });
