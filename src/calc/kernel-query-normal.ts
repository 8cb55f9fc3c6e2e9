/**
 * The normal form a kernel reports its state in (node-dataplane-types.ts `KernelQuery`), from the tools' raw text,
 * so the sim's emulated kernel and the real one can be compared line for line. Pure: both kernels run their
 * tools and pass the output through the same function.
 */
import type { KernelQuery } from "./node-dataplane-types.ts";

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

function squeeze(line: string): string {
  return line.trim().replace(/\s+/g, " ");
}

/**
 * `ip -4 route show table all`: the kernel's own local and broadcast routes (table local) dropped, ECMP
 * `nexthop` lines joined to their route, ` table main` dropped, spaces squeezed, lines sorted.
 */
export function normaliseRoutes(text: string): string {
  const routes: string[] = [];
  for (const raw of lines(text)) {
    if (/^\s/.test(raw) && routes.length > 0) {
      routes[routes.length - 1] += ` ${squeeze(raw)}`;
      continue;
    }
    routes.push(squeeze(raw));
  }
  return routes
    .filter((r) => !/^(local|broadcast|anycast|multicast) /.test(r) && !/ table local\b/.test(r))
    .map((r) => r.replace(/ table main\b/, ""))
    .sort()
    .join("\n");
}

/**
 * `iptables-save -c`: comment lines dropped; per table (in name order) the chain declarations and the rules
 * grouped by chain, chains in name order, each chain's rules in their order.
 */
export function normaliseIptables(text: string): string {
  const tables = new Map<string, { chains: Map<string, string>; rules: Map<string, string[]> }>();
  let current: { chains: Map<string, string>; rules: Map<string, string[]> } | undefined;
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      current = { chains: new Map(), rules: new Map() };
      tables.set(line.slice(1), current);
    } else if (!current || line === "COMMIT") continue;
    else if (line.startsWith(":")) current.chains.set(line.slice(1).split(" ")[0]!, line);
    else {
      const chain = /-A (\S+)/.exec(line)?.[1] ?? "";
      const list = current.rules.get(chain) ?? [];
      list.push(line);
      current.rules.set(chain, list);
    }
  }
  const out: string[] = [];
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name)!;
    out.push(`*${name}`);
    for (const chain of [...t.chains.keys()].sort()) out.push(t.chains.get(chain)!);
    for (const chain of [...t.rules.keys()].sort()) out.push(...t.rules.get(chain)!);
    out.push("COMMIT");
  }
  return out.join("\n");
}

/**
 * `ipset save`: `create NAME TYPE` (the sizing and hashing options, which the kernel picks, dropped), then its
 * `add` lines, sets in name order and members sorted.
 */
export function normaliseIpsets(text: string): string {
  const sets = new Map<string, { create: string; members: string[] }>();
  for (const raw of lines(text)) {
    const [cmd, name, ...rest] = squeeze(raw).split(" ");
    if (!name) continue;
    const set = sets.get(name) ?? { create: `create ${name}`, members: [] };
    if (cmd === "create") set.create = `create ${name} ${rest[0] ?? ""}`.trimEnd();
    else if (cmd === "add") set.members.push(`add ${name} ${rest[0] ?? ""}`);
    sets.set(name, set);
  }
  const out: string[] = [];
  for (const name of [...sets.keys()].sort()) {
    const s = sets.get(name)!;
    out.push(s.create, ...s.members.sort());
  }
  return out.join("\n");
}

/**
 * `conntrack -L`: each entry reduced to its protocol, original and reply tuples, and `[NAT]` when the reply is
 * not the original reversed (timeouts, states, counters, marks and flags dropped); lines sorted.
 */
export function normaliseConntrack(text: string): string {
  const out: string[] = [];
  for (const raw of lines(text)) {
    const line = squeeze(raw);
    if (line.startsWith("conntrack v")) continue;
    const proto = /^(?:ipv4 \d+ )?(\w+) /.exec(line)?.[1] ?? "";
    const fields = new Map<string, string[]>();
    for (const m of line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)) {
      const list = fields.get(m[1]!) ?? [];
      list.push(m[2]!);
      fields.set(m[1]!, list);
    }
    const at = (key: string, i: number) => fields.get(key)?.[i] ?? "-";
    const tuple = (i: number) => `${at("src", i)}:${at("sport", i)}>${at("dst", i)}:${at("dport", i)}`;
    const nat =
      at("src", 0) !== at("dst", 1) ||
      at("dst", 0) !== at("src", 1) ||
      at("sport", 0) !== at("dport", 1) ||
      at("dport", 0) !== at("sport", 1);
    out.push(`${proto} ${tuple(0)} ${tuple(1)}${nat ? " [NAT]" : ""}`);
  }
  return out.sort().join("\n");
}

/** `ip -br link`: name (without `@peer`), state and MAC (the flags, which differ by driver, dropped); sorted. */
export function normaliseLinks(text: string): string {
  return lines(text)
    .map((raw) => {
      const [name = "", state = "", mac = ""] = squeeze(raw).split(" ");
      return `${name.replace(/@.*$/, "")} ${state} ${mac.startsWith("<") ? "" : mac}`.trimEnd();
    })
    .sort()
    .join("\n");
}

/** The normal form of `what` from its tool's raw output. */
export function normaliseKernelQuery(what: KernelQuery, raw: string): string {
  switch (what) {
    case "routes":
      return normaliseRoutes(raw);
    case "iptables":
      return normaliseIptables(raw);
    case "ipsets":
      return normaliseIpsets(raw);
    case "conntrack":
      return normaliseConntrack(raw);
    case "links":
      return normaliseLinks(raw);
    case "rules":
    case "neighbours":
      return sortedLines(raw);
    case "fdb":
      return normaliseFdb(raw);
    case "wireguard":
      return normaliseWireguard(raw);
  }
}

/** Lines squeezed and sorted (`ip rule`, `ip neigh show nud permanent`). */
function sortedLines(raw: string): string {
  return lines(raw).map(squeeze).sort().join("\n");
}

/** `bridge fdb show`: only VXLAN entries (those with a `dst`); the kernel's multicast entries are not Felix's. */
export function normaliseFdb(raw: string): string {
  return lines(raw)
    .map(squeeze)
    .filter((l) => / dst /.test(l))
    .sort()
    .join("\n");
}

/**
 * `wg show all dump`: the interface line's private key (its 3rd field) replaced with `(hidden)`, as `wg show` prints
 * it; peer lines' handshake and transfer counters (fields 6–8) zeroed, since they depend on traffic timing.
 */
export function normaliseWireguard(raw: string): string {
  return lines(raw)
    .map((l) => {
      const f = l.split("\t");
      if (f.length === 5) f[1] = "(hidden)";
      else if (f.length === 9) {
        f[5] = "0";
        f[6] = "0";
        f[7] = "0";
      }
      return f.join("\t");
    })
    .sort()
    .join("\n");
}

/** The command each query's raw text comes from (run in the target's namespace). */
export const KERNEL_QUERY_COMMANDS: Record<KernelQuery, string[]> = {
  routes: ["ip", "-4", "route", "show", "table", "all"],
  iptables: ["iptables-save", "-c"],
  ipsets: ["ipset", "save"],
  conntrack: ["conntrack", "-L"],
  links: ["ip", "-br", "link"],
  rules: ["ip", "-4", "rule", "show"],
  neighbours: ["ip", "-4", "neigh", "show", "nud", "permanent"],
  fdb: ["bridge", "fdb", "show"],
  wireguard: ["wg", "show", "all", "dump"],
};
