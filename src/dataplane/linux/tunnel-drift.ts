/**
 * The drift check of Felix's tunnel state (run after drift.ts's, only in namespaces whose description has any):
 * permanent neighbours, VXLAN forwarding entries, policy rules, and each WireGuard device's listening port, mark
 * and peers as `wg show DEV dump` prints them.
 */
import type { NamespaceSpec, WireguardLinkSpec } from "../../calc/index.ts";
import { runCommand } from "./exec.ts";
import { fdbKey, neighbourKey, ruleArgs } from "./tunnel-commands.ts";
import { parseKernelFdb, parseKernelNeighbours, parseKernelRules } from "./tunnel-programmer.ts";
import { runWg } from "./wireguard-device.ts";

/** Whether a namespace has tunnel state to check. */
export function hasTunnelState(spec: NamespaceSpec): boolean {
  return (
    (spec.neighbours?.length ?? 0) > 0 ||
    (spec.fdb?.length ?? 0) > 0 ||
    (spec.rules?.length ?? 0) > 0 ||
    spec.links.some((l) => l.kind === "wireguard")
  );
}

/** The first key of `want` not in `have`, else the first of `have` not in `want`, phrased. */
function setDrift(what: string, have: string[], want: string[]): string | undefined {
  const h = new Set(have);
  const w = new Set(want);
  const missing = want.find((x) => !h.has(x));
  if (missing) return `${what} ${missing} is missing`;
  const extra = have.find((x) => !w.has(x));
  return extra ? `${what} ${extra} is not described` : undefined;
}

/** `wg show DEV dump` against the device's description (private key compared too: it is the node's identity). */
export function wireguardDrift(dump: string, device: string, w: WireguardLinkSpec): string | undefined {
  const [iface, ...peers] = dump.split("\n").filter((l) => l.trim());
  const f = (iface ?? "").split("\t");
  if (f[0] !== w.privateKey) return `${device}'s private key differs`;
  if (f[2] !== String(w.listenPort)) return `${device} listens on ${f[2]}, not ${w.listenPort}`;
  if (f[3] !== `0x${w.fwmark.toString(16)}`)
    return `${device}'s fwmark is ${f[3]}, not 0x${w.fwmark.toString(16)}`;
  const have = peers.map((l) => {
    const p = l.split("\t");
    // wg prints allowed IPs in its trie's order: compared as sets.
    return `${p[0]} endpoint ${p[2]} allowed-ips ${(p[3] ?? "").split(",").sort().join(",")}`;
  });
  const want = w.peers.map(
    (p) =>
      `${p.publicKey} endpoint ${p.endpoint} allowed-ips ${p.allowedIps.length ? [...p.allowedIps].sort().join(",") : "(none)"}`,
  );
  return setDrift(`${device} peer`, have, want);
}

/** The namespace's tunnel drift, or undefined; `socketDir` is its WireGuard socket directory. */
export async function tunnelDrift(
  netns: string,
  spec: NamespaceSpec,
  socketDir: string,
): Promise<string | undefined> {
  const wireguard = spec.links.filter((l) => l.kind === "wireguard");
  const [neigh, fdb, rules, ...dumps] = await Promise.all([
    runCommand("ip", ["-n", netns, "-4", "neigh", "show", "nud", "permanent"]),
    runCommand("bridge", ["-n", netns, "fdb", "show"]),
    runCommand("ip", ["-n", netns, "-4", "rule", "show"]),
    ...wireguard.map((l) => runWg(netns, socketDir, ["show", l.name, "dump"])),
  ]);
  if ([neigh, fdb, rules].some((r) => r!.code !== 0)) return "its tunnel state could not be read";
  const why =
    setDrift(
      "neighbour",
      parseKernelNeighbours(neigh!.stdout).map(neighbourKey),
      (spec.neighbours ?? []).map(neighbourKey),
    ) ??
    setDrift("fdb entry", parseKernelFdb(fdb!.stdout).map(fdbKey), (spec.fdb ?? []).map(fdbKey)) ??
    setDrift("rule", parseKernelRules(rules!.stdout).map(ruleArgs), (spec.rules ?? []).map(ruleArgs));
  if (why) return why;
  for (const [i, link] of wireguard.entries()) {
    const dump = dumps[i]!;
    if (dump.code !== 0) return `${link.name} does not answer (wireguard-go is not running)`;
    const w = wireguardDrift(dump.stdout, link.name, link.wireguard!);
    if (w) return w;
  }
  return undefined;
}
