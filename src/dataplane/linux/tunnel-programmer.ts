/**
 * Felix's tunnel state on the real kernel, in two passes the dataplane runs around the address-and-route pass:
 * the tunnel devices (after the uplinks they ride on exist, before the routes through them), then the permanent
 * neighbour and forwarding entries and the policy routing rules (once the devices are up). Like the other passes,
 * a namespace is created (nothing to remove), incremental (the difference from `previous`) or reconciled (the
 * kernel's entries read and aligned to the description).
 */
import type { FdbSpec, LinkSpec, NeighbourSpec, RuleSpec } from "../../calc/index.ts";
import { mustRun, runCommand } from "./exec.ts";
import type { NamespacePlan } from "./namespace-programmer.ts";
import {
  fdbDelLine,
  fdbKey,
  fdbReplaceLine,
  neighbourDelLine,
  neighbourKey,
  neighbourReplaceLine,
  parseKernelRule,
  ruleArgs,
  vxlanAddLine,
} from "./tunnel-commands.ts";

export const TUNNEL_KINDS = new Set<LinkSpec["kind"]>(["vxlan", "ipip", "wireguard"]);

export function isTunnel(link: LinkSpec): boolean {
  return TUNNEL_KINDS.has(link.kind);
}

/** Starts (or finds running) the WireGuard device of a host namespace and gives it the link's configuration. */
export type WireguardProgrammer = (plan: NamespacePlan, link: LinkSpec) => Promise<void>;

/** The tunnel links of `plan` that this apply must make or configure. */
function tunnelLinksToProgram(plan: NamespacePlan): LinkSpec[] {
  const tunnels = plan.spec.links.filter(isTunnel);
  if (!plan.previous) return tunnels;
  const before = new Map(plan.previous.links.map((l) => [l.name, JSON.stringify(l)]));
  return tunnels.filter((l) => before.get(l.name) !== JSON.stringify(l));
}

/**
 * Removes what `programLinks` must leave alone: a WireGuard link whose settings changed keeps its device (and
 * wireguard-go): `wg syncconf` changes its peers in place.
 */
export function keptOnChange(removed: LinkSpec, next: LinkSpec[]): boolean {
  return removed.kind === "wireguard" && next.some((l) => l.name === removed.name && l.kind === "wireguard");
}

/** Pass 1b: VXLAN devices on their uplinks, IPIP's tunl0, WireGuard devices (through `wireguard`). */
export async function programTunnelLinks(
  plans: NamespacePlan[],
  wireguard: WireguardProgrammer,
): Promise<void> {
  for (const plan of plans) {
    const links = tunnelLinksToProgram(plan);
    if (!links.length) continue;
    const existing = plan.created ? new Set<string>() : await linkNames(plan.netns);
    for (const link of links) {
      if (link.kind === "wireguard") {
        await wireguard(plan, link);
        continue;
      }
      if (link.kind === "ipip") {
        // tunl0 comes with the ipip module in every namespace; add it where the module has not made it yet.
        if (!existing.has(link.name)) await ipLines(plan.netns, [`link add name ${link.name} type ipip`]);
        continue;
      }
      // A reconciled VXLAN device may carry other settings than the description's: made again (its entries and
      // routes are re-added by the passes after this one).
      await ipLines(plan.netns, [
        ...(existing.has(link.name) ? [`link del ${link.name}`] : []),
        vxlanAddLine(link),
      ]);
    }
  }
}

async function linkNames(netns: string): Promise<Set<string>> {
  const out = await mustRun(netns, "ip", ["-n", netns, "-o", "link", "show"]);
  return new Set([...out.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]!));
}

async function ipLines(netns: string, lines: string[], force = false): Promise<void> {
  if (!lines.length) return;
  const args = ["-n", netns, ...(force ? ["-force"] : []), "-batch", "-"];
  if (force) await runCommand("ip", args, { input: `${lines.join("\n")}\n` });
  else await mustRun(netns, "ip", args, { input: `${lines.join("\n")}\n` });
}

async function bridgeLines(netns: string, lines: string[], force = false): Promise<void> {
  if (!lines.length) return;
  const args = ["-n", netns, ...(force ? ["-force"] : []), "-batch", "-"];
  if (force) await runCommand("bridge", args, { input: `${lines.join("\n")}\n` });
  else await mustRun(netns, "bridge", args, { input: `${lines.join("\n")}\n` });
}

/** `ip -4 neigh show nud permanent` lines as specs. */
export function parseKernelNeighbours(text: string): NeighbourSpec[] {
  const out: NeighbourSpec[] = [];
  for (const m of text.matchAll(/^(\S+) dev (\S+) lladdr (\S+)/gm))
    out.push({ ip: m[1]!, dev: m[2]!, mac: m[3]! });
  return out;
}

/** `bridge fdb show` lines with a remote (`dst`) as specs: the VXLAN entries. */
export function parseKernelFdb(text: string): FdbSpec[] {
  const out: FdbSpec[] = [];
  for (const m of text.matchAll(/^(\S+) dev (\S+) dst (\S+)/gm))
    out.push({ mac: m[1]!, dev: m[2]!, dst: m[3]! });
  return out;
}

export function parseKernelRules(text: string): RuleSpec[] {
  return text
    .split("\n")
    .map(parseKernelRule)
    .filter((r): r is RuleSpec => r !== undefined);
}

/** Entries of `have` to delete and of `want` to add, by key; those on re-made devices are added again. */
function delta<T extends object>(
  have: T[],
  want: T[],
  key: (x: T) => string,
  remade: Set<string>,
): { del: T[]; add: T[] } {
  const haveKeys = new Set(have.map(key));
  const wantKeys = new Set(want.map(key));
  const onRemade = (x: T) => "dev" in x && typeof x.dev === "string" && remade.has(x.dev);
  return {
    del: have.filter((x) => !wantKeys.has(key(x)) && !onRemade(x)),
    add: want.filter((x) => !haveKeys.has(key(x)) || onRemade(x)),
  };
}

/** Pass 2b: permanent neighbours, VXLAN forwarding entries and policy rules. */
export async function programForwarding(plans: NamespacePlan[]): Promise<void> {
  for (const plan of plans) {
    const { spec, netns } = plan;
    const prev = plan.previous;
    const want = { neighbours: spec.neighbours ?? [], fdb: spec.fdb ?? [], rules: spec.rules ?? [] };
    const remade = new Set(tunnelLinksToProgram(plan).map((l) => l.name));
    let have: typeof want;
    if (plan.created) have = { neighbours: [], fdb: [], rules: [] };
    else if (prev) {
      have = { neighbours: prev.neighbours ?? [], fdb: prev.fdb ?? [], rules: prev.rules ?? [] };
      if (!remade.size && JSON.stringify(have) === JSON.stringify(want)) continue;
    } else {
      const [neigh, fdb, rules] = await Promise.all([
        mustRun(netns, "ip", ["-n", netns, "-4", "neigh", "show", "nud", "permanent"]),
        mustRun(netns, "bridge", ["-n", netns, "fdb", "show"]),
        mustRun(netns, "ip", ["-n", netns, "-4", "rule", "show"]),
      ]);
      have = {
        neighbours: parseKernelNeighbours(neigh),
        fdb: parseKernelFdb(fdb),
        rules: parseKernelRules(rules),
      };
    }
    const n = delta(have.neighbours, want.neighbours, neighbourKey, remade);
    const f = delta(have.fdb, want.fdb, fdbKey, remade);
    const r = delta(have.rules, want.rules, ruleArgs, new Set());
    // Deletions may find the entry gone with its device; additions must all succeed.
    await ipLines(
      netns,
      [...n.del.map(neighbourDelLine), ...r.del.map((x) => `rule del ${ruleArgs(x)}`)],
      true,
    );
    await bridgeLines(netns, f.del.map(fdbDelLine), true);
    await ipLines(netns, [
      ...n.add.map(neighbourReplaceLine),
      ...r.add.map((x) => `rule add ${ruleArgs(x)}`),
    ]);
    await bridgeLines(netns, f.add.map(fdbReplaceLine));
  }
}
