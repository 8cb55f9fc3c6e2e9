/**
 * The lab's node1 as a differential scenario: the rules `SimCluster` programs on node1 (kube-proxy's sync and
 * jumps, Felix's chains and IP sets, with seed 002's YAO Bank and one ingress policy), node1's routes, its
 * two pods and host1, all with the lab's addresses and interface names.
 */

import type { CliContext } from "../../src/cli/context.ts";
import { openSimCluster } from "../../src/cli/exec.ts";
import type { Kernel } from "../../src/dataplane/sim/index.ts";
import { formatIpv4 } from "../../src/dataplane/sim/index.ts";
import { CliHarness, fixture } from "../cli/harness.ts";
import type { Flow, Scenario } from "./scenario.ts";
import { routeText, type TopologySpec } from "./topology.ts";

/** Summary pods accept only customer pods: host1's direct traffic to summary meets Felix's drop. */
export const SUMMARY_POLICY = `kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata:
  name: summary-from-customer
  namespace: yaobank
spec:
  podSelector:
    matchLabels:
      app: summary
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: customer
`;

function ipsetText(k: Kernel): string {
  const lines: string[] = [];
  for (const s of k.ipsets.sets.values()) {
    lines.push(`create ${s.name} ${s.type}`);
    for (const m of s.members) lines.push(`add ${s.name} ${m}`);
  }
  return lines.join("\n");
}

export async function labScenario(): Promise<Scenario> {
  const h = new CliHarness();
  try {
    for (const [line, stdin] of [
      ["up", ""],
      [`kubectl apply -f ${fixture("lab/yaobank.yaml")}`, ""],
      ["kubectl apply -f -", SUMMARY_POLICY],
    ] as const) {
      const r = await h.run(line, stdin);
      if (r.code !== 0) throw new Error(`${line}: ${r.err}`);
    }
    const ctx: CliContext = h.silentContext();
    const cluster = await openSimCluster(ctx);
    const node1 = cluster.kernel("node1")!;
    const host1 = cluster.kernel("host1")!;
    const nodeHost = cluster.topology.hosts.find((x) => x.name === "node1")!;
    const clientHost = cluster.topology.hosts.find((x) => x.name === "host1")!;
    const spec: TopologySpec = {
      namespaces: [
        {
          name: "router",
          forward: true,
          routes: node1.main.routes.map(routeText).filter((r): r is string => r !== undefined),
        },
        {
          name: "host1",
          routes: [
            ...host1.main.routes.map(routeText).filter((r): r is string => r !== undefined),
            // host1 reaches pods and services through node1 (the test's flows need no other node).
            `198.19.16.0/20 via ${nodeHost.ip} dev ${clientHost.interface}`,
            `198.19.32.0/20 via ${nodeHost.ip} dev ${clientHost.interface}`,
          ],
        },
      ],
      veths: [
        [
          { ns: "router", dev: nodeHost.interface, addrs: [nodeHost.address] },
          { ns: "host1", dev: clientHost.interface, addrs: [clientHost.address] },
        ],
      ],
    };
    const podIp: Record<string, string> = {};
    for (const link of node1.links.values()) {
      if (!link.name.startsWith("cali") || !link.peer) continue;
      const pod = link.peer.kernel;
      const short = pod.name.split("/")[1]!.split("-")[0]!;
      const ip = pod.addresses.find((a) => a.dev === "eth0")!;
      podIp[short] = formatIpv4(ip.ip);
      spec.namespaces.push({
        name: short,
        routes: pod.main.routes.map(routeText).filter((r): r is string => r !== undefined),
      });
      spec.veths.push([
        { ns: "router", dev: link.name, addrs: [], proxyArp: true },
        { ns: short, dev: "eth0", addrs: [`${podIp[short]}/32`] },
      ]);
    }
    const iptables = node1.netfilter.save();
    const customerVip =
      /-A KUBE-SERVICES -d ([\d.]+)\/32 -p tcp -m comment --comment "yaobank\/customer:http cluster IP"/.exec(
        iptables,
      )?.[1];
    if (!podIp.customer || !podIp.summary || !customerVip)
      throw new Error(`node1 should run customer and summary: ${JSON.stringify(podIp)}`);
    const host1Ip = clientHost.ip;
    const flows: Flow[] = [
      { from: "host1", proto: "tcp", dst: nodeHost.ip, dport: 30180 },
      { from: "host1", proto: "tcp", dst: customerVip, dport: 80 },
      { from: "host1", proto: "tcp", dst: podIp.customer, dport: 80 },
      { from: "host1", proto: "tcp", dst: podIp.customer, dport: 81 },
      { from: "host1", proto: "icmp", dst: podIp.customer, dport: 0 },
      { from: "host1", proto: "udp", dst: podIp.summary, dport: 80 },
      { from: "host1", proto: "icmp", dst: podIp.summary, dport: 0 },
      { from: "host1", proto: "tcp", dst: podIp.summary, dport: 80 },
      { from: "customer", proto: "tcp", dst: podIp.summary, dport: 80 },
      { from: "customer", proto: "icmp", dst: podIp.summary, dport: 0 },
      { from: "customer", proto: "tcp", dst: host1Ip, dport: 8080 },
      { from: "customer", proto: "udp", dst: host1Ip, dport: 8080 },
      { from: "summary", proto: "icmp", dst: host1Ip, dport: 0 },
      { from: "summary", proto: "tcp", dst: podIp.customer, dport: 80 },
    ];
    return {
      spec,
      router: "router",
      servers: {
        customer: { tcp: [80], udp: [80] },
        summary: { tcp: [80], udp: [80] },
        host1: { tcp: [8080], udp: [8080] },
      },
      iptables,
      ipsets: ipsetText(node1),
      nfacct: [...new Set([...iptables.matchAll(/--nfacct-name\s+(\S+)/g)].map((m) => m[1]!))],
      flows,
    };
  } finally {
    h.cleanup();
  }
}
