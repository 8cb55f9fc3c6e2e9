/**
 * `wg show [all|IFACE] [dump]` over a sim namespace's WireGuard devices, in wireguard-tools' format (show.c; checked
 * against wg 1.0 with wireguard-go here): the pretty form hides the private key and prints handshake age and
 * transfer only once there are any; the dump form is tab-separated, with the private key.
 */
import { formatIpv4, type Kernel, type Link, type WireguardPeer } from "../dataplane/sim/index.ts";
import type { CommandResult } from "./sim-commands.ts";

const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/** show.c's bytes(): B under 1 KiB, then KiB, MiB, GiB, TiB with two decimals. */
function bytesText(b: number): string {
  if (b < 1024) return `${b} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = b / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(2)} ${units[i]}`;
}

/** show.c's ago(): "Now", or years, days, hours, minutes, seconds (those not zero) and " ago". */
function agoText(seconds: number): string {
  if (seconds <= 0) return "Now";
  const parts: string[] = [];
  let left = seconds;
  for (const [unit, size] of [
    ["year", 365 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ] as const) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n) parts.push(`${n} ${unit}${n === 1 ? "" : "s"}`);
  }
  return `${parts.join(", ")} ago`;
}

/** Peers newest handshake first, as sort_peers orders them. */
function sortedPeers(peers: WireguardPeer[]): WireguardPeer[] {
  return [...peers].sort((a, b) => (b.handshakeAt ?? -1) - (a.handshakeAt ?? -1));
}

function pretty(l: Link, nowMs: number): string {
  const wg = l.wireguard!;
  let out = `interface: ${l.name}\n  public key: ${wg.publicKey}\n  private key: (hidden)\n`;
  if (wg.listenPort) out += `  listening port: ${wg.listenPort}\n`;
  if (wg.fwmark) out += `  fwmark: 0x${wg.fwmark.toString(16)}\n`;
  const peers = sortedPeers(wg.peers);
  if (peers.length) out += "\n";
  out += peers
    .map((p) => {
      let text = `peer: ${p.publicKey}\n  endpoint: ${formatIpv4(p.endpoint.ip)}:${p.endpoint.port}\n`;
      text += `  allowed ips: ${p.allowedIpsText.length ? p.allowedIpsText.join(", ") : "(none)"}\n`;
      if (p.handshakeAt !== undefined)
        text += `  latest handshake: ${agoText(Math.floor(nowMs / 1000) - Math.floor(p.handshakeAt / 1000))}\n`;
      if (p.rxBytes || p.txBytes)
        text += `  transfer: ${bytesText(p.rxBytes)} received, ${bytesText(p.txBytes)} sent\n`;
      return text;
    })
    .join("\n");
  return out;
}

function dump(l: Link, prefix: string, epochMs: number): string {
  const wg = l.wireguard!;
  let out = `${prefix}${wg.privateKey}\t${wg.publicKey}\t${wg.listenPort}\t${wg.fwmark ? `0x${wg.fwmark.toString(16)}` : "off"}\n`;
  for (const p of sortedPeers(wg.peers)) {
    const handshake = p.handshakeAt === undefined ? 0 : Math.floor((epochMs + p.handshakeAt) / 1000);
    const allowed = p.allowedIpsText.length ? p.allowedIpsText.join(",") : "(none)";
    out += `${prefix}${p.publicKey}\t(none)\t${formatIpv4(p.endpoint.ip)}:${p.endpoint.port}\t${allowed}\t${handshake}\t${p.rxBytes}\t${p.txBytes}\toff\n`;
  }
  return out;
}

/**
 * `wg show …`. `nowMs` is the network's virtual clock and `bootEpochMs` the wall time it started at (the dump's
 * handshake times are seconds since the epoch).
 */
export function wgCommand(k: Kernel, args: string[], nowMs: number, bootEpochMs: number): CommandResult {
  const devices = [...k.links.values()].filter((l) => l.wireguard);
  const [verb = "show", which = "all", form, ...extra] = args;
  if (verb !== "show" || extra.length > 0 || (form !== undefined && form !== "dump"))
    return fail(`not supported yet: wg ${args.join(" ")} on the sim dataplane\n`);
  if (which === "interfaces") return ok(devices.length ? `${devices.map((l) => l.name).join(" ")}\n` : "");
  if (which === "all") {
    if (form === "dump") return ok(devices.map((l) => dump(l, `${l.name}\t`, bootEpochMs)).join(""));
    return ok(devices.map((l) => pretty(l, nowMs)).join("\n"));
  }
  const link = k.links.get(which);
  if (!link?.wireguard)
    return fail(`Unable to access interface: ${link ? "Protocol not supported" : "No such device"}\n`);
  return ok(form === "dump" ? dump(link, "", bootEpochMs) : pretty(link, nowMs));
}
