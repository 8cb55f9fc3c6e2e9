/**
 * What the BGP scenario tests (seed-000-bgp, seed-001, seed-002-bgp, bgp-mesh) share: running a seed line that must
 * succeed, letting the virtual clock run while the user "waits", reading `ip route` as iproute2 prints it, and the
 * shapes of `calicoctl node status`, `birdc` and the pages the seeds fetch.
 */
import assert from "node:assert/strict";
import type { CliHarness } from "../cli/harness.ts";

/** Runs a seed line and returns its stdout; a non-zero exit fails the test with the line and its stderr. */
export async function ok(h: CliHarness, line: string, stdin = ""): Promise<string> {
  const r = await h.run(line, stdin);
  assert.equal(r.code, 0, `${line}\nexit ${r.code}\n${r.err}`);
  return r.out;
}

/**
 * The user waits (switches to another host, reads the lab's text): the wall clock, and so the sim's virtual clock
 * (SimCluster.advanceClock), moves on. BIRD's connect delay is 5 s; the seeds' SINCE columns show sessions up within
 * seconds of the change.
 */
export function wait(h: CliHarness, seconds: number): void {
  h.now = new Date(h.now.getTime() + seconds * 1000);
}

/**
 * `ip route` as a list of entries: one string per route, a multipath route's `nexthop` lines joined to it with "\n\t".
 * Trailing blanks are dropped (iproute2 prints one after each route; the seeds' copies lost them) and a continuation
 * line's indentation is one tab, as iproute2 prints it (the seeds' copies show 8 spaces).
 */
export function routeEntries(listing: string): string[] {
  const out: string[] = [];
  for (const raw of listing.split("\n")) {
    const line = raw.trimEnd();
    if (line === "") continue;
    if (/^\s/.test(line)) {
      assert.ok(out.length > 0, `continuation line with no route: ${JSON.stringify(raw)}`);
      out[out.length - 1] += `\n\t${line.trim()}`;
    } else out.push(line);
  }
  return out;
}

/** The sim's raw `ip route` text must indent nexthop lines with a tab, as iproute2 does. */
export function assertIproute2Nexthops(listing: string): void {
  for (const line of listing.split("\n"))
    if (/nexthop/.test(line)) assert.match(line, /^\tnexthop via \S+ dev \S+ weight \d+ ?$/, listing);
}

/**
 * A seed's `ip route` block as entries, without the lines that belong to the seed's VMs rather than to Calico (their
 * DHCP default route and second NIC), with the seed's interface renamed to the topology's.
 */
export function seedRoutes(
  seed: string,
  opts: { drop?: RegExp[]; rename?: [string, string] } = {},
): string[] {
  let text = seed;
  if (opts.rename) text = text.replaceAll(` dev ${opts.rename[0]}`, ` dev ${opts.rename[1]}`);
  return routeEntries(text).filter((e) => !(opts.drop ?? []).some((re) => re.test(e)));
}

/** Compares a host's `ip route` with the expected entries, in order (the kernel dumps its table sorted by prefix). */
export async function assertRoutes(
  h: CliHarness,
  host: string,
  expected: string[],
  why = "",
): Promise<string> {
  const out = await ok(h, `exec ${host} -- ip route`);
  assertIproute2Nexthops(out);
  assert.deepEqual(routeEntries(out), expected, `${host}'s ip route ${why}\n${out}`);
  return out;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

export interface StatusRow {
  peer: string;
  type: "node-to-node mesh" | "global" | "node specific";
  state?: string;
  info?: string;
}

/**
 * `calicoctl node status` as calicoctl prints it (reference §4.6; seeds 001 and 002), rows in BIRD's protocol order,
 * SINCE as BIRD shows it (a time today, a date before) — matched as a shape, its value is the clock's.
 */
export function nodeStatusPattern(rows: StatusRow[]): RegExp {
  // A time padded to a date's width when another row shows a date (seed 001).
  const since = String.raw`(?:\d\d:\d\d:\d\d(?:  )?|\d{4}-\d\d-\d\d)`;
  const peerW = Math.max("PEER ADDRESS".length, ...rows.map((r) => r.peer.length));
  const typeW = Math.max("PEER TYPE".length, ...rows.map((r) => r.type.length));
  const stateW = Math.max("STATE".length, ...rows.map((r) => (r.state ?? "up").length));
  const infoW = Math.max("INFO".length, ...rows.map((r) => (r.info ?? "Established").length));
  const center = (s: string, w: number) => {
    const left = Math.floor((w - s.length) / 2);
    return " ".repeat(left) + s + " ".repeat(w - s.length - left);
  };
  const rule = (sinceW: string) =>
    esc(`+${"-".repeat(peerW + 2)}+${"-".repeat(typeW + 2)}+${"-".repeat(stateW + 2)}+`) +
    sinceW +
    esc(`+${"-".repeat(infoW + 2)}+`);
  // SINCE is 8 (a time) or 10 (a date) wide; the rule and header follow it.
  const sinceRule = "(?:-{10}|-{12})";
  const header =
    esc(`| ${center("PEER ADDRESS", peerW)} | ${center("PEER TYPE", typeW)} | ${center("STATE", stateW)} |`) +
    "(?:  SINCE   |   SINCE    )" +
    esc(`| ${center("INFO", infoW)} |`);
  const row = (r: StatusRow) =>
    esc(`| ${r.peer.padEnd(peerW)} | ${r.type.padEnd(typeW)} | ${(r.state ?? "up").padEnd(stateW)} | `) +
    since +
    esc(` | ${(r.info ?? "Established").padEnd(infoW)} |`);
  return new RegExp(
    `^Calico process is running\\.\\n\\nIPv4 BGP status\\n${rule(sinceRule)}\\n${header}\\n${rule(sinceRule)}\\n${rows
      .map(row)
      .join("\\n")}\\n${rule(sinceRule)}\\n\\nIPv6 BGP status\\nNo IPv6 peers found\\.\\n\\n$`,
  );
}

/** BIRD 2's `show protocols` header and a BGP row that is up (birdc, seed 001). */
export const BIRDC_BANNER = /^BIRD 2\.\d+\.\d+ ready\.\n/;
export const BIRDC_PROTOCOLS_HEADER = "Name       Proto      Table      State  Since         Info";
export function birdcBgpRowUp(name: string): RegExp {
  return new RegExp(
    `^${esc(name.padEnd(10))} BGP {8}--- {8}up {5}(?:\\d\\d:\\d\\d:\\d\\d\\.\\d{3}|\\d{4}-\\d\\d-\\d\\d) {2}Established *$`,
    "m",
  );
}

/**
 * One route of BIRD 2's `show route` learned over BGP: `NET  unicast [PROTO TIME] * (100[/IGP]) [AS…i]` and its
 * `via` line. iBGP with host1 (same AS, empty path) reads `[i]`; the seed's eBGP VM read `[AS64512i]`.
 */
export function birdcBgpRoute(net: string, proto: string, via: string, iface: string, best = true): RegExp {
  return new RegExp(
    `^${esc(net.padEnd(20))} unicast \\[${esc(proto)} (?:\\d\\d:\\d\\d:\\d\\d\\.\\d{3}|\\d{4}-\\d\\d-\\d\\d)\\]${best ? " \\*" : ""} \\(100(?:/\\d+)?\\) \\[(?:AS\\d+)?i\\]\\n\\tvia ${esc(via)} on ${esc(iface)}$`,
    "m",
  );
}

export const YAOBANK_PAGE =
  /<h1>Welcome to YAO Bank<\/h1>\n {2}<h2>Name: Spike Curtis<\/h2>\n {2}<h2>Balance: 2389\.45<\/h2>/;

/** nginx's welcome page, as seeds 001/002 show it (the seed elides the middle with "..."). */
export function assertNginxPage(out: string): void {
  assert.match(out, /^<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!<\/title>\n<style>\n/);
  assert.match(out, /<p><em>Thank you for using nginx\.<\/em><\/p>\n<\/body>\n<\/html>\n$/);
}

/** The /29 (or /26) block an address is in. */
export function blockOf(ip: string, prefix: number): string {
  const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  const base = n - (n % size);
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".")}/${prefix}`;
}

/** `kubectl get pods -n NS -o wide` → the named pod's IP and node (the first pod whose name starts with prefix). */
export function podFromWide(listing: string, prefix: string): { name: string; ip: string; node: string } {
  const [head, ...rows] = listing.trimEnd().split("\n");
  assert.match(
    head ?? "",
    /^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES$/,
    listing,
  );
  const row = rows.find((r) => r.startsWith(prefix));
  assert.ok(row, `no pod ${prefix}* in:\n${listing}`);
  const m = /^(\S+) +1\/1 +Running +0 +\S+ +(\d+\.\d+\.\d+\.\d+) +(\S+) +<none> +<none>$/.exec(row);
  assert.ok(m, `pod row not as kubectl prints it: ${row}`);
  return { name: m[1]!, ip: m[2]!, node: m[3]! };
}

/** Seed 002's externally routable pool, its global BGP peer (host1) and the namespace that uses the pool. */
export const EXTERNAL_POOL = `---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: external-pool
spec:
  cidr: 198.19.24.0/21
  blockSize: 29
  ipipMode: Never
  natOutgoing: true
  nodeSelector: "!all()"
`;
export const GLOBAL_PEER = `---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-global-host1
spec:
  peerIP: 198.19.15.254
  asNumber: 64512
`;
export const EXTERNAL_NS = `---
apiVersion: v1
kind: Namespace
metadata:
  annotations:
    cni.projectcalico.org/ipv4pools: '["external-pool"]'
  name: external-ns
`;
