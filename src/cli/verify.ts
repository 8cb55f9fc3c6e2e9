/**
 * `tortie verify [-o json] [--keep]`: the twin checked against the real kernel. The stored cluster's description
 * is built twice, on a throwaway linux cluster and on a fresh sim, the same probes run on both, and routes, BIRD's
 * routes, iptables rules and counters, conntrack translations and the probes' outcomes are compared. Every
 * difference is printed with where it is; any difference exits 1.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { type ClusterDataplane, clusterDataplane, type KernelFeatures } from "../calc/index.ts";
import { linuxUnavailable, probeKernelFeatures } from "../dataplane/linux/index.ts";
import { escapeControl } from "../lib/index.ts";
import { CommandExit } from "./command-exit.ts";
import type { CliContext } from "./context.ts";
import { readSimInputs } from "./exec.ts";
import { assertBirdAvailable } from "./linux-sync.ts";
import {
  birdSessions,
  type Comparison,
  compareBirdRoutes,
  compareConntrack,
  compareCounters,
  compareProbe,
  compareRoutes,
  compareRuleSets,
  type Divergence,
  divergenceLine,
  emptyComparison,
  type FrontendOf,
  mergeComparison,
  type ProbeOutcome,
} from "./verify-compare.ts";
import { LinuxSide } from "./verify-linux.ts";
import {
  appListeners,
  type Probe,
  planProbes,
  probeLabel,
  randomFrontends,
  serviceFrontends,
} from "./verify-probes.ts";
import { SimSide } from "./verify-sim.ts";

export interface VerifyOptions {
  /** Leave the throwaway linux cluster running (its namespaces and state dir are named on stderr). */
  keep?: boolean;
  /** A test's hook: changes the description the sim builds (never the kernel's), to plant a difference. */
  mutateSim?: (desc: ClusterDataplane) => void;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
  /** The kernel features to render for (probed from the kernel, as kube-proxy does, when absent). */
  features?: KernelFeatures;
  /** How long real BIRD gets to establish the sessions the sim establishes. */
  birdTimeoutMs?: number;
}

export interface VerifyReport {
  probes: number;
  /** Probes whose path involves no random choice: the counters are compared after these. */
  countedProbes: number;
  checks: number;
  /** Counters left out (only real BIRD's keepalives reach them; see compareCounters). */
  excluded: number;
  divergences: Divergence[];
  /** The throwaway linux cluster, when kept. */
  kept?: { cluster: string; stateDir: string };
}

/** Why verify cannot run here (one line), or undefined. */
export function verifyRefusal(): string | undefined {
  if (process.getuid?.() !== 0)
    return "tortie verify: needs root (it builds the cluster in network namespaces with real iptables and BIRD to compare with the sim)";
  const why = linuxUnavailable();
  return why === undefined ? undefined : `tortie verify: ${why}`;
}

/** Runs `f` and turns a failure into a divergence on the side that failed (the other side's text kept). */
async function bothSides(
  where: string,
  what: string,
  sim: () => string,
  linux: () => Promise<string>,
  compare: (s: string, l: string) => Comparison,
): Promise<Comparison> {
  let s: string | undefined;
  let l: string | undefined;
  let simError = "";
  let linuxError = "";
  try {
    s = sim();
  } catch (e) {
    simError = (e as Error).message;
  }
  try {
    l = await linux();
  } catch (e) {
    linuxError = (e as Error).message;
  }
  if (s !== undefined && l !== undefined) return compare(s, l);
  return {
    checks: 1,
    excluded: 0,
    divergences: [
      {
        where,
        what,
        sim: simError ? `error: ${simError}` : "ok",
        linux: linuxError ? `error: ${linuxError}` : "ok",
      },
    ],
  };
}

/** Builds the stored cluster on both dataplanes, probes both and compares them. */
export async function verifyCluster(ctx: CliContext, options: VerifyOptions = {}): Promise<VerifyReport> {
  const say = options.progress ?? (() => {});
  const { topology, objects } = await readSimInputs(ctx);
  // A missing BIRD is a one-line refusal before anything is built, as on `up --dataplane linux`.
  assertBirdAvailable(ctx, topology.hosts);
  const features = options.features ?? (await probeKernelFeatures());
  const desc = clusterDataplane({ objects, topology, features });
  const simDesc = structuredClone(desc);
  options.mutateSim?.(simDesc);

  const probes = planProbes(desc, objects, topology);
  const random = randomFrontends(serviceFrontends(objects, topology));
  const frontend: FrontendOf = (proto, ip, port) => random.get(`${proto}|${ip}|${port}`);
  // Which probes meet kube-proxy's random endpoint choice (a throwaway sim run tells): counters are compared
  // after the others only.
  const randomProbes = new SimSide(objects, topology, simDesc).classify(probes, random);
  const counted = probes.filter((p) => !randomProbes.has(p));
  const rest = probes.filter((p) => randomProbes.has(p));

  const sim = new SimSide(objects, topology, simDesc);
  const total = emptyComparison();
  const birdHosts = desc.hosts.filter((h) => h.bird && !h.birdFailure).map((h) => h.host);
  const expected = new Map(
    birdHosts.map((h) => [h, birdSessions(sim.run(h, ["birdc", "show", "protocols"]))]),
  );
  const namespaces = desc.hosts.flatMap((h) =>
    h.namespaces.map((ns) => ({ name: ns.name, host: ns.kind === "host" })),
  );

  const name = `v${process.pid}`;
  const base = ctx.stateDir ?? tmpdir();
  const stateDir = mkdtempSync(join(base, "verify-"));
  const linux = new LinuxSide(name, stateDir);
  let keep = false;
  const removeThrowaway = async () => {
    await linux.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  };
  // Ctrl-C (or a SIGTERM) midway still removes the throwaway cluster: its namespaces, BIRDs and apps would
  // otherwise outlive verify under a name no `tortie down` knows. A second signal ends verify at once.
  let interrupted: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === "SIGINT" ? 130 : 143;
    if (interrupted) {
      say(`verify: ${signal} again: leaving tt-${name}-… and ${stateDir} behind`);
      process.exit(code);
    }
    say(`verify: ${signal}: removing the throwaway cluster ${name}`);
    interrupted = removeThrowaway().finally(() => process.exit(code));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    say(`verify: building the cluster as ${name} on the linux dataplane (${stateDir})`);
    await linux.apply(desc);
    say(`verify: waiting for BIRD on ${birdHosts.length} hosts and for the apps to listen`);
    const listings = await linux.waitForBird(expected, options.birdTimeoutMs ?? 30_000);
    for (const [host, sessions] of expected) {
      const real = birdSessions(listings.get(host) ?? "");
      for (const [session, up] of sessions) {
        total.checks++;
        const realUp = real.get(session);
        if (realUp === up) continue;
        const line = (listings.get(host) ?? "").split("\n").find((l) => l.startsWith(`${session} `));
        total.divergences.push({
          where: host,
          what: `BGP session ${session}`,
          sim: up ? "Established" : "not established",
          linux:
            realUp === undefined
              ? (line ?? "no such protocol")
              : realUp
                ? "Established"
                : line!.trim().replace(/\s+/g, " "),
        });
      }
    }
    const missing = await linux.waitForListeners(appListeners(desc), options.birdTimeoutMs ?? 30_000);
    for (const [target, ports] of missing)
      for (const port of ports)
        total.divergences.push({
          where: target,
          what: `app listening on ${port}`,
          sim: "listening",
          linux: "not listening",
        });
    await linux.zeroCounters(namespaces.filter((n) => n.host).map((n) => n.name));

    const outcomes = new Map<Probe, { sim: ProbeOutcome; linux: ProbeOutcome }>();
    const runProbes = async (list: Probe[]) => {
      const simOut = new Map(list.map((p) => [p, sim.probe(p)]));
      const linuxOut = await linux.probeAll(list);
      for (const p of list) outcomes.set(p, { sim: simOut.get(p)!, linux: linuxOut.get(p)! });
    };
    say(`verify: ${counted.length} probes on both kernels, then their counters`);
    await runProbes(counted);
    for (const ns of namespaces)
      mergeComparison(
        total,
        await bothSides(
          ns.name,
          "iptables-save -c",
          () => sim.query(ns.name, "iptables", ["iptables-save", "-c"]),
          () => linux.query(ns.name, "iptables"),
          (s, l) => compareCounters(ns.name, s, l, ns.host),
        ),
      );
    say(`verify: ${rest.length} probes through Services with several endpoints`);
    await runProbes(rest);
    for (const p of probes) {
      const o = outcomes.get(p)!;
      mergeComparison(total, compareProbe(p.from, probeLabel(p), o.sim, o.linux));
    }
    for (const ns of namespaces)
      mergeComparison(
        total,
        await bothSides(
          ns.name,
          "conntrack -L",
          () => sim.run(ns.name, ["conntrack", "-L"]),
          () => linux.run(ns.name, ["conntrack", "-L"]),
          (s, l) => compareConntrack(ns.name, s, l, frontend),
        ),
      );
    for (const ns of namespaces) {
      mergeComparison(
        total,
        await bothSides(
          ns.name,
          "routes",
          () => sim.query(ns.name, "routes", ["ip", "-4", "route", "show", "table", "all"]),
          () => linux.query(ns.name, "routes"),
          (s, l) => compareRoutes(ns.name, s, l),
        ),
      );
      mergeComparison(
        total,
        await bothSides(
          ns.name,
          "iptables-save",
          () => sim.query(ns.name, "iptables", ["iptables-save", "-c"]),
          () => linux.query(ns.name, "iptables"),
          (s, l) => compareRuleSets(ns.name, s, l),
        ),
      );
    }
    for (const host of birdHosts)
      mergeComparison(
        total,
        await bothSides(
          host,
          "birdc show route",
          () => sim.run(host, ["birdc", "show", "route"]),
          () => linux.birdc(host, "show", "route"),
          (s, l) => compareBirdRoutes(host, s, l),
        ),
      );
    keep = options.keep === true;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    // Interrupted: the removal under way ends the process; a step that failed meanwhile must not end it first.
    if (interrupted) await interrupted;
    else if (!keep) await removeThrowaway();
  }
  return {
    probes: probes.length,
    countedProbes: counted.length,
    checks: total.checks,
    excluded: total.excluded,
    divergences: total.divergences,
    ...(keep ? { kept: { cluster: name, stateDir } } : {}),
  };
}

/** The legend under the summary: what was compared how, and what was left out on purpose. */
export function verifyLegend(r: VerifyReport): string {
  return [
    `compared: probe outcomes (connected with its HTTP status, refused, timed out, unresolved; names resolved), ip routes, BIRD's routes, iptables rules, conntrack translations (random ports left out), rule counters after the ${r.countedProbes} probes whose path involves no random endpoint choice`,
    "counters: nat exact (one packet per connection); raw, mangle, filter counted or not (a real TCP connection's segment count depends on timing)",
    "not compared: IP sets' members, links, addresses, sysctls, nft tables (the sim has no ipset or nft tool to list them; their effect shows in the probes and counters)",
    `left out: ${r.excluded} host-chain counters only the kernel counted (real BIRD's TCP 179 keepalives cross them; the sim's BGP sessions leave no trace by design); the endpoint kube-proxy picks at random for a Service with several endpoints (shown as <endpoint of NS/NAME>)`,
  ]
    .map((l) => `# ${l}\n`)
    .join("");
}

export function verifyProgram(ctx: CliContext): Command {
  const program = new Command("tortie");
  program
    .command("verify")
    .description(
      "build the cluster on the linux dataplane and on the sim, run the same probes on both and print every divergence (root)",
    )
    .option("-o, --output <format>", "json")
    .option("--keep", "leave the throwaway linux cluster running")
    .action(async (o: { output?: string; keep?: boolean }) => {
      if (o.output !== undefined && o.output !== "json") {
        ctx.err(`error: unknown output format: ${escapeControl(o.output)} (json)\n`);
        throw new CommandExit(2);
      }
      const why = verifyRefusal();
      if (why) {
        ctx.err(`${why}\n`);
        throw new CommandExit(1);
      }
      const r = await verifyCluster(ctx, { keep: o.keep === true, progress: (l) => ctx.err(`${l}\n`) });
      if (o.output === "json")
        ctx.out(
          `${JSON.stringify({ probes: r.probes, checks: r.checks, excluded: r.excluded, divergences: r.divergences }, null, 2)}\n`,
        );
      else {
        for (const d of r.divergences) ctx.out(`${escapeControl(divergenceLine(d))}\n`);
        ctx.out(`verify: ${r.probes} probes, ${r.checks} checks, ${r.divergences.length} divergences\n`);
        ctx.out(verifyLegend(r));
      }
      if (r.kept)
        ctx.err(
          `verify: kept cluster ${r.kept.cluster} (tt-${r.kept.cluster}-…), state in ${r.kept.stateDir}; remove it with: tortie --state-dir ${r.kept.stateDir} down\n`,
        );
      if (r.divergences.length) throw new CommandExit(1);
    });
  return program;
}
