/**
 * `tortie bgp routes HOST [--peer PEER] [--export|--import] [-f FILE] [-o text|json]`: which routes a host's
 * BIRD sends to and accepts from each BGP peer, and the filter statement that decided (file:line and its text).
 * Beyond Calico (calico#9631 asks for it; on Calico users run birdcl on the node). With `-f`, the manifests are
 * laid over the store's objects for the answer and nothing is stored: the routes before the change is applied.
 */
import { Command, Option } from "commander";
import type { SimCluster } from "../agent/index.ts";
import type { ApiObject } from "../api/index.ts";
import { type BgpProtocol, type BirdRoute, formatIpv4, type RouteVerdict } from "../dataplane/sim/index.ts";
import { TortieError } from "../lib/index.ts";
import type { CliContext } from "./context.ts";
import { openSimCluster, saveSimState } from "./exec.ts";
import { prepareForWrite } from "./manifests.ts";
import { formatTable, KUBECTL_STYLE } from "./tabwriter.ts";

interface Opts {
  peer?: string;
  export?: boolean;
  import?: boolean;
  filename?: string;
  output: "text" | "json";
}

interface RouteOut {
  direction: "export" | "import";
  net: string;
  dest: BirdRoute["dest"];
  nexthops: { via?: string; iface?: string }[];
  from: string;
  verdict: "accept" | "reject";
  file: string;
  line: number;
  statement: string;
}

interface PeerOut {
  protocol: string;
  neighbor: string;
  as: number;
  localAs: number;
  state: string;
  info: string;
  routes: RouteOut[];
}

function prefixText(r: BirdRoute): string {
  return `${formatIpv4(r.net.addr)}/${r.net.len}`;
}

function routeOut(direction: RouteOut["direction"], v: RouteVerdict): RouteOut {
  return {
    direction,
    net: prefixText(v.route),
    dest: v.route.dest,
    nexthops: v.route.nexthops.map((n) => ({
      ...(n.gw !== undefined ? { via: formatIpv4(n.gw) } : {}),
      ...(n.iface !== undefined ? { iface: n.iface } : {}),
    })),
    from: v.route.proto,
    verdict: v.decision.accepted ? "accept" : "reject",
    file: v.decision.file,
    line: v.decision.line,
    statement: v.decision.text,
  };
}

/**
 * The routes in prefix order (address, then length), so that the answer reads and diffs the same whatever order
 * BIRD's table holds them in; the paths of one prefix keep BIRD's order (sort is stable).
 */
function byPrefix(verdicts: RouteVerdict[]): RouteVerdict[] {
  return verdicts.sort((a, b) => a.route.net.addr - b.route.net.addr || a.route.net.len - b.route.net.len);
}

/** Objects from `-f` replace the stored object of the same kind, namespace and name, or are added. */
function overlay(objects: ApiObject[], extra: ApiObject[]): ApiObject[] {
  const id = (o: ApiObject) => `${o.apiVersion}|${o.kind}|${o.metadata.namespace ?? ""}|${o.metadata.name}`;
  const replaced = new Map(extra.map((o) => [id(o), o]));
  const out = objects.map((o) => replaced.get(id(o)) ?? o);
  const present = new Set(objects.map(id));
  for (const o of extra) if (!present.has(id(o))) out.push(o);
  return out;
}

/** The answer for one host, as data (`-o json` prints it as is). */
export function bgpRoutes(
  cluster: SimCluster,
  host: string,
  o: { peer?: string; export?: boolean; import?: boolean },
): { host: string; peers: PeerOut[] } {
  if (!cluster.topology.hosts.some((h) => h.name === host))
    throw new TortieError("NotFound", `no host named ${host} in this cluster`);
  const instance = cluster.bgp.instances.get(host);
  const fabric = cluster.bgp.fabric;
  if (!instance || !fabric) {
    const why = cluster.bgp.failures.get(host);
    throw new TortieError("Invalid", `${host} runs no BIRD${why ? `: ${why}` : ""}`);
  }
  const bgp = instance.config.protocols.filter((p): p is BgpProtocol => p.kind === "bgp");
  const chosen =
    o.peer === undefined ? bgp : bgp.filter((p) => p.name === o.peer || formatIpv4(p.neighbor.ip) === o.peer);
  if (o.peer !== undefined && chosen.length === 0)
    throw new TortieError(
      "NotFound",
      `${host} has no BGP peer ${o.peer} (its peers: ${bgp.map((p) => `${p.name} ${formatIpv4(p.neighbor.ip)}`).join(", ") || "none"})`,
    );
  const status = new Map(fabric.protocols(host).map((s) => [s.name, s]));
  const both = !o.export && !o.import;
  return {
    host,
    peers: chosen.map((p) => {
      const s = status.get(p.name);
      const routes: RouteOut[] = [];
      if (both || o.export)
        routes.push(...byPrefix(fabric.exports(host, p.name)).map((v) => routeOut("export", v)));
      if (both || o.import)
        routes.push(...byPrefix(fabric.imports(host, p.name)).map((v) => routeOut("import", v)));
      return {
        protocol: p.name,
        neighbor: formatIpv4(p.neighbor.ip),
        as: p.neighbor.as,
        localAs: p.localAs,
        state: s?.state ?? "down",
        info: (s?.info ?? "").trim(),
        routes,
      };
    }),
  };
}

function viaText(r: RouteOut): string {
  if (r.dest !== "unicast") return r.dest;
  return r.nexthops.map((n) => n.via ?? n.iface ?? "").join(",") || "-";
}

function text(answer: { host: string; peers: PeerOut[] }): string {
  if (answer.peers.length === 0) return `${answer.host}'s BIRD has no BGP peers\n`;
  const blocks: string[] = [];
  for (const p of answer.peers) {
    let block = `${p.protocol}: neighbor ${p.neighbor} AS ${p.as} (local AS ${p.localAs}), ${p.state}${p.info ? ` ${p.info}` : ""}\n`;
    if (p.routes.length === 0) block += "  no routes to decide\n";
    else
      block += formatTable(
        [
          ["DIRECTION", "ROUTE", "VIA", "FROM", "VERDICT", "WHERE", "STATEMENT"],
          ...p.routes.map((r) => [
            r.direction,
            r.net,
            viaText(r),
            r.from,
            r.verdict,
            `${r.file}:${r.line}`,
            r.statement,
          ]),
        ],
        KUBECTL_STYLE,
      );
    blocks.push(block);
  }
  return blocks.join("\n");
}

export function bgpProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  const bgp = program
    .command("bgp")
    .description(
      "BGP as the twin computes it: the routes each BIRD sends and accepts, and why (real BIRD: exec HOST -- birdc)",
    );
  bgp
    .command("routes")
    .description(
      "routes HOST sends to (export) and accepts from (import) each BGP peer, with the filter line that decided",
    )
    .argument("<host>", "a node or an external host that runs BIRD (host1)")
    .option("--peer <peer>", "one peer: its protocol name (Mesh_198_19_0_3, Global_…) or its address")
    .option("--export", "only the routes sent to the peer")
    .option("--import", "only the routes accepted from the peer")
    .option(
      "-f, --filename <file>",
      "evaluate with these manifests laid over the store's objects, before they are applied (nothing is stored, and what controllers would derive from them, such as IPAM blocks, is not there)",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (host: string, o: Opts) => {
      let edit: ((objects: ApiObject[]) => ApiObject[]) | undefined;
      if (o.filename !== undefined) {
        const extra = (await prepareForWrite(ctx, o.filename, undefined, "no objects passed to apply")).map(
          (e) => e.object,
        );
        edit = (objects) => overlay(objects, extra);
      }
      const cluster = await openSimCluster(ctx, edit);
      const answer = bgpRoutes(cluster, host, o);
      for (const reason of cluster.unsupported) ctx.err(`tortie: not programmed on the sim: ${reason}\n`);
      ctx.out(o.output === "json" ? `${JSON.stringify(answer, null, 2)}\n` : text(answer));
      // The sessions came up whether or not anyone looked, so their Since times are kept, as exec keeps them;
      // with -f the cluster is one that does not exist, and nothing is saved.
      if (edit === undefined) saveSimState(ctx, cluster);
    });
  return program;
}
