/**
 * The cheap drift check run before each command, all namespaces at once, at most two processes per namespace:
 * one `ip -batch` (links, addresses, tortie's routes) and, where the description has rules, sysctls, ipsets or
 * nft, one `sh` entered into the namespace that prints `iptables-save` (compared in the kernel's canonical form),
 * the sysctls (read from /proc/sys with the shell's builtin `read`: no process per key), `ipset save` and
 * `nft -s list table` (each only where the description has them).
 * kube-proxy's nft tables (nftables mode) are listed in the same process and compared by digest with the listing
 * recorded when tortie loaded them (`nft-digest.ts`).
 */
import { foldIptablesPayloads, type NamespaceSpec } from "../../calc/index.ts";
import { runCommand } from "./exec.ts";
import { alignIpsetsToWanted, ipsetDelta } from "./ipset-delta.ts";
import { canonicalChainsDiffer } from "./iptables-canonical.ts";
import { kernelRouteKey, OWNED_ROUTE_PROTOS, specRouteKey } from "./namespace-programmer.ts";
import { nftDigest, nftListArgs } from "./nft-digest.ts";

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

/** Routes tortie owns (OWNED_ROUTE_PROTOS, any table): the same set as the description's non-kernel routes. */
export function routeDrift(ipRoute: string, spec: NamespaceSpec): string | undefined {
  const kernel = new Set<string>();
  for (const line of ipRoute.split("\n")) {
    if (!line.trim() || /^\s/.test(line)) continue;
    const k = kernelRouteKey(line);
    if (k && OWNED_ROUTE_PROTOS.has(k.proto)) kernel.add(k.key);
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

/** The description's addresses, each on its device (addresses it does not have are not tortie's to remove). */
export function addressDrift(ipOAddress: string, spec: NamespaceSpec): string | undefined {
  const kernel = new Set<string>();
  for (const line of ipOAddress.split("\n")) {
    const m = /^\d+: ([^:@\s]+)\s+inet (\S+)/.exec(line);
    if (m) kernel.add(`${m[2]} dev ${m[1]}`);
  }
  for (const a of spec.addresses)
    if (!kernel.has(`${a.cidr} dev ${a.dev}`)) return `address ${a.cidr} dev ${a.dev} is missing`;
  return undefined;
}

/** A sysctl key's file: dots separate the levels, a slash stands for a dot in a name (`eth0/100` is `eth0.100`). */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key
    .split(".")
    .map((p) => p.replace(/\//g, "."))
    .join("/")}`;
}

const MISSING = "::missing::";

/** The values read (one line per key, in the description's order; MISSING for a key the kernel has not). */
export function sysctlDrift(values: string, spec: NamespaceSpec): string | undefined {
  const lines = values.split("\n");
  const squeeze = (v: string) => v.trim().replace(/\s+/g, " ");
  const entries = Object.entries(spec.sysctls);
  for (let i = 0; i < entries.length; i++) {
    const [key, value] = entries[i]!;
    const got = lines[i];
    if (got === undefined || got === MISSING) return `sysctl ${key} is missing`;
    if (squeeze(got) !== squeeze(value)) return `sysctl ${key} is ${squeeze(got)}, not ${value}`;
  }
  return undefined;
}

/** The description's ipsets against `ipset save`: what a full pass would change (members included). */
export function ipsetDrift(save: string, spec: NamespaceSpec): string | undefined {
  const delta = ipsetDelta(alignIpsetsToWanted(save, spec.ipsets), spec.ipsets);
  const first = (delta.before || delta.after).split("\n")[0];
  return first ? `ipsets differ: ${first}` : undefined;
}

/** Section markers in the state script's output (no line iptables-save or ipset save prints starts with `::`). */
const SYSCTLS = "::tortie-sysctls::";
const IPSETS = "::tortie-ipsets::";
const NFT = "::tortie-nft::";

/**
 * The `sh` script printing the namespace's iptables rules, sysctls (paths as its arguments) and ipsets: one
 * process entered into the namespace instead of one per tool (measured: iptables-save alone 10 ms, with the
 * sysctls 13 ms, with `ipset save` too 17 ms; three processes in parallel 32 ms on 2 cores). dash's `read` exits
 * 1 on /proc/sys files although it reads the value, so a key is tested for existence first.
 */
export function stateScript(rules: boolean, sets: boolean, nft = ""): string {
  return [
    rules ? "iptables-save || exit 1" : "",
    `echo '${SYSCTLS}'`,
    `for f; do if [ -r "$f" ]; then v=; read -r v < "$f"; printf '%s\\n' "$v"; else echo '${MISSING}'; fi; done`,
    `echo '${IPSETS}'`,
    sets ? "ipset save || exit 1" : "",
    `echo '${NFT}'`,
    // Table names match [A-Za-z0-9_-] (nftTables): safe in the script as they are.
    ...nftListArgs(nft).map((args) => `nft ${args.join(" ")} || exit 1`),
  ]
    .filter(Boolean)
    .join("\n");
}

/** The script's output split into its sections. */
export function splitState(out: string): { iptables: string; sysctls: string; ipsets: string; nft: string } {
  const s = out.indexOf(`${SYSCTLS}\n`);
  const i = out.indexOf(`${IPSETS}\n`);
  const n = out.indexOf(`${NFT}\n`);
  if (s < 0 || i < s || n < i) throw new Error("the namespace's state could not be read");
  return {
    iptables: out.slice(0, s),
    sysctls: out.slice(s + SYSCTLS.length + 1, i),
    ipsets: out.slice(i + IPSETS.length + 1, n),
    nft: out.slice(n + NFT.length + 1),
  };
}

/** kube-proxy's nft tables against the digest recorded when they were loaded. */
export function nftDrift(
  listing: string,
  recorded: string | undefined,
  spec: NamespaceSpec,
): string | undefined {
  const tables = nftListArgs(spec.nft)
    .map((a) => a.slice(3).join(" "))
    .join(", ");
  if (!recorded) return `nft table ${tables} was loaded by an older tortie (no digest recorded)`;
  return nftDigest(listing) === recorded ? undefined : `nft table ${tables} differs`;
}

const NOTHING = { code: 0, stdout: "", stderr: "" };

/** The namespace's drift, or undefined when it matches; a command that fails counts as drift. */
export async function namespaceDrift(
  netns: string,
  spec: NamespaceSpec,
  peers: Map<string, string>,
  recordedNft?: string,
): Promise<NamespaceDrift | undefined> {
  const hasRules = spec.iptables.some((p) => p.trim());
  const hasSets = spec.ipsets.trim() !== "";
  const hasNft = spec.nft.trim() !== "";
  const sysctlKeys = Object.keys(spec.sysctls);
  const needsState = hasRules || hasSets || hasNft || sysctlKeys.length > 0;
  const [ip, state] = await Promise.all([
    runCommand("ip", ["-n", netns, "-o", "-d", "-4", "-batch", "-"], {
      input: "link show\naddress show\nroute show table all\n",
    }),
    needsState
      ? runCommand("nsenter", [
          `--net=/run/netns/${netns}`,
          "--",
          "sh",
          "-c",
          stateScript(hasRules, hasSets, spec.nft),
          "-",
          ...sysctlKeys.map(sysctlPath),
        ])
      : Promise.resolve(NOTHING),
  ]);
  const drift = (why: string): NamespaceDrift => ({ namespace: spec.name, netns, why });
  if (ip.code !== 0 || state.code !== 0) return drift("its state could not be read");
  // Link and address lines start with their index (an address line names `inet`); the rest are routes.
  const lines = ip.stdout.split("\n");
  const indexed = lines.filter((l) => /^\d+: /.test(l));
  const addresses = indexed.filter((l) => /^\d+: \S+\s+inet /.test(l)).join("\n");
  const links = indexed.filter((l) => !/^\d+: \S+\s+inet /.test(l)).join("\n");
  const routes = lines.filter((l) => l.trim() && !/^\d+: /.test(l)).join("\n");
  const why = linkDrift(links, spec, peers) ?? addressDrift(addresses, spec) ?? routeDrift(routes, spec);
  if (why || !needsState) return why ? drift(why) : undefined;
  try {
    const read = splitState(state.stdout);
    const other =
      sysctlDrift(read.sysctls, spec) ??
      (hasSets ? ipsetDrift(read.ipsets, spec) : undefined) ??
      (hasNft ? nftDrift(read.nft, recordedNft, spec) : undefined) ??
      (hasRules ? iptablesDrift(read.iptables, spec) : undefined);
    return other ? drift(other) : undefined;
  } catch (e) {
    return drift((e as Error).message);
  }
}
