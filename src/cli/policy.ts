/** `tortie policy explain|matrix` (CLI.md "Seeing why"): the policy engine over the cluster in the store. */
import { Command, Option } from "commander";
import { simMatrixCells } from "../agent/index.ts";
import { TortieError } from "../lib/index.ts";
import { formatIp } from "../net/index.ts";
import {
  evaluateFlow,
  type FlowEnd,
  type MatrixCell,
  type MatrixPort,
  PolicyMatrix,
  podLabel,
  protocolName,
  protocolNumber,
} from "../policy/index.ts";
import type { CliContext } from "./context.ts";
import { readSimInputs } from "./exec.ts";
import { readPolicySnapshot, resolvePlace } from "./policy-snapshot.ts";
import { explainText } from "./policy-text.ts";

/** Namespaces `policy matrix` leaves out unless asked for. */
const SYSTEM_NAMESPACES = new Set([
  "kube-system",
  "kube-public",
  "kube-node-lease",
  "calico-system",
  "calico-apiserver",
  "tigera-operator",
]);

/** The place as the user named it, with the address it resolved to when that adds something. */
function placeText(named: string, end: FlowEnd): string {
  if (end.kind !== "ip") return named;
  const ip = formatIp(end.ip);
  return ip === named ? ip : `${named} (${ip})`;
}

function parsePorts(text: string): MatrixPort[] {
  return text.split(",").map((p) => {
    const m = /^([0-9]+)(?:\/([A-Za-z]+))?$/.exec(p.trim());
    const protocol = protocolNumber((m?.[2] ?? "TCP").toUpperCase());
    if (!m || protocol === undefined || Number(m[1]) < 1 || Number(m[1]) > 65535)
      throw new TortieError("Usage", `--ports: "${p}" is not PORT or PORT/PROTOCOL (e.g. 80/TCP)`);
    return { port: Number(m[1]), protocol };
  });
}

function protocolOption(): Option {
  return new Option("--proto <protocol>", "protocol").choices(["tcp", "udp", "sctp", "icmp"]).default("tcp");
}

export function policyProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  const policy = program.command("policy").description("explain policy verdicts and compute reachability");
  policy
    .command("explain")
    .description("every policy decision on the way from FROM to TO, and why")
    .argument("<from>", "NS/POD, a host name, or an IP")
    .argument("<to>", "NS/POD, a host name, or an IP (a service IP or node port follows kube-proxy's DNAT)")
    .option("--port <n>", "destination port")
    .addOption(protocolOption())
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (from: string, to: string, o: { port?: string; proto: string; output: string }) => {
      const protocol = protocolNumber(o.proto.toUpperCase())!;
      const port = o.port === undefined ? undefined : Number(o.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
        throw new TortieError("Usage", `--port: "${o.port}" is not a port number`);
      if (port === undefined && o.proto !== "icmp")
        throw new TortieError("Usage", `--port is required for ${o.proto}`);
      const snapshot = await readPolicySnapshot(ctx.store());
      const src = resolvePlace(snapshot, from, "FROM");
      const dst = resolvePlace(snapshot, to, "TO");
      const result = evaluateFlow(snapshot.index, {
        from: src,
        to: dst,
        protocol,
        ...(port !== undefined ? { port } : {}),
        ...(o.proto === "icmp" ? { icmpType: 8, icmpCode: 0 } : {}),
      });
      if (o.output === "json") {
        ctx.out(
          `${JSON.stringify({ verdict: result.allowed ? "allowed" : "denied", ...result }, null, 2)}\n`,
        );
        return;
      }
      const title = `${placeText(from, src)} -> ${placeText(to, dst)} ${o.proto.toUpperCase()}${port !== undefined ? ` port ${port}` : ""}`;
      ctx.out(explainText(title, result));
    });
  policy
    .command("matrix")
    .description("which pods reach which, per port (every ordered pair of pods)")
    .option("-n, --namespaces <list>", "comma-separated namespaces (default: all non-system namespaces)")
    .option("--ports <list>", "ports to probe, e.g. 80/TCP,81/TCP (default: the pods' container ports)")
    .addOption(
      new Option("--engine <engine>", "how to compute").choices(["analysis", "sim"]).default("analysis"),
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action(async (o: { namespaces?: string; ports?: string; engine: string; output: string }) => {
      const snapshot = await readPolicySnapshot(ctx.store());
      const wanted = o.namespaces ? new Set(o.namespaces.split(",").map((s) => s.trim())) : undefined;
      const inScope = (ns: string | undefined) =>
        ns !== undefined && (wanted ? wanted.has(ns) : !SYSTEM_NAMESPACES.has(ns));
      const pods = snapshot.index.model.endpoints.filter(
        (e) => e.kind === "workload" && e.ips.length > 0 && inScope(e.namespace),
      );
      let ports = o.ports ? parsePorts(o.ports) : undefined;
      if (!ports) {
        const seen = new Map<string, MatrixPort>();
        for (const pod of snapshot.objects.filter((x) => x.kind === "Pod" && inScope(x.metadata.namespace)))
          for (const c of pod.spec?.containers ?? [])
            for (const p of c.ports ?? []) {
              const protocol = protocolNumber(p.protocol ?? "TCP")!;
              seen.set(`${p.containerPort}/${protocol}`, { port: p.containerPort, protocol });
            }
        ports = [...seen.values()].sort((a, b) => a.port - b.port || a.protocol - b.protocol);
        if (ports.length === 0)
          throw new TortieError("Usage", "the pods declare no container ports: pass --ports");
      }
      let cells: MatrixCell[];
      if (o.engine === "sim") {
        const { topology, objects } = await readSimInputs(ctx);
        cells = simMatrixCells(objects, topology, { pods: pods.map(podLabel), ports });
      } else cells = new PolicyMatrix(snapshot.index.model, ports, pods).cellsList();
      if (o.output === "json") {
        ctx.out(`${JSON.stringify({ cells }, null, 2)}\n`);
        return;
      }
      const names = [...new Set(cells.map((c) => c.from))];
      const allowed = new Map(cells.map((c) => [`${c.from}|${c.to}|${c.port}|${c.protocol}`, c.allowed]));
      const width = Math.max(...names.map((n) => n.length));
      const out: string[] = [];
      for (const p of ports) {
        const proto = protocolName(p.protocol);
        out.push(`port ${p.port}/${proto}: row = from, column = to (same order); '.' allowed, 'X' denied`);
        for (const from of names) {
          const row = names
            .map((to) => (allowed.get(`${from}|${to}|${p.port}|${proto}`) ? "." : "X"))
            .join("");
          out.push(`${from.padEnd(width)}  ${row}`);
        }
      }
      ctx.out(`${out.join("\n")}\n`);
    });
  return program;
}
