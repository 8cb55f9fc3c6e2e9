/**
 * `tortie verify`'s linux side: the description built on a throwaway linux cluster (its own name and state
 * subdir, so the user's cluster, on either dataplane, is left alone), real BIRD waited for, and the probes and
 * queries run with the real tools in its namespaces.
 */
import type { ClusterDataplane, KernelQuery } from "../calc/index.ts";
import { LinuxDataplane } from "../dataplane/linux/index.ts";
import { serveAppArgv } from "./linux-sync.ts";
import { birdSessions, curlOutcome, type ProbeOutcome } from "./verify-compare.ts";
import type { Probe } from "./verify-probes.ts";
import { CONNECT_TIMEOUT_MS, DNS_TIMEOUT_MS } from "./verify-sim.ts";

const IPTABLES_TABLES = ["raw", "mangle", "nat", "filter"];

/** curl's --max-time: the apps answer at once, so a probe that connected and got no answer by then never will. */
const CURL_MAX_TIME_S = 3;

/** How many probes run at once on the linux side. */
export const PROBE_CONCURRENCY = 4;

/**
 * The longest a probe may take before it is ended: curl ends itself at its --max-time (a second more for the
 * process); a name lookup gets what the sim's resolver gets (DNS_TIMEOUT_MS), then counts as unresolved, as on
 * the sim. These bound how long verify keeps BIRD paused.
 */
export function probeLimitMs(p: Probe): number {
  return p.kind === "dns" ? DNS_TIMEOUT_MS : (CURL_MAX_TIME_S + 1) * 1000;
}

export class LinuxSide {
  readonly dataplane: LinuxDataplane;

  constructor(
    readonly cluster: string,
    readonly stateDir: string,
  ) {
    this.dataplane = new LinuxDataplane({
      cluster,
      stateDir,
      processArgv: (p) => serveAppArgv(stateDir, p),
    });
  }

  async apply(desc: ClusterDataplane): Promise<void> {
    await this.dataplane.apply({ ...desc, cluster: this.cluster });
  }

  /** A tool's output in a namespace; a failure is one line naming the namespace and the command. */
  async run(target: string, argv: string[], timeoutMs = 10_000): Promise<string> {
    const r = await this.dataplane.run(target, argv, { timeoutMs });
    if (r.code !== 0)
      throw new Error(
        `linux: ${argv.join(" ")} in ${target} failed (${r.code}): ${r.stderr.trim().split("\n")[0]}`,
      );
    return r.stdout;
  }

  query(target: string, what: KernelQuery): Promise<string> {
    return this.dataplane.query(target, what);
  }

  /** `birdc show …` on a host, through its BIRD's own control socket and the birdc matching its BIRD. */
  birdc(host: string, ...words: string[]): Promise<string> {
    return this.run(host, [this.dataplane.birdc(host), "-s", this.dataplane.birdSocket(host), ...words]);
  }

  /**
   * Polls `birdc show protocols` until every session `expected` has Established is Established here too, or
   * `timeoutMs` passed. Returns each host's last listing (or the error that kept it from answering).
   */
  async waitForBird(
    expected: Map<string, Map<string, boolean>>,
    timeoutMs: number,
  ): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    const last = new Map<string, string>();
    for (;;) {
      let pending = false;
      await Promise.all(
        [...expected].map(async ([host, sessions]) => {
          const text = await this.birdc(host, "show", "protocols").catch((e: Error) => `error: ${e.message}`);
          last.set(host, text);
          const real = birdSessions(text);
          for (const [name, up] of sessions) if (up && !real.get(name)) pending = true;
        }),
      );
      if (!pending || Date.now() >= deadline) return last;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * WireGuard sends a peer's first handshake only when traffic asks for it, and wireguard-go retries a lost
   * initiation after 5 s (REKEY_TIMEOUT), longer than a probe's connect timeout; the sim's handshake is at once. So
   * before the probes each node pings every peer's interface address through its device until `wg show DEV
   * latest-handshakes` has them all, or `timeoutMs` passed, and then drops the conntrack entries of the pings and of
   * the WireGuard UDP flows they opened (the counters are zeroed later), so the probes' first packets are new
   * connections on both kernels; the sim's sessions are primed the same way (SimSide.primeWireguard). Returns the
   * peers still without a handshake.
   */
  async waitForWireguard(desc: ClusterDataplane, timeoutMs: number): Promise<string[]> {
    const devices = desc.hosts.flatMap((h) => {
      const ns = h.namespaces.find((n) => n.kind === "host");
      const link = ns?.links.find((l) => l.kind === "wireguard" && l.wireguard);
      const address = link && ns?.addresses.find((a) => a.dev === link.name)?.cidr.split("/")[0];
      return link?.wireguard && address
        ? [{ host: h.host, dev: link.name, wg: link.wireguard, address }]
        : [];
    });
    const byKey = new Map(devices.map((d) => [d.wg.publicKey, d]));
    const deadline = Date.now() + timeoutMs;
    let missing: string[] = [];
    for (;;) {
      missing = [];
      await Promise.all(
        devices.map(async (d) => {
          const text = await this.run(d.host, ["wg", "show", d.dev, "latest-handshakes"]).catch(() => "");
          const done = new Set(
            text
              .split("\n")
              .map((l) => l.trim().split(/\s+/))
              .filter((w) => w.length === 2 && w[1] !== "0")
              .map((w) => w[0]),
          );
          for (const peer of d.wg.peers) {
            const other = byKey.get(peer.publicKey);
            if (!other || done.has(peer.publicKey)) continue;
            missing.push(`${d.host} ↔ ${other.host}`);
            await this.dataplane.run(d.host, ["ping", "-c", "1", "-W", "1", other.address], {
              timeoutMs: 3000,
            });
          }
        }),
      );
      if (!missing.length || Date.now() >= deadline) break;
    }
    // conntrack -D exits 1 when nothing matched; either way the entries are gone.
    await Promise.all(
      devices.flatMap((d) =>
        [
          ["-p", "icmp"],
          ["-p", "udp", "--dport", String(d.wg.listenPort)],
          ["-p", "udp", "--sport", String(d.wg.listenPort)],
        ].map((match) => this.dataplane.run(d.host, ["conntrack", "-D", ...match], { timeoutMs: 5000 })),
      ),
    );
    return missing;
  }

  /**
   * Polls `ss -Hltnu` in each namespace until every port `listening` names is listening there (the apps are
   * processes that take a moment to start), or `timeoutMs` passed. Returns what is still missing.
   */
  async waitForListeners(
    listening: Map<string, string[]>,
    timeoutMs: number,
  ): Promise<Map<string, string[]>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = new Map<string, string[]>();
      await Promise.all(
        [...listening].map(async ([target, ports]) => {
          const text = await this.run(target, ["ss", "-Hltnu"]).catch(() => "");
          const open = new Set(
            text
              .split("\n")
              .map((l) => l.trim().split(/\s+/))
              .filter((w) => w.length > 4)
              .map((w) => `${w[0]}:${w[4]!.replace(/^.*:/, "")}`),
          );
          const left = ports.filter((p) => !open.has(p));
          if (left.length) missing.set(target, left);
        }),
      );
      if (!missing.size || Date.now() >= deadline) return missing;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Zeroes every rule counter in the hosts' namespaces, so they count the probes only (the sim's start at zero,
   * its BGP sessions leaving no trace; verify has stopped every real BIRD first). Conntrack is kept: flushing it
   * would make BIRD's first keepalive after the pause a new connection through the nat table.
   */
  async zeroCounters(targets: string[]): Promise<void> {
    await Promise.all(
      targets.map(async (t) => {
        for (const table of IPTABLES_TABLES) await this.run(t, ["iptables", "-w", "5", "-t", table, "-Z"]);
      }),
    );
  }

  /** One probe with the real tools: curl (connect timeout CONNECT_TIMEOUT_MS) or getaddrinfo (`getent ahostsv4`). */
  async probe(p: Probe): Promise<ProbeOutcome> {
    if (p.kind === "dns") {
      const r = await this.dataplane.run(p.from, ["getent", "ahostsv4", p.target], {
        timeoutMs: probeLimitMs(p),
      });
      const ip = r.code === 0 ? r.stdout.split(/\s+/)[0] : undefined;
      return ip ? { kind: "address", ip } : { kind: "unresolved" };
    }
    const argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"];
    argv.push(
      "--connect-timeout",
      String(CONNECT_TIMEOUT_MS / 1000),
      "--max-time",
      String(CURL_MAX_TIME_S),
      p.target,
    );
    const r = await this.dataplane.run(p.from, argv, { timeoutMs: probeLimitMs(p) });
    return curlOutcome(r.code, r.stdout);
  }

  /** The probes, a few at a time (each is a process in a namespace). */
  async probeAll(probes: Probe[], concurrency = PROBE_CONCURRENCY): Promise<Map<Probe, ProbeOutcome>> {
    const out = new Map<Probe, ProbeOutcome>();
    let next = 0;
    const worker = async () => {
      while (next < probes.length) {
        const p = probes[next++]!;
        out.set(p, await this.probe(p).catch((e: Error) => ({ kind: "error" as const, detail: e.message })));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, probes.length) }, worker));
    return out;
  }

  destroy(): Promise<void> {
    return this.dataplane.destroy();
  }
}
