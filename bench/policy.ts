/**
 * The policy engine at scale, each figure next to the naive evaluation in the same run:
 * - selector queries through the label index vs evaluating every selector against every endpoint;
 * - single verdicts on 10k endpoints × 1k policies (cached per-endpoint policy lists vs scanning every policy);
 * - the full matrix for 5k pods × 500 policies × 2 ports through equivalence classes vs all pairs (the naive
 *   figure is measured on a random sample of pairs and extrapolated: all 50M pairs would take minutes);
 * - recomputing the matrix after one policy change.
 * Clusters are generated like real ones: namespaces of deployments whose replicas share labels. Times are CPU
 * time of this process.
 */
import type { ApiObject } from "../src/api/index.ts";
import {
  buildPolicyModel,
  type Endpoint,
  evaluateFlow,
  k8sNetworkPolicyToCalico,
  type Packet,
  type Policy,
  PolicyIndex,
  PolicyMatrix,
  type PolicyModel,
  ruleMatches,
  toPolicy,
} from "../src/policy/index.ts";
import { LabelIndex, parseSelector } from "../src/selector/index.ts";
import type { RecordRow } from "./ipam.ts";

const TIERS = ["web", "api", "db"];

function cluster(
  namespaces: number,
  appsPerNs: number,
  replicas: number,
  policiesPerNs: number,
): ApiObject[] {
  const objects: ApiObject[] = [];
  let ip = 0;
  for (let n = 0; n < namespaces; n++) {
    const ns = `ns${n}`;
    objects.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { "kubernetes.io/metadata.name": ns, team: `t${n % 7}` } },
    });
    for (let a = 0; a < appsPerNs; a++)
      for (let r = 0; r < replicas; r++) {
        ip++;
        const name = `app${a}-${r}`;
        objects.push({
          apiVersion: "projectcalico.org/v3",
          kind: "WorkloadEndpoint",
          metadata: {
            name: `node${ip % 50}-k8s-${name}-eth0`,
            namespace: ns,
            labels: {
              app: `app${a}`,
              tier: TIERS[a % 3]!,
              "projectcalico.org/namespace": ns,
              "projectcalico.org/orchestrator": "k8s",
              "projectcalico.org/serviceaccount": "default",
            },
          },
          spec: {
            node: `node${ip % 50}`,
            pod: name,
            ipNetworks: [`10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}/32`],
            profiles: [`kns.${ns}`, `ksa.${ns}.default`],
            ports: [{ name: "http", protocol: "TCP", port: 80 }],
          },
        });
      }
    for (let p = 0; p < policiesPerNs; p++) objects.push(policy(ns, p, appsPerNs));
  }
  return objects;
}

/** A mix of the policies people write: default deny, app-to-app on a port, namespace peers, CIDRs, named ports. */
function policy(ns: string, p: number, apps: number): ApiObject {
  const target = { matchLabels: { app: `app${p % apps}` } };
  const from = [
    { podSelector: { matchLabels: { app: `app${(p + 1) % apps}` } } },
    {
      namespaceSelector: { matchLabels: { team: `t${p % 7}` } },
      podSelector: { matchLabels: { tier: "web" } },
    },
    { ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] } },
  ][p % 3]!;
  const spec =
    p % 10 === 0
      ? { podSelector: {}, policyTypes: ["Ingress"], ingress: [] }
      : {
          podSelector: target,
          policyTypes: p % 4 === 0 ? ["Ingress", "Egress"] : ["Ingress"],
          ingress: [{ from: [from], ports: [{ protocol: "TCP", port: p % 2 === 0 ? 80 : "http" }] }],
          egress: p % 4 === 0 ? [{ to: [{ podSelector: { matchLabels: { tier: "db" } } }] }] : [],
        };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: `pol${p}`, namespace: ns },
    spec,
  };
}

/**
 * CPU milliseconds of this process spent in `f` (the machine is shared: wall time mostly measures the
 * neighbours). Every row here, the naive anchors included, is timed this way, so their ratios hold.
 */
function time<T>(f: () => T): [T, number] {
  const before = process.cpuUsage();
  const r = f();
  const used = process.cpuUsage(before);
  return [r, (used.user + used.system) / 1000];
}

/** Naive evaluation: no indexes, no caches — every policy's selector tested for every verdict. */
function naiveAllowed(
  model: PolicyModel,
  byIp: Map<string, Endpoint>,
  a: Endpoint,
  b: Endpoint,
  port: number,
): boolean {
  const lookup = {
    identitiesOf: (ip: { value: bigint; family: 4 | 6 }) => {
      const e = byIp.get(`${ip.family}:${ip.value}`);
      return e ? [e] : [];
    },
    serviceBackends: () => [],
    selects: (s: { matches(l: Record<string, string>): boolean }, id: { labels: Record<string, string> }) =>
      s.matches(id.labels),
  };
  const packet: Packet = { protocol: 6, src: a.ips[0]!, dst: b.ips[0]!, srcPort: 40000, dstPort: port };
  for (const [e, dir] of [
    [a, "egress"],
    [b, "ingress"],
  ] as const) {
    const applicable = model.policies.filter((p) => p[dir] && p.selector.matches(e.labels));
    if (applicable.length === 0) continue; // profile kns.* allows
    let verdict: boolean | undefined;
    for (const p of applicable) {
      for (const r of p[dir]!) {
        if (ruleMatches(r, packet, lookup, false).matched) {
          verdict = r.action === "Allow";
          break;
        }
      }
      if (verdict !== undefined) break;
    }
    if (!verdict) return false;
  }
  return true;
}

function engineAllowed(index: PolicyIndex, a: Endpoint, b: Endpoint, port: number): boolean {
  const flow = {
    from: { kind: "endpoint", endpoint: a },
    to: { kind: "endpoint", endpoint: b },
    protocol: 6,
    port,
  } as const;
  return evaluateFlow(index, flow, false).allowed;
}

export function benchPolicy(record: RecordRow, scale: number): void {
  // Selector queries: 10k endpoints, 1k selectors.
  {
    const model = buildPolicyModel(cluster(Math.round(100 * scale), 10, 10, 0));
    const selectors = Array.from({ length: 1000 }, (_, i) =>
      parseSelector(
        [
          `app == 'app${i % 10}'`,
          `tier in {'web', 'db'} && app != 'app${i % 10}'`,
          `projectcalico.org/namespace == 'ns${i % 100}'`,
        ][i % 3]!,
      ),
    );
    const index = new LabelIndex<string>();
    for (const e of model.endpoints) index.set(e.id, e.labels);
    const [hits, indexed] = time(() => selectors.reduce((n, s) => n + index.query(s).size, 0));
    const [naiveHits, naive] = time(() =>
      selectors.reduce((n, s) => n + model.endpoints.filter((e) => s.matches(e.labels)).length, 0),
    );
    if (hits !== naiveHits) throw new Error(`label index disagrees: ${hits} vs ${naiveHits}`);
    const evaluations = selectors.length * model.endpoints.length;
    record(
      `selector evaluations (naive, ${model.endpoints.length} endpoints × 1k selectors)`,
      evaluations,
      naive,
    );
    record(
      "selector queries through the label index (same answers)",
      evaluations,
      indexed,
      `${(naive / indexed).toFixed(1)}× faster`,
    );
  }

  // Verdicts: 10k endpoints × 1k policies.
  {
    const model = buildPolicyModel(cluster(Math.round(100 * scale), 10, 10, 10));
    const index = new PolicyIndex(model);
    const eps = model.endpoints;
    const byIp = new Map(eps.map((e) => [`${e.ips[0]!.family}:${e.ips[0]!.value}`, e]));
    const pairs = Array.from(
      { length: 20_000 },
      (_, i) => [eps[(i * 7919) % eps.length]!, eps[(i * 104729) % eps.length]!] as const,
    );
    const [, primed] = time(() => index.selecting(eps[0]!));
    record("policy index: policies per endpoint via the label index", eps.length, primed);
    const [, indexed] = time(() =>
      pairs.reduce((n, [a, b]) => n + (engineAllowed(index, a, b, 80) ? 1 : 0), 0),
    );
    const sample = pairs.slice(0, 2000);
    const [allowedNaive, naive] = time(() =>
      sample.reduce((n, [a, b]) => n + (naiveAllowed(model, byIp, a, b, 80) ? 1 : 0), 0),
    );
    const check = sample.reduce((n, [a, b]) => n + (engineAllowed(index, a, b, 80) ? 1 : 0), 0);
    if (check !== allowedNaive)
      throw new Error(`engine and naive evaluation disagree: ${check} vs ${allowedNaive}`);
    record(
      `verdicts, naive (${eps.length} endpoints × ${model.policies.length} policies)`,
      sample.length,
      naive,
    );
    record(
      "verdicts through the policy index",
      pairs.length,
      indexed,
      `${(naive / sample.length / (indexed / pairs.length)).toFixed(0)}× faster per verdict`,
    );
  }

  // Matrix: 5k pods × 500 policies × 2 ports.
  {
    const model = buildPolicyModel(cluster(Math.round(50 * scale), 10, 10, 10));
    const ports = [
      { port: 80, protocol: 6 },
      { port: 443, protocol: 6 },
    ];
    const pods = model.endpoints;
    const [matrix, ms] = time(() => new PolicyMatrix(model, ports));
    const cells = pods.length * pods.length * ports.length;
    const byIp = new Map(pods.map((e) => [`${e.ips[0]!.family}:${e.ips[0]!.value}`, e]));
    const sample = Array.from(
      { length: 5000 },
      (_, i) => [pods[(i * 7919) % pods.length]!, pods[(i * 104729) % pods.length]!, ports[i % 2]!] as const,
    );
    const [, naive] = time(() => {
      for (const [a, b, p] of sample) {
        const want = naiveAllowed(model, byIp, a, b, p.port);
        if (want !== matrix.allowed(a.id, b.id, p === ports[0] ? 0 : 1))
          throw new Error(`matrix and naive evaluation disagree on ${a.id} -> ${b.id}:${p.port}`);
      }
    });
    const naiveFull = (naive / sample.length) * cells;
    record(
      `policy matrix, ${pods.length} pods × ${model.policies.length} policies × 2 ports (${matrix.classCount} classes)`,
      cells,
      ms,
      `CPU time; naive all-pairs ≈ ${(naiveFull / 1000).toFixed(0)} s (extrapolated from ${sample.length} sampled cells, all agreeing); target ≤ 2 s`,
    );
    const allowed = matrix.allowedPairs();
    console.error(`matrix: allowed pairs per port ${allowed.join(", ")}`);

    // One policy change at a time: replace ns3/pol5, then remove it, then add it back.
    const key = (p: Policy) => `${p.namespace}/${p.name}`;
    const target = model.policies.find((p) => key(p) === "ns3/pol5")!;
    const edited = toPolicy(
      k8sNetworkPolicyToCalico({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "pol5", namespace: "ns3" },
        spec: {
          podSelector: { matchLabels: { app: "app5" } },
          policyTypes: ["Ingress"],
          ingress: [
            {
              from: [{ podSelector: { matchLabels: { app: "app7" } } }],
              ports: [{ protocol: "TCP", port: 443 }],
            },
          ],
        },
      }),
      "KubernetesNetworkPolicy",
    );
    const times: number[] = [];
    let current: Policy | undefined = target;
    for (const next of [edited, undefined, target, edited, target]) {
      const [, t] = time(() => matrix.updatePolicy(current, next));
      times.push(t);
      current = next;
    }
    times.sort((a, b) => a - b);
    record(
      "matrix recomputation after one policy change (median of 5)",
      1,
      times[2]!,
      `full matrix ${ms.toFixed(0)} ms`,
    );
  }
}
