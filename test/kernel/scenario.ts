/**
 * One differential scenario: the same topology, rules and flows in Linux namespaces and in the sim, and every
 * difference between the two.
 *
 * The kernel side runs real sockets (test/kernel/netns-tool.py) while a capture in the router records every
 * IPv4 packet that enters or leaves it. The sim side runs twice:
 * - the **model**: the sim's own exchanges (`tcpExchange`, `udpExchange`, `ping`), whose outcome (the response,
 *   which names the client address the server saw, or refused / timeout) must equal the real client's;
 * - the **replay**: every packet the router received, in the order it received them, sent from the same
 *   namespace in the sim. Each must be forwarded or dropped as the kernel did, with the same addresses and
 *   ports after NAT; afterwards `iptables-save -c` (every rule's and policy's packet and byte counters) and
 *   `conntrack -L` must be equal. Replaying the kernel's own packets is what makes counters comparable: a real
 *   TCP connection's segment count depends on timing (delayed ACKs, retransmissions), so the model's nine
 *   segments need not match it, but the replayed packets are the same packets.
 *
 * What cannot be compared, and why: a port or ICMP id chosen at random (`MASQUERADE --random-fully`, or a
 * clash) differs between the two; when both sides remapped it, the replay maps the kernel's choice to the
 * sim's for the rest of the flow and in `conntrack -L`. Conntrack timeouts, ids, marks and `use` are not
 * compared (they depend on wall-clock time and on kernel internals).
 */
import {
  formatIpv4,
  type Kernel,
  Network,
  parseIpv4,
  ping,
  tcpExchange,
  udpExchange,
} from "../../src/dataplane/sim/index.ts";
import type { Packet } from "../../src/dataplane/sim/netfilter/index.ts";
import { seededRandom } from "../../src/lib/index.ts";
import { Background, bash, PYTHON, run, TOOL } from "./kernel-run.ts";
import {
  buildSimTopology,
  kernelBuildScript,
  kernelTeardownScript,
  netnsName,
  type TopologySpec,
} from "./topology.ts";

export interface Flow {
  from: string;
  proto: "tcp" | "udp" | "icmp";
  dst: string;
  /** 0 for ICMP. */
  dport: number;
}

export interface Scenario {
  spec: TopologySpec;
  router: string;
  /** Namespaces that answer, and on which ports. */
  servers: Record<string, { tcp: number[]; udp: number[] }>;
  iptables: string;
  ipsets?: string;
  /** nfacct objects the rules name (kube-proxy creates them before it restores). */
  nfacct?: string[];
  flows: Flow[];
}

export interface Outcome {
  ok: boolean;
  response?: string;
  error?: string;
}

export interface ScenarioResult {
  divergences: string[];
  kernelOutcomes: Outcome[];
  simOutcomes: Outcome[];
  packets: number;
  /** The kernel's `iptables-save -c` (without comment lines), for messages. */
  kernelSave: string;
}

/** Generous: a loaded machine can take half a second to answer a SYN between namespaces. */
const FLOW_TIMEOUT_MS = 1500;
const PAYLOAD = "hello\n";

interface Captured {
  t: number;
  dev: string;
  dir: "in" | "out";
  len: number;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  type: number;
  code: number;
  fp: string;
}

function response(req: { src: number }): string {
  return `${formatIpv4(req.src)}\n`;
}

function loadSim(kernels: Map<string, Kernel>, s: Scenario): string | undefined {
  const router = kernels.get(s.router)!;
  try {
    if (s.ipsets) router.ipsets.restore(s.ipsets);
    router.netfilter.restore(s.iptables);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

function outcomeText(o: Outcome): string {
  return o.ok ? `ok ${JSON.stringify(o.response)}` : `failed: ${o.error}`;
}

/** Runs the scenario on both sides and lists every difference. `prefix` names the namespaces (tdiff-…). */
export async function runScenario(s: Scenario, prefix: string, seed = 1): Promise<ScenarioResult> {
  const divergences: string[] = [];
  const model = buildSimTopology(s.spec);
  const replay = buildSimTopology(s.spec);
  const simError = loadSim(model, s);
  loadSim(replay, s);
  for (const [ns, ports] of Object.entries(s.servers)) {
    const k = model.get(ns)!;
    for (const port of ports.tcp) k.listen({ protocol: "tcp", port, handle: response });
    for (const port of ports.udp) k.listen({ protocol: "udp", port, handle: response });
  }

  const background: Background[] = [];
  const ns = (name: string) => netnsName(prefix, name);
  let kernelOutcomes: Outcome[] = [];
  let capture: Captured[] = [];
  let kernelSave = "";
  let kernelConntrack = "";
  let last = Date.now();
  const phase = (name: string) => {
    if (process.env.TDIFF_DEBUG) console.log(`${prefix} ${name}: ${Date.now() - last} ms`);
    last = Date.now();
  };
  try {
    await bash(kernelBuildScript(s.spec, prefix));
    phase("namespaces");
    const cap = new Background(ns(s.router), ["capture"]);
    background.push(cap);
    background.push(
      new Background(undefined, [
        "serve",
        ...Object.entries(s.servers).map(([name, p]) => `${ns(name)}:${p.tcp.join(",")}:${p.udp.join(",")}`),
      ]),
    );
    await Promise.all(background.map((b) => b.ready()));
    phase("capture and servers");
    const rns = ns(s.router);
    if (s.ipsets) await bash(`ip netns exec ${rns} ipset restore <<'EOF'\n${s.ipsets}\nEOF`);
    for (const name of s.nfacct ?? []) await bash(`ip netns exec ${rns} nfacct add ${name}`);
    const restored = await run("ip", ["netns", "exec", rns, "iptables-restore", "-w", "5"], {
      input: s.iptables,
    });
    if ((restored.code === 0) !== (simError === undefined)) {
      divergences.push(
        `iptables-restore: kernel ${restored.code === 0 ? "accepted" : `rejected (${restored.err.trim()})`}, sim ${simError === undefined ? "accepted" : `rejected (${simError})`}`,
      );
      return { divergences, kernelOutcomes, simOutcomes: [], packets: 0, kernelSave };
    }
    if (restored.code !== 0) return { divergences, kernelOutcomes, simOutcomes: [], packets: 0, kernelSave };

    phase("rules");
    // All flows at once, each from its namespace (one client process enters them thread by thread).
    const batch = s.flows.map((f, i) => ({
      ...f,
      ns: ns(f.from),
      timeout: FLOW_TIMEOUT_MS / 1000,
      payload: PAYLOAD,
      id: 0x1000 + i,
    }));
    const clients = await run(PYTHON, [TOOL, "client", JSON.stringify(batch)], {
      timeoutMs: 10000 + FLOW_TIMEOUT_MS,
    });
    if (clients.code !== 0) throw new Error(`the clients failed: ${clients.err}`);
    kernelOutcomes = clients.out
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Outcome);
    phase("flows");
    // Quiesce: no packet can reach the router once its peers' links are down, so the capture, the counters
    // and the conntrack table all describe the same packets.
    await bash(
      s.spec.veths
        .flatMap((v) => v.filter((end) => end.ns !== s.router))
        .map((end) => `ip -n ${ns(end.ns)} link set ${end.dev} down`)
        .join("; "),
    );
    await new Promise((r) => setTimeout(r, 50));
    await cap.stop();
    capture = cap.lines.filter((l) => (l as Captured).fp !== undefined) as Captured[];
    kernelSave = (await bash(`ip netns exec ${rns} iptables-save -c`))
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("\n");
    kernelConntrack = (await run("ip", ["netns", "exec", rns, "conntrack", "-L"])).out;
    phase("capture, counters, conntrack");
  } finally {
    await Promise.all(background.map((b) => b.stop()));
    await run("bash", ["-c", kernelTeardownScript(s.spec, prefix)]);
    phase("teardown");
  }

  // The model: the sim's own exchanges.
  const modelNet = new Network(seededRandom(seed));
  const simOutcomes: Outcome[] = s.flows.map((f, i) => {
    const client = model.get(f.from)!;
    const dst = parseIpv4(f.dst)!;
    const r =
      f.proto === "tcp"
        ? tcpExchange(modelNet, client, dst, f.dport, PAYLOAD, { connectTimeoutMs: FLOW_TIMEOUT_MS })
        : f.proto === "udp"
          ? udpExchange(modelNet, client, dst, f.dport, PAYLOAD, { timeoutMs: FLOW_TIMEOUT_MS })
          : ping(modelNet, client, dst, 0x1000 + i);
    modelNet.now += 1000;
    return r.ok ? { ok: true, response: r.response } : { ok: false, error: r.error };
  });
  s.flows.forEach((f, i) => {
    const k = kernelOutcomes[i];
    const m = simOutcomes[i]!;
    if (!k || outcomeText(k) !== outcomeText(m))
      divergences.push(
        `flow ${i + 1} ${f.from} → ${f.proto} ${f.dst}${f.dport ? `:${f.dport}` : ""}: kernel ${k ? outcomeText(k) : "(no outcome)"}, sim ${outcomeText(m)}`,
      );
  });

  // The replay: the kernel's own packets through the sim, then counters and conntrack.
  const { alias, now: replayNow } = replayCapture(s, replay, capture, divergences);
  const router = replay.get(s.router)!;
  const kernelTables = splitTables(kernelSave);
  for (const [table, text] of kernelTables) {
    const sim = router.netfilter.save({ table: table as "filter", counters: true }).trimEnd();
    if (sim !== text) divergences.push(`iptables-save -c -t ${table} differs:\n${lineDiff(text, sim)}`);
  }
  for (const table of ["filter", "nat", "mangle", "raw"] as const)
    if (router.netfilter.used(table) && !kernelTables.has(table))
      divergences.push(`iptables-save: the sim has a ${table} table, the kernel none`);
  const kct = normalizeConntrack(kernelConntrack, alias);
  const sct = normalizeConntrack(router.conntrack.list(replayNow).join("\n"), new Map());
  if (kct.join("\n") !== sct.join("\n"))
    divergences.push(`conntrack -L differs:\n${lineDiff(kct.join("\n"), sct.join("\n"))}`);
  return { divergences, kernelOutcomes, simOutcomes, packets: capture.length, kernelSave };
}

function aliasKey(proto: number, ip: string, port: number): string {
  return `${proto}|${ip}|${port}`;
}

/**
 * Sends every packet the kernel's router received through the sim's router, from the namespace it came from,
 * and compares what left. Returns the port aliases (kernel's random choice → sim's) for conntrack.
 */
function replayCapture(
  s: Scenario,
  kernels: Map<string, Kernel>,
  capture: Captured[],
  divergences: string[],
): { alias: Map<string, number>; now: number } {
  const peerOf = new Map<string, string>();
  for (const [a, b] of s.spec.veths) {
    if (a.ns === s.router) peerOf.set(a.dev, b.ns);
    if (b.ns === s.router) peerOf.set(b.dev, a.ns);
  }
  const outs = new Map<string, Captured[]>();
  for (const c of capture)
    if (c.dir === "out") {
      const list = outs.get(c.fp) ?? [];
      list.push(c);
      outs.set(c.fp, list);
    }
  const alias = new Map<string, number>();
  const net = new Network(seededRandom(7));
  const t0 = capture[0]?.t ?? 0;
  const header = (ns: string, proto: number, src: string, sport: number, dst: string, dport: number) =>
    `${ns}: ${proto === 6 ? "tcp" : proto === 17 ? "udp" : "icmp"} ${src}:${sport} > ${dst}:${dport}`;
  const failures = new Map<string, number>();
  for (const c of capture) {
    if (c.dir !== "in") continue;
    const from = peerOf.get(c.dev);
    if (!from) continue;
    let dport = c.dport;
    let sport = c.sport;
    // A packet towards a port the kernel chose at random goes to the port the sim chose.
    if (c.proto === 1) sport = alias.get(aliasKey(1, c.dst, c.sport)) ?? sport;
    else dport = alias.get(aliasKey(c.proto, c.dst, c.dport)) ?? dport;
    const p: Packet = {
      src: parseIpv4(c.src)!,
      dst: parseIpv4(c.dst)!,
      proto: c.proto,
      sport,
      dport,
      len: c.len,
      mark: 0,
      tcpFlags: c.flags,
      icmpType: c.type,
      icmpCode: c.code,
    };
    net.now = Math.max(net.now, Math.round((c.t - t0) / 1e6));
    const d = net.send(kernels.get(from)!, p);
    const kout = outs.get(c.fp)?.shift();
    const what = `${header(from, c.proto, c.src, c.sport, c.dst, c.dport)} flags ${c.flags}`;
    const simText =
      d.kind === "delivered"
        ? header(
            d.kernel.name,
            d.packet.proto,
            formatIpv4(d.packet.src),
            d.packet.sport,
            formatIpv4(d.packet.dst),
            d.packet.proto === 1 ? 0 : d.packet.dport,
          )
        : "not forwarded";
    const kernelText = kout
      ? header(
          peerOf.get(kout.dev) ?? kout.dev,
          kout.proto,
          kout.src,
          kout.sport,
          kout.dst,
          kout.proto === 1 ? 0 : kout.dport,
        )
      : "not forwarded";
    if (process.env.TDIFF_DEBUG) console.log(`${what}\n    kernel: ${kernelText}\n    sim:    ${simText}`);
    if (simText === kernelText) continue;
    const simWhy =
      d.kind === "delivered" ? "" : ` (${d.kind} at ${d.host}${"reason" in d ? `: ${d.reason}` : ""})`;
    if (kout && d.kind === "delivered") {
      // Both remapped the source port (or ICMP id) of a new connection: a random choice on each side.
      const same =
        peerOf.get(kout.dev) === d.kernel.name &&
        kout.src === formatIpv4(d.packet.src) &&
        kout.dst === formatIpv4(d.packet.dst) &&
        (kout.proto === 1 || kout.dport === d.packet.dport);
      if (same && kout.sport !== c.sport && d.packet.sport !== c.sport) {
        alias.set(aliasKey(kout.proto, kout.src, kout.sport), d.packet.sport);
        continue;
      }
      if (same && alias.get(aliasKey(kout.proto, kout.src, kout.sport)) === d.packet.sport) continue;
    }
    const key = `${what}\n    kernel: ${kernelText}\n    sim:    ${simText}${simWhy}`;
    failures.set(key, (failures.get(key) ?? 0) + 1);
  }
  for (const [key, n] of failures) divergences.push(`packet ${key}${n > 1 ? `\n    (${n} times)` : ""}`);
  for (const [fp, left] of outs)
    for (const o of left)
      divergences.push(
        `the kernel's router sent a packet the sim has no counterpart for: ${fp} ${JSON.stringify(o)}`,
      );
  return { alias, now: net.now };
}

function splitTables(save: string): Map<string, string> {
  const tables = new Map<string, string>();
  let name = "";
  let lines: string[] = [];
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) {
      name = line.slice(1);
      lines = [line];
    } else if (name) {
      lines.push(line);
      if (line === "COMMIT") {
        tables.set(name, lines.join("\n"));
        name = "";
      }
    }
  }
  return tables;
}

/**
 * `conntrack -L` lines without what is not compared (timeout, mark, use, zone, id), sorted; a reply tuple's
 * port or ICMP id that the kernel chose at random is replaced by the sim's choice.
 */
export function normalizeConntrack(text: string, alias: Map<string, number>): string[] {
  const lines: string[] = [];
  for (const raw of text.split("\n")) {
    const w = raw.trim().split(/\s+/);
    if (w.length < 4 || !/^\d+$/.test(w[1] ?? "")) continue;
    const proto = Number(w[1]);
    const kept: string[] = [w[0]!];
    let tuples = 0;
    let replyDst = "";
    for (const word of w.slice(3)) {
      if (/^(mark|use|zone|id)=/.test(word) && !(word.startsWith("id=") && proto === 1)) continue;
      if (word.startsWith("src=")) tuples++;
      if (tuples === 2 && word.startsWith("dst=")) replyDst = word.slice(4);
      if (tuples === 2 && (word.startsWith("dport=") || (proto === 1 && word.startsWith("id=")))) {
        const [k, v] = word.split("=") as [string, string];
        const mapped = alias.get(aliasKey(proto, replyDst, Number(v)));
        kept.push(mapped === undefined ? word : `${k}=${mapped}`);
        continue;
      }
      kept.push(word);
    }
    lines.push(kept.join(" "));
  }
  return lines.sort();
}

/** Lines only in the kernel's text (`- `) and only in the sim's (`+ `). */
export function lineDiff(kernel: string, sim: string): string {
  const a = kernel.split("\n");
  const b = sim.split("\n");
  const out: string[] = [];
  for (const l of a) if (!b.includes(l)) out.push(`  - kernel: ${l}`);
  for (const l of b) if (!a.includes(l)) out.push(`  + sim:    ${l}`);
  return out.length ? out.join("\n") : "  (same lines, different order)";
}
