/** `tortie trace FROM TO[:PORT]` (CLI.md "Seeing why"): one connection through the sim dataplane, step by step. */
import { Command, Option } from "commander";
import { type TraceReport, traceConnection } from "../agent/index.ts";
import { formatIpv4, parseIpv4 } from "../dataplane/sim/index.ts";
import { TortieError, UnsupportedError } from "../lib/index.ts";
import { formatIp } from "../net/index.ts";
import type { CliContext } from "./context.ts";
import { openLazySimCluster } from "./exec.ts";
import { readPolicySnapshot, resolvePlace } from "./policy-snapshot.ts";
import { traceText } from "./trace-text.ts";

type Proto = "tcp" | "udp" | "icmp" | "sctp";

/** TO[:PORT]: the place and the port text, if any. IPv6 literals are refused (the sim is IPv4). */
function splitTarget(text: string): { place: string; port?: string } {
  if (text.startsWith("[") || (text.match(/:/g)?.length ?? 0) > 1)
    throw new UnsupportedError(`tortie trace to an IPv6 address (the sim dataplane is IPv4): ${text}`);
  const i = text.lastIndexOf(":");
  return i < 0 ? { place: text } : { place: text.slice(0, i), port: text.slice(i + 1) };
}

function parsePort(text: string | undefined, to: string, proto: Proto): number {
  if (proto === "icmp") {
    if (text !== undefined) throw new TortieError("Usage", `TO "${to}": icmp has no ports; drop ":${text}"`);
    return 0;
  }
  if (text === undefined) throw new TortieError("Usage", `TO "${to}": ${proto} needs a port (TO:PORT)`);
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535))
    throw new TortieError("Usage", `TO "${to}": "${text}" is not a port number (1-65535)`);
  return port;
}

export function traceProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  program
    .command("trace")
    .description("follow one connection hop by hop: routes, rules, NAT, policy, the reply, the verdict")
    .argument("<from>", "NS/POD, a host name, or an IP of a host or pod")
    .argument(
      "<to>",
      "NS/POD, a host name, or an IP, then :PORT (a service IP or node port follows kube-proxy)",
    )
    .addOption(
      new Option("--proto <protocol>", "protocol").choices(["tcp", "udp", "sctp", "icmp"]).default("tcp"),
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (from: string, to: string, o: { proto: Proto; output: string }) => {
      const target = splitTarget(to);
      const port = parsePort(target.port, to, o.proto);
      const snapshot = await readPolicySnapshot(ctx.store());
      const dst = resolvePlace(snapshot, target.place, "TO");
      const cluster = await openLazySimCluster(ctx);
      let toIp: number | undefined;
      if (dst.kind === "endpoint") {
        const v4 = dst.endpoint.ips.find((ip) => ip.family === 4);
        toIp = v4 && parseIpv4(formatIp(v4));
        if (toIp === undefined)
          throw new TortieError("Invalid", `TO ${target.place}: the pod has no IPv4 address`);
      } else if (dst.kind === "host") {
        const host = cluster.topology.hosts.find((h) => h.name === dst.node);
        toIp = host && parseIpv4(host.ip);
        if (toIp === undefined)
          throw new TortieError("NotFound", `TO ${target.place}: the host has no address`);
      } else {
        toIp = parseIpv4(formatIp(dst.ip));
        if (toIp === undefined)
          throw new UnsupportedError(`tortie trace to an IPv6 address (the sim dataplane is IPv4): ${to}`);
      }
      let client = cluster.kernel(from);
      if (!client) {
        const src = resolvePlace(snapshot, from, "FROM");
        if (src.kind === "endpoint")
          throw new TortieError(
            "NotFound",
            `FROM ${from}: the pod has no network namespace on the sim (not running)`,
          );
        const ip = src.kind === "ip" ? parseIpv4(formatIp(src.ip)) : undefined;
        client = ip === undefined ? undefined : cluster.kernelOwning(ip);
        if (!client)
          throw new TortieError("NotFound", `FROM ${from}: no host or pod of this cluster has that address`);
      }
      const label =
        target.place === formatIpv4(toIp) ? target.place : `${target.place} (${formatIpv4(toIp)})`;
      const report: TraceReport = traceConnection(cluster, {
        from: client.name,
        to: toIp,
        toLabel: o.proto === "icmp" ? label : `${label}:${port}`,
        proto: o.proto,
        port,
      });
      // A trace is a probe that leaves no mark: the dataplane state (counters, conntrack, clock) is not saved.
      ctx.out(o.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : traceText(report));
    });
  return program;
}
