/**
 * `tortie verify`'s comparisons: pure functions from the two kernels' raw outputs (the sim's and the real one's)
 * to the divergences between them. Nothing here runs a command; verify.ts collects the texts.
 */

/** One difference between the sim and the real kernel, and where it is. */
export interface Divergence {
  /** A host, `NS/POD`, or a probe's origin. */
  where: string;
  /** What differs there: `route 10.0.0.0/24`, `iptables filter cali-tw-cali1 rule 3`, `probe http://…`. */
  what: string;
  sim: string;
  linux: string;
}

/** The divergences found and how many things were compared. */
export interface Comparison {
  checks: number;
  divergences: Divergence[];
  /** How many checks were left out on purpose (see the callers' legend). */
  excluded: number;
}

export function emptyComparison(): Comparison {
  return { checks: 0, divergences: [], excluded: 0 };
}

export function mergeComparison(into: Comparison, more: Comparison): Comparison {
  into.checks += more.checks;
  into.excluded += more.excluded;
  into.divergences.push(...more.divergences);
  return into;
}

const NONE = "(none)";

// ---------------------------------------------------------------------------------------------------------------
// Probes

/** What a probe saw: an HTTP status, or how the connection (or the lookup) failed; a lookup's address. */
export type ProbeOutcome =
  | { kind: "http"; status: number }
  | { kind: "address"; ip: string }
  | { kind: "refused" | "timeout" | "unresolved" | "empty reply" | "reset" | "error"; detail?: string };

export function outcomeText(o: ProbeOutcome): string {
  if (o.kind === "http") return `http ${o.status}`;
  if (o.kind === "address") return `address ${o.ip}`;
  return o.detail ? `${o.kind} (${o.detail})` : o.kind;
}

/**
 * Real curl's result (`curl -s -o /dev/null -w '%{http_code}' …`): its exit code says how the connection ended
 * (curl's documented codes), stdout the HTTP status.
 */
export function curlOutcome(code: number, stdout: string): ProbeOutcome {
  switch (code) {
    case 0:
      return { kind: "http", status: Number(stdout.trim()) || 0 };
    case 6:
      return { kind: "unresolved" };
    case 7:
      return { kind: "refused" };
    case 28:
      return { kind: "timeout" };
    case 52:
      return { kind: "empty reply" };
    case 56:
      return { kind: "reset" };
    default:
      return { kind: "error", detail: `curl exit ${code}` };
  }
}

/** The sim's `SimCluster.fetch` result in the same terms (the sim's curl maps its errors to these exit codes). */
export function simFetchOutcome(
  r: { ok: true; status: number } | { ok: false; error: string },
  connectTimeoutMs: number,
  elapsedMs: number,
): ProbeOutcome {
  if (r.ok) return { kind: "http", status: r.status };
  switch (r.error) {
    case "not-found":
      return { kind: "unresolved" };
    case "resolve-timeout":
      // As the sim's curl: the lookup counts against --connect-timeout (28); getaddrinfo giving up first is (6).
      return elapsedMs >= connectTimeoutMs ? { kind: "timeout" } : { kind: "unresolved" };
    case "timeout":
      return { kind: "timeout" };
    case "refused":
    case "host-unreachable":
    case "network-unreachable":
      return { kind: "refused" };
    case "reset":
      return { kind: "reset" };
    case "empty-reply":
      return { kind: "empty reply" };
    default:
      return { kind: "empty reply" };
  }
}

/** A probe's two outcomes compared. */
export function compareProbe(
  where: string,
  what: string,
  sim: ProbeOutcome,
  linux: ProbeOutcome,
): Comparison {
  const s = outcomeText(sim);
  const l = outcomeText(linux);
  return { checks: 1, excluded: 0, divergences: s === l ? [] : [{ where, what, sim: s, linux: l }] };
}

// ---------------------------------------------------------------------------------------------------------------
// Routes (`ip -4 route show table all`, normalised)

/** Route lines keyed by table and destination; a multipath route's `nexthop` lines are folded into it. */
export function routesByDestination(text: string): Map<string, string[]> {
  const lines: string[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    if (/^\s/.test(raw) && lines.length) lines[lines.length - 1] += ` ${raw.trim()}`;
    else lines.push(raw.trim().replace(/\s+/g, " "));
  }
  const out = new Map<string, string[]>();
  for (const line of lines) {
    const words = line.split(" ");
    const typed = /^(unicast|local|broadcast|multicast|blackhole|unreachable|prohibit|throw|anycast)$/.test(
      words[0] ?? "",
    );
    const dst = (typed ? words[1] : words[0]) ?? "";
    const table = /(?:^| )table (\S+)/.exec(line)?.[1] ?? "main";
    const key = table === "main" ? dst : `${dst} table ${table}`;
    const list = out.get(key) ?? [];
    list.push(line);
    out.set(key, list);
  }
  for (const list of out.values()) list.sort();
  return out;
}

/** Every destination whose routes differ, one divergence each. */
export function compareRoutes(where: string, simText: string, linuxText: string): Comparison {
  const sim = routesByDestination(simText);
  const linux = routesByDestination(linuxText);
  return compareKeyed(where, "route", sim, linux);
}

function compareKeyed(
  where: string,
  label: string,
  sim: Map<string, string[]>,
  linux: Map<string, string[]>,
): Comparison {
  const c = emptyComparison();
  const keys = [...new Set([...sim.keys(), ...linux.keys()])].sort(byAddress);
  for (const key of keys) {
    c.checks++;
    const s = (sim.get(key) ?? []).join(" | ") || NONE;
    const l = (linux.get(key) ?? []).join(" | ") || NONE;
    if (s !== l) c.divergences.push({ where, what: `${label} ${key}`, sim: s, linux: l });
  }
  return c;
}

/** Orders `A.B.C.D/LEN …` keys by address, then length; anything else after, by text. */
function byAddress(a: string, b: string): number {
  const num = (k: string) => {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?/.exec(k);
    return m ? (((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) >>> 0) * 64 + +(m[5] ?? 32) : -1;
  };
  const x = num(a);
  const y = num(b);
  if (x !== y) return x < 0 ? 1 : y < 0 ? -1 : x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// BIRD's routes (`birdc show route`, BIRD 1.6's and BIRD 2's formats)

/**
 * `birdc show route` as prefix → the sorted next hops of every route BIRD has for it (`via A on DEV`,
 * `dev DEV`, `blackhole`, …). Protocol names, times, preferences and the best-route mark are left out: they are
 * not routing (the kernel's routes, compared separately, show what BIRD chose).
 */
export function parseBirdRoutes(text: string): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  let prefix = "";
  const add = (hop: string) => {
    if (!prefix) return;
    const set = out.get(prefix) ?? new Set<string>();
    set.add(hop);
    out.set(prefix, set);
  };
  for (const raw of text.split("\n")) {
    if (!raw.trim() || /^BIRD |^Table |^\d{4} /.test(raw)) continue;
    const m = /^(\d+\.\d+\.\d+\.\d+\/\d+)\s+(.*)$/.exec(raw);
    const rest = m ? m[2]! : raw.trim();
    if (m) prefix = m[1]!;
    // BIRD 2: the route line says its kind; its next hops follow on tab-indented lines.
    if (/^unicast\b/.test(rest)) continue;
    const hop = /^(?:via (\S+) on (\S+)|dev (\S+)|(blackhole|unreachable|prohibited|prohibit))/.exec(rest);
    if (hop) {
      if (hop[1]) add(`via ${hop[1]} on ${hop[2]}`);
      else if (hop[3]) add(`dev ${hop[3]}`);
      else add(hop[4] === "prohibited" ? "prohibit" : hop[4]!);
    }
    // BIRD 1.6's multipath: `multipath [proto …]` then `\tvia A on DEV weight W` lines (handled above).
  }
  const sorted = new Map<string, string[]>();
  for (const [p, hops] of out) sorted.set(p, [...hops].sort());
  return sorted;
}

export function compareBirdRoutes(where: string, simText: string, linuxText: string): Comparison {
  return compareKeyed(where, "BIRD route", parseBirdRoutes(simText), parseBirdRoutes(linuxText));
}

/** `birdc show protocols`: the BGP protocols and whether each is Established. */
export function birdSessions(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split("\n")) {
    const w = line.trim().split(/\s+/);
    if (w[1] !== "BGP") continue;
    out.set(w[0]!, /\bEstablished\b/.test(line));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// iptables (`iptables-save -c`)

/** One rule (or a builtin chain's policy, `rule` 0) with its packet counter. */
export interface SavedRule {
  table: string;
  chain: string;
  /** 1-based position in the chain; 0 for the policy. */
  index: number;
  /** The rule as `-A CHAIN …` without counters, or `policy ACCEPT`. */
  text: string;
  packets: number;
}

/** Parses `iptables-save [-c]` output (comment lines and COMMIT skipped; counters 0 when absent). */
export function parseIptablesSave(text: string): SavedRule[] {
  const rules: SavedRule[] = [];
  const position = new Map<string, number>();
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line === "COMMIT") continue;
    if (line.startsWith("*")) {
      table = line.slice(1);
      continue;
    }
    const policy = /^:(\S+) (\S+)(?: \[(\d+):(\d+)\])?/.exec(line);
    if (policy) {
      if (policy[2] !== "-")
        rules.push({
          table,
          chain: policy[1]!,
          index: 0,
          text: `policy ${policy[2]}`,
          packets: +(policy[3] ?? 0),
        });
      continue;
    }
    const rule = /^(?:\[(\d+):(\d+)\] )?(-A (\S+).*)$/.exec(line);
    if (!rule) continue;
    const chain = rule[4]!;
    const key = `${table}/${chain}`;
    const index = (position.get(key) ?? 0) + 1;
    position.set(key, index);
    rules.push({ table, chain, index, text: rule[3]!, packets: +(rule[1] ?? 0) });
  }
  return rules;
}

function chainsOf(rules: SavedRule[]): Map<string, SavedRule[]> {
  const out = new Map<string, SavedRule[]>();
  for (const r of rules) {
    const key = `${r.table} ${r.chain}`;
    const list = out.get(key) ?? [];
    list.push(r);
    out.set(key, list);
  }
  return out;
}

/**
 * The rule sets compared chain by chain, position by position: each rule that differs is one divergence named
 * by table, chain and rule number; a chain only one side has is one divergence.
 */
export function compareRuleSets(where: string, simText: string, linuxText: string): Comparison {
  const c = emptyComparison();
  const sim = chainsOf(parseIptablesSave(simText));
  const linux = chainsOf(parseIptablesSave(linuxText));
  for (const key of [...new Set([...sim.keys(), ...linux.keys()])].sort()) {
    const s = sim.get(key);
    const l = linux.get(key);
    c.checks++;
    if (!s || !l) {
      c.divergences.push({
        where,
        what: `iptables ${key}`,
        sim: s ? `chain with ${s.filter((r) => r.index).length} rules` : "no chain",
        linux: l ? `chain with ${l.filter((r) => r.index).length} rules` : "no chain",
      });
      continue;
    }
    const n = Math.max(s.length, l.length);
    for (let i = 0; i < n; i++) {
      const a = s[i];
      const b = l[i];
      if (i > 0) c.checks++;
      if (a?.text === b?.text) continue;
      const index = (a ?? b)!.index;
      c.divergences.push({
        where,
        what: `iptables ${key} ${index ? `rule ${index}` : "policy"}`,
        sim: a?.text ?? NONE,
        linux: b?.text ?? NONE,
      });
    }
  }
  return c;
}

/** Chains a packet enters only for a workload endpoint, a policy or a service (never BIRD's TCP 179). */
const ENDPOINT_CHAIN =
  /^(cali-tw-|cali-fw-|cali-pi-|cali-po-|cali-pri-|cali-pro-|KUBE-SVC-|KUBE-SEP-|KUBE-EXT-|KUBE-SVL-|KUBE-FW-)/;

/**
 * Rule counters after the counted probes, compared rule by rule (rules present on both sides at the same place).
 *
 * - nat: exact packet counts (one packet per new connection traverses nat, so the count is the connections').
 * - raw, mangle, filter: whether the rule counted at all. How many segments a real TCP connection takes depends
 *   on timing (delayed ACKs, retransmissions; see test/kernel/scenario.ts), so exact counts would differ
 *   without either side being wrong.
 * - Left out (counted in `excluded`):
 *   - a builtin chain's policy counter where the kernel's chain has no rules: iptables-nft creates a table's
 *     builtin chain (its nft hook) only when a rule uses it, so an empty one counts nothing while iptables-save
 *     still lists it (a kernel fact, whatever the sim does);
 *   - only when `bgpCrossed` (verify could not keep every real BIRD stopped while the counters counted): a rule
 *     outside the endpoint, policy and service chains that the kernel counted more than the sim (in nat) or
 *     counted when the sim did not (elsewhere). Real BIRD's TCP 179 packets cross those chains (keepalives, and
 *     BIRD 2 on an external host reconnecting), and the sim's BGP sessions leave no trace by design
 *     (ARCHITECTURE "the sessions' packets leave no trace").
 *   A rule the sim counted more than the kernel is always a divergence.
 */
export function compareCounters(
  where: string,
  simText: string,
  linuxText: string,
  bgpCrossed: boolean,
): Comparison {
  const c = emptyComparison();
  const key = (r: SavedRule) => `${r.table} ${r.chain} ${r.index} ${r.text}`;
  const linuxRules = parseIptablesSave(linuxText);
  const linux = new Map(linuxRules.map((r) => [key(r), r]));
  const used = new Set(linuxRules.filter((r) => r.index > 0).map((r) => `${r.table} ${r.chain}`));
  for (const s of parseIptablesSave(simText)) {
    const l = linux.get(key(s));
    if (!l) continue; // a rule set divergence, reported by compareRuleSets
    const exact = s.table === "nat";
    const same = exact ? s.packets === l.packets : s.packets > 0 === l.packets > 0;
    if (same) {
      c.checks++;
      continue;
    }
    const kernelMore = exact ? l.packets > s.packets : s.packets === 0;
    const bgpPath = bgpCrossed && !ENDPOINT_CHAIN.test(s.chain);
    const hookless = s.index === 0 && l.packets === 0 && !used.has(`${s.table} ${s.chain}`);
    if ((kernelMore && bgpPath) || hookless) {
      c.excluded++;
      continue;
    }
    c.checks++;
    const show = (n: number) => (exact ? `${n} packets` : n > 0 ? `counted (${n} packets)` : "not counted");
    c.divergences.push({
      where,
      what: `counter ${s.table} ${s.chain} ${s.index ? `rule ${s.index}` : "policy"} (${s.text})`,
      sim: show(s.packets),
      linux: show(l.packets),
    });
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Conntrack translations (`conntrack -L`)

/** Where a connection to `ip:port` goes when a Service spreads it over several endpoints (random on each side). */
export type FrontendOf = (proto: string, ip: string, port: string) => string | undefined;

interface Tuple {
  src: string;
  dst: string;
  sport: string;
  dport: string;
}

/**
 * The translated connections of a `conntrack -L` listing as a set of lines `PROTO ORIG-SRC -> ORIG-DST:DPORT
 * => REPLY-SRC:SPORT -> REPLY-DST`. Random ports (the client's ephemeral port, the reply's destination port
 * that mirrors it or MASQUERADE's choice, ICMP ids), states and timeouts are left out; a Service's endpoint chosen
 * at random (`frontend` names the Service) becomes `<endpoint of NS/NAME>`, and a client that drew itself (hairpin,
 * masqueraded to its node's address) is shown as if it had drawn another. Connections without NAT are not
 * translations and are left out.
 */
export function conntrackTranslations(text: string, frontend: FrontendOf = () => undefined): string[] {
  const out = new Set<string>();
  for (const raw of text.split("\n")) {
    const words = raw.trim().split(/\s+/);
    const proto = words[0];
    if (!proto || !/^(tcp|udp|icmp|sctp|unknown)$/.test(proto)) continue;
    const tuples: Tuple[] = [];
    for (const w of words) {
      const kv = /^(src|dst|sport|dport|id)=(.*)$/.exec(w);
      if (!kv) continue;
      if (kv[1] === "src") tuples.push({ src: kv[2]!, dst: "", sport: "", dport: "" });
      const t = tuples[tuples.length - 1];
      if (!t) continue;
      if (kv[1] === "dst") t.dst = kv[2]!;
      else if (kv[1] === "sport") t.sport = kv[2]!;
      else if (kv[1] === "dport") t.dport = kv[2]!;
    }
    const [orig, reply] = tuples;
    if (!orig || !reply) continue;
    if (reply.src === orig.dst && reply.dst === orig.src) continue; // no NAT
    const service = frontend(proto, orig.dst, orig.dport);
    const to = service ? `<endpoint of ${service}>` : `${reply.src}${reply.sport ? `:${reply.sport}` : ""}`;
    // A client that drew itself is hairpinned (masqueraded to its node's address): part of the random draw too.
    const back = service && reply.src === orig.src ? orig.src : reply.dst;
    out.add(`${proto} ${orig.src} -> ${orig.dst}${orig.dport ? `:${orig.dport}` : ""} => ${to} -> ${back}`);
  }
  return [...out].sort();
}

/** Each translation only one side has is one divergence. */
export function compareConntrack(
  where: string,
  simText: string,
  linuxText: string,
  frontend?: FrontendOf,
): Comparison {
  const c = emptyComparison();
  const sim = new Set(conntrackTranslations(simText, frontend));
  const linux = new Set(conntrackTranslations(linuxText, frontend));
  for (const t of [...new Set([...sim, ...linux])].sort()) {
    c.checks++;
    if (sim.has(t) && linux.has(t)) continue;
    c.divergences.push({
      where,
      what: `conntrack ${t}`,
      sim: sim.has(t) ? "present" : "absent",
      linux: linux.has(t) ? "present" : "absent",
    });
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

export function divergenceLine(d: Divergence): string {
  const one = (s: string) => s.replace(/\s*\n\s*/g, " | ");
  return `DIVERGENCE ${d.where} ${one(d.what)}: sim ${one(d.sim)} / linux ${one(d.linux)}`;
}
