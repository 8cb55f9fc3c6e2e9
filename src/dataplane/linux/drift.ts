/**
 * The cheap drift check run before each command: per namespace, its links and tortie's routes (proto boot/static)
 * from one `ip -batch`, and its iptables chains (`iptables-save`, compared in the kernel's canonical form; only
 * where the description loads rules) against the description; all namespaces at once. Addresses, sysctls,
 * ipsets and nft are not checked here (a full reconcile after a crash covers them).
 */
import { foldIptablesPayloads, type NamespaceSpec } from "../../calc/index.ts";
import { runCommand } from "./exec.ts";
import { canonicalChainsDiffer } from "./iptables-canonical.ts";
import { kernelRouteKey, specRouteKey } from "./namespace-programmer.ts";

export interface NamespaceDrift {
  /** The cluster's name for the namespace (a host's name or `NS/POD`). */
  namespace: string;
  netns: string;
  /** What differs, first thing found. */
  why: string;
}

/**
 * Links: every described one present, up, with its MAC, its peer in the namespace `peers` names for it (a peer
 * left in a namespace deleted by hand shows as a number there); no veth the description does not have.
 */
export function linkDrift(
  ipOdLink: string,
  spec: NamespaceSpec,
  peers: Map<string, string> = new Map(),
): string | undefined {
  const kernel = new Map<string, { up: boolean; mac: string; veth: boolean; peerNetns?: string }>();
  for (const line of ipOdLink.split("\n")) {
    const m = /^\d+: ([^:@\s]+)[^<]*<([^>]*)>/.exec(line);
    if (!m) continue;
    kernel.set(m[1]!, {
      up: m[2]!.split(",").includes("UP"),
      mac: /link\/ether (\S+)/.exec(line)?.[1] ?? "",
      veth: /\sveth\s/.test(line),
      peerNetns: /link-netns(?:id)? (\S+)/.exec(line)?.[1],
    });
  }
  for (const l of spec.links) {
    const k = kernel.get(l.name);
    if (!k) return `link ${l.name} is missing`;
    if (!k.up) return `link ${l.name} is down`;
    if (k.mac.toLowerCase() !== l.mac.toLowerCase()) return `link ${l.name} has MAC ${k.mac}, not ${l.mac}`;
    const peer = peers.get(l.name);
    if (peer && k.peerNetns !== peer) return `link ${l.name}'s peer is not in ${peer}`;
  }
  const wanted = new Set(spec.links.map((l) => l.name));
  for (const [name, k] of kernel) if (k.veth && !wanted.has(name)) return `veth ${name} is not described`;
  return undefined;
}

/** Routes tortie owns (proto boot/static, main table): the same set as the description's non-kernel routes. */
export function routeDrift(ipRoute: string, spec: NamespaceSpec): string | undefined {
  const kernel = new Set<string>();
  for (const line of ipRoute.split("\n")) {
    if (!line.trim() || /^\s/.test(line)) continue;
    const k = kernelRouteKey(line);
    if (k && (k.proto === "boot" || k.proto === "static")) kernel.add(k.key);
  }
  const wanted = new Set(spec.routes.filter((r) => r.proto !== "kernel").map(specRouteKey));
  for (const w of wanted) if (!kernel.has(w)) return `route ${w} is missing`;
  for (const k of kernel) if (!wanted.has(k)) return `route ${k} is not described`;
  return undefined;
}

export function iptablesDrift(save: string, spec: NamespaceSpec): string | undefined {
  const differ = canonicalChainsDiffer(foldIptablesPayloads([save]), foldIptablesPayloads(spec.iptables));
  return differ.length
    ? `iptables chain${differ.length === 1 ? "" : "s"} ${differ.slice(0, 3).join(", ")}${differ.length > 3 ? ", …" : ""} differ`
    : undefined;
}

/** The namespace's drift, or undefined when it matches; a command that fails counts as drift. */
export async function namespaceDrift(
  netns: string,
  spec: NamespaceSpec,
  peers: Map<string, string>,
): Promise<NamespaceDrift | undefined> {
  const hasRules = spec.iptables.some((p) => p.trim());
  const [ip, save] = await Promise.all([
    runCommand("ip", ["-n", netns, "-o", "-d", "-4", "-batch", "-"], {
      input: "link show\nroute show table main\n",
    }),
    hasRules
      ? runCommand("nsenter", [`--net=/run/netns/${netns}`, "--", "iptables-save"])
      : Promise.resolve({ code: 0, stdout: "", stderr: "" }),
  ]);
  const drift = (why: string): NamespaceDrift => ({ namespace: spec.name, netns, why });
  if (ip.code !== 0 || save.code !== 0) return drift("its state could not be read");
  // Link lines start with their index; the rest are routes.
  const lines = ip.stdout.split("\n");
  const links = lines.filter((l) => /^\d+: /.test(l)).join("\n");
  const routes = lines.filter((l) => l.trim() && !/^\d+: /.test(l)).join("\n");
  const why = linkDrift(links, spec, peers) ?? routeDrift(routes, spec);
  if (why || !hasRules) return why ? drift(why) : undefined;
  try {
    const ipt = iptablesDrift(save.stdout, spec);
    return ipt ? drift(ipt) : undefined;
  } catch (e) {
    return drift(`iptables: ${(e as Error).message}`);
  }
}
