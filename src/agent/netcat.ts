/**
 * `nc -z` (netcat-openbsd 1.219) over the sim: a TCP connect and close, reported as Debian's nc reports it on
 * stderr. Only the port scan mode is emulated; anything else says "not supported yet".
 */
import { formatIpv4, type Kernel, parseIpv4, tcpExchange } from "../dataplane/sim/index.ts";
import type { SimCluster } from "./sim-cluster.ts";
import type { CommandResult } from "./sim-commands.ts";

/** /etc/services names nc prints for the ports the labs use; any other port prints `*`. */
const SERVICES: Record<number, string> = { 22: "ssh", 53: "domain", 80: "http", 179: "bgp", 443: "https" };

const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });

export function netcat(cluster: SimCluster, k: Kernel, args: string[]): CommandResult {
  let scan = false;
  let verbose = false;
  let waitMs: number | undefined;
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (/^-[zvnw]+\d*$/.test(a) && a !== "-") {
      // Flags may be grouped (`-zv`, `-zvw2`); `w` takes the rest of the word or the next argument.
      const body = a.slice(1);
      for (let j = 0; j < body.length; j++) {
        const c = body[j]!;
        if (c === "z") scan = true;
        else if (c === "v") verbose = true;
        else if (c === "n") continue;
        else if (c === "w") {
          const rest = body.slice(j + 1) || args[++i];
          const n = Number(rest);
          if (!rest || !Number.isInteger(n) || n < 0) return fail(`nc: timeout ${rest ?? ""}: invalid\n`);
          waitMs = n * 1000;
          break;
        } else return fail(`not supported yet: nc -${c} on the sim dataplane\n`);
      }
    } else if (a.startsWith("-")) return fail(`not supported yet: nc ${a} on the sim dataplane\n`);
    else operands.push(a);
  }
  if (!scan)
    return fail("not supported yet: nc without -z on the sim dataplane (only port checks are emulated)\n");
  const [host, portText] = operands;
  if (!host || !portText || operands.length > 2)
    return fail("usage: nc [-46CDdFhklNnrStUuvZz] [-w timeout] [destination] [port]\n");
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    return fail(`nc: port number invalid: ${portText}\n`);
  let ip = parseIpv4(host);
  if (ip === undefined) {
    const r = cluster.resolve(k, host);
    if (!r.ok) return fail(`nc: getaddrinfo for host "${host}" port ${port}: Name or service not known\n`);
    ip = r.ip;
  }
  const shown = parseIpv4(host) === undefined ? `${host} (${formatIpv4(ip)})` : host;
  const r = tcpExchange(cluster.net, k, ip, port, "", {
    connectOnly: true,
    ...(waitMs ? { connectTimeoutMs: waitMs } : {}),
  });
  if (r.ok)
    return {
      stdout: "",
      stderr: verbose
        ? `Connection to ${shown} ${port} port [tcp/${SERVICES[port] ?? "*"}] succeeded!\n`
        : "",
      code: 0,
    };
  const why =
    r.error === "refused"
      ? "failed: Connection refused"
      : r.error === "host-unreachable"
        ? "failed: No route to host"
        : r.error === "network-unreachable"
          ? "failed: Network is unreachable"
          : waitMs
            ? "timed out: Operation now in progress"
            : "failed: Connection timed out";
  return fail(verbose ? `nc: connect to ${shown} port ${port} (tcp) ${why}\n` : "");
}
