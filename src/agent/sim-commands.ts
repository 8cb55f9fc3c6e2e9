import { formatIpv4, type Kernel, parseIpv4, ping, type TableName } from "../dataplane/sim/index.ts";
import { MAX_SIM_PING_COUNT } from "../lib/index.ts";
import { birdc } from "./birdc-command.ts";
import { bridgeCommand } from "./bridge-fdb.ts";
import { dig, nslookup } from "./dns-tools.ts";
import { ipShow } from "./ip-show.ts";
import { netcat } from "./netcat.ts";
import { nftCommand } from "./nft-command.ts";
import type { SimCluster } from "./sim-cluster.ts";
import { ss } from "./ss.ts";
import { sudo } from "./sudo.ts";
import { sysctlCommand } from "./sysctl-command.ts";
import { wgCommand } from "./wg-show.ts";

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

/**
 * The commands CLI.md lists, emulated over a namespace of the sim: same arguments, same output format as the
 * real tools (iproute2 6.1, iptables 1.8.4 as in the labs, conntrack-tools 1.4.7, curl 7.88).
 */
export function runSimCommand(cluster: SimCluster, k: Kernel, argv: string[]): CommandResult {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "ip":
      return ipShow(k, args, cluster.net.now);
    case "bridge":
      return bridgeCommand(k, args);
    case "wg":
      return wgCommand(k, args, cluster.net.now, cluster.virtualDate().getTime() - cluster.net.now);
    case "sudo":
      return sudo(args, (command) => runSimCommand(cluster, k, command));
    case "ss":
      return ss(k, args);
    case "sysctl":
      return sysctlCommand(k, args);
    case "tcpdump":
      // It runs until interrupted, so only `tortie exec` (one process per command) runs it.
      return fail(
        "not supported yet: tcpdump inside tortie shell; run it with tortie exec TARGET -- tcpdump ...\n",
      );
    case "iptables":
      return iptables(k, args);
    case "iptables-save":
      return iptablesSave(k, args);
    case "nft":
      return nftCommand(k, args);
    case "conntrack":
      return conntrack(cluster.net.now, k, args);
    case "curl":
      return curl(cluster, k, args);
    case "ping":
      return pingCommand(cluster, k, args);
    case "nc":
      return netcat(cluster, k, args);
    case "birdc":
    case "birdcl":
      return birdc(cluster, k, cmd, args);
    case "nslookup":
      return nslookup(cluster, k, args);
    case "dig":
      return dig(cluster, k, args, cluster.virtualDate());
    case undefined:
      return fail("error: a command is required after --\n", 2);
    default:
      return fail(`not supported yet: ${cmd} on the sim dataplane\n`);
  }
}

/** `iptables -L|-S …` of one namespace (the emulated tool; the sim dataplane kernel runs it too). */
export function iptables(k: Kernel, args: string[]): CommandResult {
  let table: TableName = "filter";
  let mode: "L" | "S" | undefined;
  let chain: string | undefined;
  const o = { verbose: false, numeric: false, exact: false, lineNumbers: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const takeChain = () => {
      if (args[i + 1] && !args[i + 1]!.startsWith("-")) chain = args[++i];
    };
    if (a === "-t" || a === "--table") table = args[++i] as TableName;
    else if (a === "-L" || a === "--list") {
      mode = "L";
      takeChain();
    } else if (a === "-S" || a === "--list-rules") {
      mode = "S";
      takeChain();
    } else if (a === "-v" || a === "--verbose") o.verbose = true;
    else if (a === "-n" || a === "--numeric") o.numeric = true;
    else if (a === "-x" || a === "--exact") o.exact = true;
    else if (a === "--line-numbers") o.lineNumbers = true;
    else if (/^-[vnxLS]+$/.test(a)) {
      for (const c of a.slice(1)) {
        if (c === "v") o.verbose = true;
        if (c === "n") o.numeric = true;
        if (c === "x") o.exact = true;
        if (c === "L") mode = "L";
        if (c === "S") mode = "S";
      }
      if (a.includes("L") || a.includes("S")) takeChain();
    } else return fail(`not supported yet: iptables ${a} on the sim dataplane\n`);
  }
  if (!["filter", "nat", "mangle", "raw"].includes(table))
    return fail(
      `iptables v1.8.4 (legacy): can't initialize iptables table \`${table}': Table does not exist (do you need to insmod?)\nPerhaps iptables or your kernel needs to be upgraded.\n`,
      3,
    );
  if (chain && !k.netfilter.tables.get(table)!.has(chain))
    return fail("iptables: No chain/target/match by that name.\n");
  if (mode === "S") return ok(k.netfilter.specs(table, chain));
  if (mode === "L") return ok(k.netfilter.list(table, { ...o, chain }));
  return fail(
    "not supported yet: iptables without -L or -S on the sim dataplane (rules come from the agents)\n",
  );
}

export function iptablesSave(k: Kernel, args: string[]): CommandResult {
  let table: TableName | undefined;
  let counters = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-t" || args[i] === "--table") table = args[++i] as TableName;
    else if (args[i] === "-c" || args[i] === "--counters") counters = true;
    else return fail(`not supported yet: iptables-save ${args[i]} on the sim dataplane\n`);
  }
  return ok(k.netfilter.save({ table, counters }));
}

/** `conntrack -L` of one namespace at virtual time `now`. */
export function conntrack(now: number, k: Kernel, args: string[]): CommandResult {
  if (args[0] !== "-L" && args[0] !== "--dump")
    return fail(`not supported yet: conntrack ${args.join(" ")} on the sim dataplane\n`);
  const lines = k.conntrack.list(now);
  return {
    stdout: lines.length ? `${lines.join("\n")}\n` : "",
    stderr: `conntrack v1.4.7 (conntrack-tools): ${lines.length} flow entries have been shown.\n`,
    code: 0,
  };
}

function curl(cluster: SimCluster, k: Kernel, args: string[]): CommandResult {
  let url: string | undefined;
  let connectTimeoutMs: number | undefined;
  let silent = false;
  let showError = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--connect-timeout" || a === "-m" || a === "--max-time") {
      const v = Number(args[++i]);
      if (!(v > 0)) return fail(`curl: option ${a}: expected a proper numerical parameter\n`, 2);
      connectTimeoutMs = v * 1000;
    } else if (/^-[sS]+$/.test(a)) {
      if (a.includes("s")) silent = true;
      if (a.includes("S")) showError = true;
    } else if (a === "--silent") silent = true;
    else if (a === "--show-error") showError = true;
    else if (a.startsWith("-")) return fail(`not supported yet: curl ${a} on the sim dataplane\n`);
    else url = a;
  }
  if (!url)
    return fail(
      "curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
      2,
    );
  const start = cluster.net.now;
  const hostPort = /^(?:http:\/\/)?([^/:]+)(?::(\d+))?/.exec(url);
  const host = hostPort?.[1] ?? url;
  const port = hostPort?.[2] ?? "80";
  const r = cluster.fetch(k, url, connectTimeoutMs);
  if (r.ok) return ok(r.body);
  const ms = cluster.net.now - start;
  const quiet = silent && !showError;
  const out = (code: number, text: string) => ({
    stdout: "",
    stderr: quiet ? "" : `curl: (${code}) ${text}\n`,
    code,
  });
  switch (r.error) {
    case "bad-url":
      return out(3, "URL using bad/illegal format or missing URL");
    case "not-found":
      return out(6, `Could not resolve host: ${host}`);
    case "resolve-timeout":
      // --connect-timeout covers the lookup too (curl 7.88's multi_handle_timeout); getaddrinfo giving up is (6).
      return connectTimeoutMs !== undefined && ms >= connectTimeoutMs
        ? out(28, `Resolving timed out after ${connectTimeoutMs} milliseconds`)
        : out(6, `Could not resolve host: ${host}`);
    case "timeout":
      return out(
        28,
        `Failed to connect to ${host} port ${port} after ${ms} ms: ${connectTimeoutMs ? "Timeout was reached" : "Couldn't connect to server"}`,
      );
    case "refused":
    case "host-unreachable":
    case "network-unreachable":
      return out(7, `Failed to connect to ${host} port ${port} after ${ms} ms: Couldn't connect to server`);
    default:
      return out(52, "Empty reply from server");
  }
}

function pingCommand(cluster: SimCluster, k: Kernel, args: string[]): CommandResult {
  let count = 4;
  let dest: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c") {
      const text = args[++i];
      if (text === undefined) return fail("ping: option requires an argument -- 'c'\n", 2);
      // iputils parses with strtol: leading white space and a sign are taken, anything after the digits is not;
      // past 2^63-1 is ERANGE, below 1 is out of its range.
      if (!/^[\t\n\v\f\r ]*[+-]?\d+$/.test(text)) return fail(`ping: invalid argument: '${text}'\n`);
      if (BigInt(text) > 9223372036854775807n || BigInt(text) < -9223372036854775808n)
        return fail(`ping: invalid argument: '${text}': Numerical result out of range\n`);
      count = Number(BigInt(text));
      if (count < 1)
        return fail(`ping: invalid argument: '${text}': out of range: 1 <= value <= 9223372036854775807\n`);
      if (count > MAX_SIM_PING_COUNT)
        return fail(
          `not supported yet: ping -c above ${MAX_SIM_PING_COUNT} on the sim dataplane (${text})\n`,
        );
    } else if (args[i]!.startsWith("-"))
      return fail(`not supported yet: ping ${args[i]} on the sim dataplane\n`);
    else dest = args[i];
  }
  const ipNum = dest === undefined ? undefined : parseIpv4(dest);
  if (dest === undefined) return fail("ping: usage error: Destination address required\n", 2);
  if (ipNum === undefined) return fail(`not supported yet: ping by name on the sim dataplane (${dest})\n`);
  const lines = [`PING ${dest} (${dest}) 56(84) bytes of data.`];
  let received = 0;
  let errors = 0;
  // One echo identifier per ping process, as ping's socket gets one: a later ping is a new conntrack flow,
  // so a policy applied in between decides it afresh.
  const id = 1 + Math.floor(cluster.net.random() * 65535);
  for (let seq = 1; seq <= count; seq++) {
    const r = ping(cluster.net, k, ipNum, id, undefined, seq);
    if (r.ok) {
      received++;
      lines.push(`64 bytes from ${dest}: icmp_seq=${seq} ttl=${r.ttl ?? 64} time=0.050 ms`);
    } else if (r.from !== undefined) {
      errors++;
      lines.push(`From ${formatIpv4(r.from)} icmp_seq=${seq} ${unreachableText(r.refusedWith)}`);
    } else if (r.error === "host-unreachable" || r.error === "network-unreachable") {
      errors++;
      lines.push(`From ${dest} icmp_seq=${seq} Destination Host Unreachable`);
    }
    cluster.net.now += 1000;
  }
  const loss = Math.round(((count - received) / count) * 100);
  lines.push(
    "",
    `--- ${dest} ping statistics ---`,
    `${count} packets transmitted, ${received} received, ${errors ? `+${errors} errors, ` : ""}${loss}% packet loss, time ${Math.max(0, count - 1) * 1000}ms`,
  );
  if (received) lines.push("rtt min/avg/max/mdev = 0.050/0.050/0.050/0.000 ms");
  return { stdout: `${lines.join("\n")}\n`, stderr: "", code: received ? 0 : 1 };
}

/** iputils ping's text for an ICMP destination unreachable, by the refusal that came back. */
function unreachableText(how: string | undefined): string {
  switch (how) {
    case "icmp-net-unreachable":
      return "Destination Net Unreachable";
    case "icmp-host-unreachable":
      return "Destination Host Unreachable";
    case "icmp-proto-unreachable":
      return "Destination Protocol Unreachable";
    case "icmp-net-prohibited":
      return "Destination Net Prohibited";
    case "icmp-host-prohibited":
      return "Destination Host Prohibited";
    case "icmp-admin-prohibited":
      return "Communication prohibited by filter";
    default:
      return "Destination Port Unreachable";
  }
}
