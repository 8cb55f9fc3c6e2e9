/**
 * `tortie trace`: one connection's first packet and its answer through the emulated kernels, every hop, rule,
 * translation and policy decision recorded, and the verdict with the place it was reached.
 */
import {
  type Delivery,
  formatIpv4,
  type ProbeProtocol,
  probe,
  probeLabel,
  type Trace,
  type TraceRoute,
} from "../dataplane/sim/index.ts";
import type { FelixOrigins, RuleOrigin } from "../render/index.ts";
import type { SimCluster } from "./sim-cluster.ts";

export interface TraceRequest {
  /** The sending namespace: a host name or NS/POD, as `SimCluster.kernel` knows it. */
  from: string;
  /** The destination address (IPv4, as a number) and how the user named it. */
  to: number;
  toLabel: string;
  proto: ProbeProtocol;
  /** 0 for ICMP. */
  port: number;
}

export type TracePath = "request" | "reply";
export type TraceVerdict = "delivered" | "dropped" | "rejected" | "unreachable";

export interface TraceHopOut {
  seq: number;
  path: TracePath;
  host: string;
  stage: string;
  detail: string;
  in?: string;
  out?: string;
  route?: TraceRoute;
  conntrack?: { state: string; reply: boolean };
}

export interface TraceRuleOut {
  seq: number;
  path: TracePath;
  host: string;
  hook: string;
  table: string;
  chain: string;
  /** 1-based, as `iptables -L --line-numbers` counts. */
  rule: number;
  target: string;
  /** The rule as `iptables -S` prints it. */
  text: string;
  comment?: string;
}

export interface TraceNatOut {
  seq: number;
  path: TracePath;
  host: string;
  kind: string;
  from: string;
  to: string;
}

/** A policy hit with Calico's flow-log field names and values (goldmane's `PolicyHit` as whisker prints it). */
export interface CalicoPolicyHit {
  kind: string;
  name: string;
  namespace: string;
  tier: string;
  action: string;
  policy_index: number;
  rule_index: number;
  trigger: CalicoPolicyHit | null;
}

/** One policy decision: CLI.md's fields, Calico's `PolicyHit` fields, and the iptables rule it came from. */
export interface TracePolicyOut extends CalicoPolicyHit {
  seq: number;
  path: TracePath;
  host: string;
  direction: "ingress" | "egress";
  /** The endpoint whose policy decided (NS/POD for a workload). */
  endpoint?: string;
  /** What decided: a policy, a profile, the end of a tier, a failsafe rule, no profile, a default action. */
  origin: RuleOrigin["kind"];
  /** The policy's name as tortie and Felix know it (`knp.default.NAME` for a Kubernetes policy). */
  policy?: string;
  /** The rule's index within the policy's rules of that direction (0-based, as Calico counts), if a rule decided. */
  rule: number | null;
  iptables: { table: string; chain: string; rule: number; text: string };
}

/** What Calico's flow log for this connection would carry at one reporter (Src: egress, Dst: ingress). */
export interface TraceFlowLog {
  reporter: "Src" | "Dst";
  host: string;
  endpoint?: string;
  action: string;
  policies: { enforced: CalicoPolicyHit[]; pending: CalicoPolicyHit[] };
}

export interface TraceWhere {
  path: TracePath;
  host: string;
  reason: string;
  hook?: string;
  table?: string;
  chain?: string;
  rule?: number;
  text?: string;
  comment?: string;
}

export interface TraceReport {
  from: string;
  to: string;
  protocol: ProbeProtocol;
  verdict: TraceVerdict;
  /** Where the verdict was reached (absent when delivered). */
  where?: TraceWhere;
  /** The first packet and the answer, as labels ("TCP SYN", "TCP SYN-ACK"). */
  request: { packet: string; src: string; dst: string; result: TraceVerdict };
  reply?: { packet: string; result: TraceVerdict };
  hops: TraceHopOut[];
  rules: TraceRuleOut[];
  nat: TraceNatOut[];
  policy: TracePolicyOut[];
  flow_logs: TraceFlowLog[];
  /** What the sim leaves out of this cluster (SimCluster.unsupported). */
  unsupported: string[];
  /** What Felix ignores with a warning, as the sim does (SimCluster.warnings). */
  warnings: string[];
}

/** One node's origins, looked up by the table name a rule hit carries (nat has none). */
type OriginsByTable = Partial<Record<string, FelixOrigins[keyof FelixOrigins]>>;

function originsOf(cluster: SimCluster, host: string): OriginsByTable | undefined {
  return cluster.felixOrigins.get(host);
}

function endpointText(ip: number, port: number, proto: ProbeProtocol): string {
  return proto === "icmp" ? formatIpv4(ip) : `${formatIpv4(ip)}:${port}`;
}

function ruleComment(text: string): string | undefined {
  const m = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(text);
  return m ? (m[1] ?? m[2])!.replace(/\\(.)/g, "$1") : undefined;
}

const CALICO_KIND: Record<string, string> = {
  KubernetesNetworkPolicy: "NetworkPolicy",
  NetworkPolicy: "CalicoNetworkPolicy",
  GlobalNetworkPolicy: "GlobalNetworkPolicy",
  Profile: "Profile",
};

const CALICO_ACTION: Record<string, string> = { allow: "Allow", deny: "Deny", pass: "Pass", log: "Log" };

function calicoName(o: RuleOrigin): string {
  const name = o.policy ?? "";
  return o.policyKind === "KubernetesNetworkPolicy" ? name.replace(/^knp\.default\./, "") : name;
}

/** The name Felix and `tortie get` use: `knp.default.NAME` for a Kubernetes policy. */
function felixName(o: RuleOrigin): string | undefined {
  if (o.policy === undefined) return undefined;
  return o.policyKind === "KubernetesNetworkPolicy" ? `knp.default.${calicoName(o)}` : o.policy;
}

/** The policy as Calico names it in a flow log (a trigger: no action, no indexes). */
function calicoTrigger(o: RuleOrigin): CalicoPolicyHit {
  return {
    kind: CALICO_KIND[o.policyKind ?? ""] ?? "KindUnspecified",
    name: calicoName(o),
    namespace: o.namespace ?? "",
    tier: o.policyKind === "Profile" ? "" : (o.tier ?? ""),
    action: "ActionUnspecified",
    policy_index: 0,
    rule_index: 0,
    trigger: null,
  };
}

/** Runs the probe and assembles the report. Nothing here is saved: the caller decides what persists. */
export function traceConnection(cluster: SimCluster, req: TraceRequest): TraceReport {
  const client = cluster.kernel(req.from);
  if (!client) throw new Error(`trace: no namespace ${req.from}`);
  const out: Trace = { hops: [], rules: [], nat: [] };
  const back: Trace = { hops: [], rules: [], nat: [] };
  const result = probe(cluster.net, client, req.proto, req.to, req.port, { out, back });
  const report: TraceReport = {
    from: req.from,
    to: req.toLabel,
    protocol: req.proto,
    verdict: "delivered",
    request: {
      packet: probeLabel(req.proto),
      src: endpointText(result.sent.src, result.sent.sport, req.proto),
      dst: endpointText(req.to, req.port, req.proto),
      result: outcome(result.request),
    },
    hops: [],
    rules: [],
    nat: [],
    policy: [],
    flow_logs: [],
    unsupported: [...cluster.unsupported],
    warnings: [...cluster.warnings],
  };
  let seq = 0;
  const paths: [TracePath, Trace][] = [["request", out]];
  if (result.reply) paths.push(["reply", back]);
  for (const [path, trace] of paths) seq = flatten(report, path, trace, seq);
  mapPolicy(report, cluster);
  if (result.request.kind !== "delivered") {
    report.verdict = outcome(result.request);
    report.where = where(report, "request", result.request);
    return ordered(report);
  }
  const server = result.request.kernel.name;
  const answer = result.answer!;
  if (answer.kind === "port-unreachable") {
    report.verdict = "rejected";
    report.where = {
      path: "request",
      host: server,
      reason: `nothing listens on ${req.proto} port ${result.request.packet.dport}: the kernel answers ICMP port unreachable`,
    };
    return ordered(report);
  }
  report.reply = { packet: answer.what, result: outcome(result.reply!) };
  if (answer.kind === "reset") {
    report.verdict = "rejected";
    report.where = {
      path: "request",
      host: server,
      reason: `nothing listens on ${req.proto} port ${result.request.packet.dport}: the kernel answers ${answer.what}`,
    };
    return ordered(report);
  }
  if (result.reply!.kind !== "delivered") {
    report.verdict = outcome(result.reply!);
    report.where = where(report, "reply", result.reply!);
  }
  return ordered(report);
}

/** The report with its keys in reading order (JSON output keeps insertion order). */
function ordered(r: TraceReport): TraceReport {
  return {
    from: r.from,
    to: r.to,
    protocol: r.protocol,
    verdict: r.verdict,
    ...(r.where ? { where: r.where } : {}),
    request: r.request,
    ...(r.reply ? { reply: r.reply } : {}),
    hops: r.hops,
    rules: r.rules,
    nat: r.nat,
    policy: r.policy.map((d) => ({
      seq: d.seq,
      path: d.path,
      host: d.host,
      direction: d.direction,
      ...(d.endpoint !== undefined ? { endpoint: d.endpoint } : {}),
      tier: d.tier,
      ...(d.policy !== undefined ? { policy: d.policy } : {}),
      rule: d.rule,
      action: d.action,
      origin: d.origin,
      kind: d.kind,
      name: d.name,
      namespace: d.namespace,
      policy_index: d.policy_index,
      rule_index: d.rule_index,
      trigger: d.trigger,
      iptables: d.iptables,
    })),
    flow_logs: r.flow_logs.map((f) => ({
      reporter: f.reporter,
      host: f.host,
      ...(f.endpoint !== undefined ? { endpoint: f.endpoint } : {}),
      action: f.action,
      policies: f.policies,
    })),
    unsupported: r.unsupported,
    warnings: r.warnings,
  };
}

function outcome(d: Delivery): TraceVerdict {
  return d.kind;
}

/** Hops, rule hits and translations of one path, in the order they happened, numbered across the whole trace. */
function flatten(report: TraceReport, path: TracePath, trace: Trace, seq: number): number {
  let h = 0;
  let r = 0;
  let n = 0;
  const total = trace.hops.length + trace.rules.length + trace.nat.length;
  for (let at = 0; at < total; at++) {
    const rule = trace.rules[r];
    const nat = trace.nat[n];
    if (rule && rule.at === at) {
      r++;
      const hit: TraceRuleOut = {
        seq: seq++,
        path,
        host: rule.host,
        hook: rule.hook,
        table: rule.table,
        chain: rule.chain,
        rule: rule.rule,
        target: rule.target,
        text: `-A ${rule.chain} ${rule.text}`,
      };
      const comment = ruleComment(rule.text);
      if (comment !== undefined) hit.comment = comment;
      report.rules.push(hit);
    } else if (nat && nat.at === at) {
      n++;
      report.nat.push({ seq: seq++, path, host: nat.host, kind: nat.kind, from: nat.from, to: nat.to });
    } else {
      const hop = trace.hops[h++];
      if (!hop) continue;
      const o: TraceHopOut = { seq: seq++, path, host: hop.host, stage: hop.stage, detail: hop.detail };
      if (hop.inIface !== undefined) o.in = hop.inIface;
      if (hop.outIface !== undefined) o.out = hop.outIface;
      if (hop.route) o.route = hop.route;
      if (hop.conntrack) o.conntrack = hop.conntrack;
      report.hops.push(o);
    }
  }
  return seq;
}

/** The place a packet stopped: the rule that dropped or rejected it, or the route or neighbour that failed. */
function where(
  report: TraceReport,
  path: TracePath,
  d: Exclude<Delivery, { kind: "delivered" }>,
): TraceWhere {
  if (d.kind === "unreachable")
    return {
      path,
      host: d.host,
      reason: d.reason === "network" ? "no route to the destination" : "host unreachable",
    };
  const reason = d.kind === "dropped" ? d.reason : `rejected with ${d.with}`;
  const m = d.kind === "dropped" ? /^(raw|mangle|nat|filter) ([A-Z]+)$/.exec(d.reason) : null;
  const last = [...report.rules].reverse().find((r) => r.path === path && r.host === d.host);
  // A REJECT whose ICMP error never reached the sender counts as a drop, but the REJECT rule is still the place.
  const final = d.kind === "rejected" ? ["REJECT"] : ["DROP", "REJECT"];
  if (last && final.includes(last.target) && (!m || last.table === m[1])) {
    const w: TraceWhere = {
      path,
      host: d.host,
      reason,
      hook: last.hook,
      table: last.table,
      chain: last.chain,
      rule: last.rule,
      text: last.text,
    };
    if (last.comment !== undefined) w.comment = last.comment;
    return w;
  }
  if (m)
    return { path, host: d.host, reason: `the ${m[2]} chain's policy is DROP`, table: m[1]!, hook: m[2]! };
  return { path, host: d.host, reason };
}

/** Each rule hit that Felix's origins table explains becomes a policy decision; then the flow logs per reporter. */
function mapPolicy(report: TraceReport, cluster: SimCluster): void {
  let previous: string | undefined;
  // The endpoint a policy or profile rule decides for: that of the endpoint chain the packet last went through.
  let subject: string | undefined;
  let place = "";
  for (const hit of report.rules) {
    if (`${hit.path}|${hit.host}` !== place) subject = undefined;
    place = `${hit.path}|${hit.host}`;
    const origins = originsOf(cluster, hit.host);
    const chainSubject = endpointOfChain(origins, hit.table, hit.chain);
    if (chainSubject !== undefined) subject = chainSubject;
    const o = origins?.[hit.table]?.[hit.chain]?.[hit.rule];
    if (!o) continue;
    const endpoint = o.endpoint ?? subject;
    const key = `${hit.path}|${hit.host}|${o.direction}|${endpoint}|${o.kind}|${o.tier}|${o.policy}|${o.ruleIndex}|${o.action}`;
    if (key === previous) continue;
    previous = key;
    const eot = o.kind === "end-of-tier";
    const cause = eot ? (o.policy ? o : triggerFor(report, hit, o, origins)) : o;
    const trigger = eot && cause ? calicoTrigger(cause) : null;
    const d: TracePolicyOut = {
      seq: hit.seq,
      path: hit.path,
      host: hit.host,
      direction: o.direction,
      origin: o.kind,
      tier: o.policyKind === "Profile" ? "" : (o.tier ?? ""),
      rule: eot || o.ruleIndex === undefined ? null : o.ruleIndex,
      action: CALICO_ACTION[o.action] ?? o.action,
      kind: eot ? "EndOfTier" : (CALICO_KIND[o.policyKind ?? ""] ?? "KindUnspecified"),
      name: eot ? "" : calicoName(o),
      namespace: eot ? "" : (o.namespace ?? ""),
      policy_index: 0,
      rule_index: eot ? -1 : (o.ruleIndex ?? 0),
      trigger,
      iptables: { table: hit.table, chain: hit.chain, rule: hit.rule, text: hit.text },
    };
    if (endpoint !== undefined) d.endpoint = endpoint;
    const name = cause && felixName(cause);
    if (name !== undefined) d.policy = name;
    report.policy.push(d);
  }
  // Calico reports the first packet's policy: per endpoint and direction, the hits in order.
  const logs = new Map<string, TraceFlowLog>();
  for (const d of report.policy) {
    if (d.path !== "request" || d.kind === "KindUnspecified" || d.action === "Log") continue;
    const key = `${d.host}|${d.endpoint}|${d.direction}`;
    let log = logs.get(key);
    if (!log) {
      log = {
        reporter: d.direction === "egress" ? "Src" : "Dst",
        host: d.host,
        action: d.action,
        policies: { enforced: [], pending: [] },
      };
      if (d.endpoint !== undefined) log.endpoint = d.endpoint;
      logs.set(key, log);
    }
    d.policy_index = log.policies.enforced.length;
    log.policies.enforced.push({
      kind: d.kind,
      name: d.name,
      namespace: d.namespace,
      tier: d.tier,
      action: d.action,
      policy_index: d.policy_index,
      rule_index: d.rule_index,
      trigger: d.trigger,
    });
    if (d.action !== "Pass") log.action = d.action;
  }
  report.flow_logs = [...logs.values()];
}

/** The endpoint an endpoint chain (`cali-tw-…`, `cali-fw-…`) belongs to, from its origins. */
function endpointOfChain(
  origins: OriginsByTable | undefined,
  table: string,
  chain: string,
): string | undefined {
  const rules = origins?.[table]?.[chain];
  if (!rules) return undefined;
  for (const o of Object.values(rules)) if (o.endpoint !== undefined) return o.endpoint;
  return undefined;
}

/**
 * The policy that triggered an end-of-tier action: the first policy of that tier the packet was sent through
 * for this endpoint and direction (a jump into its chain, or one of its rules matching).
 */
function triggerFor(
  report: TraceReport,
  eot: TraceRuleOut,
  o: RuleOrigin,
  origins: OriginsByTable | undefined,
): RuleOrigin | undefined {
  if (!origins) return undefined;
  for (const hit of report.rules) {
    if (hit.seq >= eot.seq) break;
    if (hit.path !== eot.path || hit.host !== eot.host) continue;
    const candidates = [origins[hit.table]?.[hit.chain]?.[hit.rule]];
    const target = origins[hit.table]?.[hit.target];
    if (target) candidates.push(...Object.values(target));
    for (const c of candidates)
      if (
        c?.kind === "policy" &&
        c.policy &&
        c.tier === o.tier &&
        c.direction === o.direction &&
        (o.endpoint === undefined || c.endpoint === undefined || c.endpoint === o.endpoint)
      )
        return c;
  }
  return undefined;
}
