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
import {
  type ClusterDataplane,
  clusterDataplane,
  KERNEL_QUERY_COMMANDS,
  type KernelFeatures,
} from "../calc/index.ts";
import { linuxUnavailable, probeKernelFeatures } from "../dataplane/linux/index.ts";
import { escapeControl } from "../lib/index.ts";
import { CommandExit } from "./command-exit.ts";
import type { CliContext } from "./context.ts";
import { readSimInputs } from "./exec.ts";
import { assertBirdAvailable } from "./linux-sync.ts";
import { BirdPause, PAUSE_QUIET_MS, pauseBudget, pauseWindowMs } from "./verify-bird-pause.ts";
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
import { LinuxSide, PROBE_CONCURRENCY, probeLimitMs } from "./verify-linux.ts";
import {
  appListeners,
  type Probe,
  planProbes,
  probeLabel,
  randomFrontends,
  serviceFrontends,
} from "./verify-probes.ts";
import { SimSide } from "./verify-sim.ts";
import { compareLines, tunnelQueries } from "./verify-tunnels.ts";

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
  /** Counters left out (see compareCounters). */
  excluded: number;
  /**
   * Whether every real BIRD was stopped while the counters counted (then no counter is left out for BGP's sake);
   * otherwise why not, one line.
   */
  birdPaused: true | string;
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

  const budget = pauseBudget(desc);
  // Generous per namespace read (iptables-save and conntrack take milliseconds); a watchdog bounds the rest.
  const windowMs = pauseWindowMs(probes.map(probeLimitMs), PROBE_CONCURRENCY, namespaces.length, 1000);

  const name = `v${process.pid}`;
  const base = ctx.stateDir ?? tmpdir();
  const stateDir = mkdtempSync(join(base, "verify-"));
  const linux = new LinuxSide(name, stateDir);
  let keep = false;
  let pause: BirdPause | undefined;
  let birdPaused: true | string = "not paused";
  // A stopped BIRD is never left behind, whatever ends verify (its own process.exit included).
  const resumeBird = () => pause?.resume();
  process.once("exit", resumeBird);
  const removeThrowaway = async () => {
    await linux.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  };
  // Ctrl-C (or a SIGTERM) midway still removes the throwaway cluster: its namespaces, BIRDs and apps would
  // otherwise outlive verify under a name no `tortie down` knows. A second signal ends verify at once.
  let interrupted: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === "SIGINT" ? 130 : 143;
    resumeBird();
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
    sim.primeWireguard(desc.hosts.map((h) => h.host));
    for (const pair of await linux.waitForWireguard(desc, options.birdTimeoutMs ?? 30_000))
      total.divergences.push({
        where: pair,
        what: "WireGuard handshake",
        sim: "completed",
        linux: "none",
      });
    birdPaused = await (async (): Promise<true | string> => {
      if (!budget) return true; // no BGP session: nothing to pause
      if (budget.seconds <= 0)
        return `not paused: the hold times leave no time for it (hold time ${budget.holdTime} s, keepalive ${budget.keepaliveTime} s)`;
      if (budget.seconds * 1000 < windowMs)
        return `not paused: the probes may take up to ${Math.ceil(windowMs / 1000)} s, more than the ${budget.seconds} s BGP sessions surely survive without keepalives (hold time ${budget.holdTime} s, keepalive ${budget.keepaliveTime} s)`;
      const found = BirdPause.find(stateDir, birdHosts);
      if (typeof found === "string") return `not paused: ${found}`;
      const stopped = new BirdPause(found);
      pause = stopped;
      await stopped.stop();
      // Bound the pause whatever happens: BIRD continues before any hold timer can expire.
      setTimeout(() => {
        if (!stopped.active) return;
        stopped.resume();
        say(
          `verify: BIRD resumed after ${budget.seconds} s, before the probes ended (hold time ${budget.holdTime} s)`,
        );
      }, budget.seconds * 1000).unref();
      say(
        `verify: BIRD paused on ${found.size} hosts (SIGSTOP; probes and reads take at most ${Math.ceil(windowMs / 1000)} s; resumed by ${budget.seconds} s whatever happens: hold time ${budget.holdTime} s, keepalive ${budget.keepaliveTime} s)`,
      );
      await new Promise((r) => setTimeout(r, PAUSE_QUIET_MS));
      return true;
    })();
    if (birdPaused !== true) say(`verify: BIRD ${birdPaused}; host counters on BGP's path compared coarsely`);
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
          // BGP's packets may have crossed a host's chains unless every BIRD was stopped until now.
          (s, l) =>
            compareCounters(ns.name, s, l, ns.host && !(birdPaused === true && (pause?.active ?? true))),
        ),
      );
    if (pause && !pause.active) birdPaused = "resumed by its watchdog before every counter was read";
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
    resumeBird();
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
    // Felix's tunnel state where the description has any: rules, neighbours, fdb entries, WireGuard peers.
    for (const ns of desc.hosts.flatMap((h) => h.namespaces))
      for (const what of tunnelQueries(ns))
        mergeComparison(
          total,
          await bothSides(
            ns.name,
            KERNEL_QUERY_COMMANDS[what].join(" "),
            () => sim.query(ns.name, what, KERNEL_QUERY_COMMANDS[what]),
            () => linux.query(ns.name, what),
            (s, l) => compareLines(ns.name, what, s, l),
          ),
        );
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
    resumeBird();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", resumeBird);
    // Interrupted: the removal under way ends the process; a step that failed meanwhile must not end it first.
    if (interrupted) await interrupted;
    else if (!keep) await removeThrowaway();
  }
  return {
    probes: probes.length,
    countedProbes: counted.length,
    checks: total.checks,
    excluded: total.excluded,
    birdPaused,
    divergences: total.divergences,
    ...(keep ? { kept: { cluster: name, stateDir } } : {}),
  };
}

/** The legend under the summary: what was compared how, and what was left out on purpose. */
export function verifyLegend(r: VerifyReport): string {
  return [
    `compared: probe outcomes (connected with its HTTP status, refused, timed out, unresolved; names resolved), ip routes, BIRD's routes, iptables rules, tunnel state where described (ip rule, permanent neighbours, bridge fdb, wg peers), conntrack translations (random ports left out), rule counters after the ${r.countedProbes} probes whose path involves no random endpoint choice`,
    "counters: nat exact (one packet per connection); raw, mangle, filter counted or not (a real TCP connection's segment count depends on timing)",
    "not compared: IP sets' members, links, addresses, sysctls, nft tables (the sim has no ipset or nft tool to list them; their effect shows in the probes and counters)",
    r.birdPaused === true
      ? "BGP: every real BIRD (if any runs) was stopped (SIGSTOP) from before the counters were zeroed until counters and conntrack were read, so no TCP 179 packet crossed the chains and host counters are compared like the others"
      : `BGP: real BIRD ${r.birdPaused}: host counters outside the endpoint, policy and service chains that only the kernel counted (or counted more, in nat) are left out (real BIRD's TCP 179 packets cross them; the sim's BGP sessions leave no trace by design)`,
    `left out: ${r.excluded} counters (builtin chains' policies where iptables-nft has no hook, no rule using the chain${r.birdPaused === true ? "" : "; host counters on BGP's path, above"}); the endpoint kube-proxy picks at random for a Service with several endpoints (shown as <endpoint of NS/NAME>)`,
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
          `${JSON.stringify({ probes: r.probes, checks: r.checks, excluded: r.excluded, birdPaused: r.birdPaused, divergences: r.divergences }, null, 2)}\n`,
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
