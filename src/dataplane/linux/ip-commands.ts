/**
 * `ip -batch` lines for a namespace's links, addresses and routes. Pure: the dataplane decides which namespace
 * creates a veth pair (one side only) and runs the lines.
 */
import type { AddressSpec, LinkSpec, ResolvConfSpec, RouteSpec } from "../../calc/index.ts";

/**
 * Route protocols by number. `ip -batch` must not be given their names: iproute2's rtnl_rtprot_a2n caches the last
 * name it looked up with the last value it parsed, so `proto boot` after a line with `proto 80` comes out as 80.
 */
const PROTO_NUMBERS: Record<RouteSpec["proto"], number> = { kernel: 2, boot: 3, static: 4, 80: 80 };

/** `ip route` arguments for a route (the kernel's own proto-kernel routes come with their address). */
export function routeArgs(r: RouteSpec): string {
  const dst = r.dst === "0.0.0.0/0" ? "default" : r.dst;
  const parts = r.type === "unicast" ? [dst] : [r.type, dst];
  if (r.via) parts.push("via", r.via);
  if (r.dev && r.type === "unicast") parts.push("dev", r.dev);
  parts.push("proto", String(PROTO_NUMBERS[r.proto]));
  if (r.type === "unicast") parts.push("scope", r.scope);
  if (r.metric) parts.push("metric", String(r.metric));
  if (r.table !== undefined && r.table !== 254) parts.push("table", String(r.table));
  if (r.onlink) parts.push("onlink");
  return parts.join(" ");
}

/** Routes without a gateway first: a gateway must be reachable when its route is added. */
export function routeAddLines(routes: RouteSpec[]): string[] {
  const programmed = routes.filter((r) => r.proto !== "kernel");
  return [...programmed.filter((r) => !r.via), ...programmed.filter((r) => r.via)].map(
    (r) => `route replace ${routeArgs(r)}`,
  );
}

export function routeDelLines(routes: RouteSpec[]): string[] {
  return routes.filter((r) => r.proto !== "kernel").map((r) => `route del ${routeArgs(r)}`);
}

/** MAC (devices without a link-layer address, `ipip` and `wireguard`, have none to set), MTU, up. */
export function linkSetLines(links: LinkSpec[]): string[] {
  return links.map((l) => `link set dev ${l.name}${l.mac ? ` address ${l.mac}` : ""} mtu ${l.mtu} up`);
}

export function addressAddLines(addresses: AddressSpec[]): string[] {
  return addresses.map((a) => `address replace ${a.cidr} dev ${a.dev}`);
}

export function addressDelLines(addresses: AddressSpec[]): string[] {
  return addresses.map((a) => `address del ${a.cidr} dev ${a.dev}`);
}

export function resolvConfText(r: ResolvConfSpec): string {
  return `${r.search.length ? `search ${r.search.join(" ")}\n` : ""}nameserver ${r.nameserver}\noptions ndots:${r.ndots}\n`;
}

/** `family name` of every table an nft script creates. */
export function nftTables(script: string): string[] {
  const out = new Set<string>();
  for (const m of script.matchAll(
    /^\s*(?:add\s+|create\s+)?table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z0-9_-]+)/gm,
  ))
    out.add(`${m[1] ?? "ip"} ${m[2]}`);
  return [...out].sort();
}

/**
 * One nft transaction replacing the tables `previous` and `next` create with `next`'s (iptables-nft's own tables
 * are never named, so they are left alone).
 */
export function nftReplaceScript(previous: string, next: string): string {
  const tables = [...new Set([...nftTables(previous), ...nftTables(next)])];
  const drop = tables.flatMap((t) => [`add table ${t}`, `delete table ${t}`]);
  return `${[...drop, next].join("\n")}\n`;
}
