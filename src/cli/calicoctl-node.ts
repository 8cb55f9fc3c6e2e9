/**
 * `calicoctl node status` (calicoctl/calicoctl/commands/node/status.go): on a node, asks that node's BIRD for
 * `show protocols` over its control socket and prints the BGP peers in go-pretty's box table.
 */
import type { Command } from "commander";
import { type ClusterTopology, readTopology } from "../control/index.ts";
import { TortieError, UnsupportedError } from "../lib/index.ts";
import { boxTable } from "./box-table.ts";
import type { CliContext } from "./context.ts";
import { CommandExit, openSimCluster, saveSimState } from "./exec.ts";

/** status.go's bgpPeerRegex and bgpTypeMap. */
const PEER_NAME = /^(Global|Node|Mesh)_(.+)$/;
const PEER_TYPE: Record<string, string> = {
  Global: "global",
  Mesh: "node-to-node mesh",
  Node: "node specific",
};
const EXPECTED_HEADINGS = ["name", "proto", "table", "state", "since", "info"];

interface BgpPeerRow {
  peerIp: string;
  peerType: string;
  state: string;
  since: string;
  bgpState: string;
  info: string;
}

/** status.go's unmarshalBIRD: one row of BIRD's protocol table, if it is a Calico BGP peer. */
export function parsePeerLine(line: string, ipSep: string): BgpPeerRow | undefined {
  const columns = line.trim().split(/\s+/);
  if (columns.length < 6 || columns[1] !== "BGP") return undefined;
  const m = PEER_NAME.exec(columns[0]!);
  if (!m) return undefined;
  return {
    peerIp: m[2]!.replaceAll("_", ipSep),
    peerType: PEER_TYPE[m[1]!]!,
    state: columns[3]!,
    since: columns[4]!,
    bgpState: columns[5]!,
    info: columns.slice(6).join(" "),
  };
}

/**
 * status.go's scanBIRDPeers over birdcl's text (the reply codes are what birdcl strips: the greeting, the
 * 2002 heading, then the rows). An unexpected heading is calicoctl's own error.
 */
export function scanBirdPeers(text: string, ipSep: string): BgpPeerRow[] {
  const lines = text.split("\n").filter((l) => l !== "");
  const peers: BgpPeerRow[] = [];
  for (const [i, line] of lines.entries()) {
    if (i === 0 && /^BIRD .* ready\.$/.test(line)) continue;
    if (i <= 1 && /^name\s/i.test(line)) {
      const f = line.trim().split(/\s+/);
      if (f.join(" ") !== EXPECTED_HEADINGS.join(" "))
        throw new TortieError("Invalid", "error executing command: unknown BIRD table output format");
      continue;
    }
    const peer = parsePeerLine(line, ipSep);
    if (peer) peers.push(peer);
  }
  return peers;
}

/** printPeers: go-pretty's default style, headers upper-cased. */
export function formatPeers(peers: BgpPeerRow[]): string {
  return boxTable(
    ["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"],
    peers.map((p) => [
      p.peerIp,
      p.peerType,
      p.state,
      p.since,
      p.info ? `${p.bgpState} ${p.info}` : p.bgpState,
    ]),
  );
}

/** Where `show protocols` comes from: the sim's BIRD, or the real BIRD of a linux cluster's node. */
interface BirdSource {
  topology: ClusterTopology;
  /** birdcl's reply, or undefined when the host's BIRD is not running. */
  protocols(host: string): Promise<{ code: number; out: string } | undefined>;
  /** After the command: the sim saves what its BGP speakers remember. */
  done(): void;
}

async function simBirdSource(ctx: CliContext): Promise<BirdSource> {
  const cluster = await openSimCluster(ctx);
  return {
    topology: cluster.topology,
    protocols: async (host) => {
      const fabric = cluster.bgp.fabric;
      if (!fabric || !cluster.bgp.instances.has(host)) return undefined;
      return fabric.birdc(host, ["show", "protocols"]);
    },
    done: () => saveSimState(ctx, cluster),
  };
}

async function linuxBirdSource(ctx: CliContext, topology: ClusterTopology): Promise<BirdSource> {
  const { linuxBirdProtocols } = await import("./exec-linux.ts");
  return {
    topology,
    protocols: async (host) => {
      const r = await linuxBirdProtocols(ctx, host);
      return r && { code: r.code, out: r.code === 0 ? r.stdout : `${r.stderr}${r.stdout}` };
    },
    done: () => {},
  };
}

async function nodeStatus(ctx: CliContext, node: string | undefined): Promise<void> {
  const host = node ?? ctx.onHost?.name;
  if (host === undefined)
    throw new TortieError(
      "Usage",
      "calicoctl node status runs on a node: tortie exec NODE -- sudo calicoctl node status, or tortie calicoctl node status --node NODE",
    );
  // enforceRoot(): the message goes to stdout, as calicoctl prints it.
  if (ctx.onHost && !ctx.onHost.root) {
    ctx.out("Need super user privileges: Operation not permitted\n");
    throw new CommandExit(1);
  }
  const stored = await readTopology(ctx.store());
  const source =
    stored?.dataplane === "linux" ? await linuxBirdSource(ctx, stored) : await simBirdSource(ctx);
  const h = source.topology.hosts.find((x) => x.name === host);
  if (!h) throw new TortieError("NotFound", `no host named ${host} in this cluster`);
  if (h.role === "external") throw new TortieError("Invalid", "Calico process is not running.");
  let out = "Calico process is running.\n";
  const reply = await source.protocols(host);
  if (!reply) out += "\nThe BGP backend process (BIRD) is not running.\n";
  else {
    out += "\nIPv4 BGP status\n";
    if (reply.code !== 0) throw new TortieError("Invalid", `error executing command: ${reply.out.trim()}`);
    const peers = scanBirdPeers(reply.out, ".");
    out += peers.length ? formatPeers(peers) : "No IPv4 peers found.\n";
    // bird6 runs beside bird on calico-node; the cluster's hosts have no IPv6 addresses, so it has no peers.
    out += "\nIPv6 BGP status\nNo IPv6 peers found.\n";
  }
  ctx.out(`${out}\n`);
  source.done();
}

/** `calicoctl node status`; the other `node` subcommands are not built. */
export function addNodeCommands(program: Command, ctx: CliContext): void {
  const node = program
    .command("node")
    .description("Calico node management: status (BGP peers of the node it runs on)");
  node
    .command("status")
    .description("the BGP peers of the node's BIRD (run on a node, or name it with --node)")
    .option("--node <name>", "the node to ask (tortie's addition; calicoctl asks the node it runs on)")
    .option("--allow-version-mismatch", "accepted for compatibility; tortie has one version")
    .action((o: { node?: string }) => nodeStatus(ctx, o.node));
  for (const verb of ["diags", "checksystem", "run"])
    node
      .command(verb)
      .description(`not supported yet: calicoctl node ${verb}`)
      .allowUnknownOption()
      .argument("[args...]")
      .action(() => {
        throw new UnsupportedError(`calicoctl node ${verb}`);
      });
}
