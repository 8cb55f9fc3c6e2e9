/**
 * The kernel commands for Felix's tunnel state, as Felix issues them: the VXLAN device, its permanent neighbour
 * and forwarding entries, policy routing rules and WireGuard's configuration (`wg syncconf` text). Pure: the
 * programmer decides what changed and runs them.
 */
import type { FdbSpec, LinkSpec, NeighbourSpec, RuleSpec, WireguardLinkSpec } from "../../calc/index.ts";

/** `ip link add` for a VXLAN device (its MAC, MTU and state are set with the other links'). */
export function vxlanAddLine(link: LinkSpec): string {
  const v = link.vxlan;
  if (!v) throw new Error(`link ${link.name}: kind vxlan without vxlan settings`);
  return `link add ${link.name} type vxlan id ${v.vni} local ${v.local} dev ${v.parent} dstport ${v.port} nolearning`;
}

export function neighbourKey(n: NeighbourSpec): string {
  return `${n.ip} dev ${n.dev} lladdr ${n.mac.toLowerCase()}`;
}

export function neighbourReplaceLine(n: NeighbourSpec): string {
  return `neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`;
}

export function neighbourDelLine(n: NeighbourSpec): string {
  return `neigh del ${n.ip} dev ${n.dev}`;
}

export function fdbKey(f: FdbSpec): string {
  return `${f.mac.toLowerCase()} dev ${f.dev} dst ${f.dst}`;
}

/** `bridge -batch` lines. */
export function fdbReplaceLine(f: FdbSpec): string {
  return `fdb replace ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`;
}

export function fdbDelLine(f: FdbSpec): string {
  return `fdb del ${f.mac} dev ${f.dev} dst ${f.dst} self`;
}

/** A rule's selector and action as `ip rule` takes (and, with `priority`, prints) them. */
export function ruleArgs(r: RuleSpec): string {
  const mark = r.fwmark
    ? `${r.fwmark.not ? "not " : ""}fwmark 0x${r.fwmark.value.toString(16)}/0x${r.fwmark.mask.toString(16)} `
    : "";
  return `${mark}lookup ${r.table} priority ${r.priority}`;
}

/** The three rules every namespace starts with: never tortie's to remove. */
export const DEFAULT_RULE_PRIORITIES = new Set([0, 32766, 32767]);

/**
 * A rule as `ip -4 rule show` prints it (`99:\tnot from all fwmark 0x100000/0x100000 lookup 1`), as `ruleArgs`
 * spells it; undefined for the kernel's defaults and for rules tortie never makes.
 */
export function parseKernelRule(line: string): RuleSpec | undefined {
  const m = /^(\d+):\s+(not )?from all (?:fwmark (0x[0-9a-f]+)(?:\/(0x[0-9a-f]+))? )?lookup (\S+)\s*$/.exec(
    line.trim(),
  );
  if (!m) return undefined;
  const priority = Number(m[1]);
  if (DEFAULT_RULE_PRIORITIES.has(priority)) return undefined;
  const table = m[5] === "main" ? 254 : m[5] === "default" ? 253 : m[5] === "local" ? 255 : Number(m[5]);
  if (!Number.isInteger(table)) return undefined;
  const rule: RuleSpec = { priority, table };
  if (m[3])
    rule.fwmark = {
      value: Number(m[3]),
      mask: m[4] ? Number(m[4]) : 0xffffffff,
      ...(m[2] ? { not: true } : {}),
    };
  return rule;
}

/**
 * The device's whole configuration in `wg setconf`/`wg syncconf` form: `syncconf` changes only what differs
 * (peers added, removed or changed) and keeps the live sessions of the others.
 */
export function wireguardConfText(w: WireguardLinkSpec): string {
  const out = [
    "[Interface]",
    `PrivateKey = ${w.privateKey}`,
    `ListenPort = ${w.listenPort}`,
    `FwMark = 0x${w.fwmark.toString(16)}`,
  ];
  for (const p of w.peers) {
    out.push("", "[Peer]", `PublicKey = ${p.publicKey}`, `Endpoint = ${p.endpoint}`);
    if (p.allowedIps.length) out.push(`AllowedIPs = ${p.allowedIps.join(", ")}`);
  }
  return `${out.join("\n")}\n`;
}
