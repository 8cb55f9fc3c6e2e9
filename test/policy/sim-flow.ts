/**
 * One flow on the sim dataplane, as `tortie policy explain FROM TO` names it: the cluster in a harness's store is
 * programmed afresh (no saved state), every pod serves its container ports and the probed port (agnhost-style
 * probe listeners), a host destination serves the probed port unless it is a node port (kube-proxy holds no
 * socket there), and one connection is attempted.
 */
import { emptySimState, SimCluster, serveProbedPorts, simProbe } from "../../src/agent/index.ts";
import type { CliContext } from "../../src/cli/context.ts";
import { readSimInputs } from "../../src/cli/exec.ts";
import { joinSegment, Kernel, parseIpv4, parseIpv4Prefix } from "../../src/dataplane/sim/index.ts";
import { cidrContainsIp, parseIp } from "../../src/net/index.ts";
import { protocolNumber } from "../../src/policy/index.ts";
import type { CliHarness } from "../cli/harness.ts";

function contextOf(h: CliHarness): CliContext {
  return h.silentContext();
}

export interface SimFlowResult {
  allowed: boolean;
  error?: string;
  unsupported: string[];
}

export async function simFlow(
  h: CliHarness,
  from: string,
  to: string,
  port: number,
  proto = "tcp",
): Promise<SimFlowResult> {
  const { topology, objects } = await readSimInputs(contextOf(h));
  const cluster = new SimCluster(objects, topology, emptySimState());
  const protocol = protocolNumber(proto.toUpperCase())!;
  const router = topology.hosts.find((h) => h.role === "external")!;
  const routerKernel = cluster.kernel(router.name)!;
  const owner = (ip: number) => [...cluster.kernels.values()].find((k) => k.isLocal(ip));

  // Every pod serves its container ports and the probed one.
  for (const pod of objects.filter((o) => o.kind === "Pod" && o.status?.podIP && !o.spec?.hostNetwork)) {
    const k = cluster.kernel(`${pod.metadata.namespace}/${pod.metadata.name}`);
    if (!k) continue;
    const ports = [{ port, protocol }];
    for (const c of pod.spec.containers ?? [])
      for (const p of c.ports ?? [])
        ports.push({ port: p.containerPort, protocol: protocolNumber(p.protocol ?? "TCP")! });
    serveProbedPorts(k, pod.metadata.name!, ports);
  }

  // Source: a pod, a host, or an address on the underlay that a fresh namespace takes.
  let client = cluster.kernel(from);
  if (!client) {
    const ip = parseIpv4(from);
    if (ip === undefined) throw new Error(`${from}: not a pod, host or address`);
    client = owner(ip);
    if (!client) {
      client = new Kernel(from);
      const link = client.addLink({ name: "eth0", kind: "ether", mac: "02:00:00:00:00:01", mtu: 1500 });
      joinSegment(routerKernel.links.get(router.interface)!.segment!, client, link);
      client.addAddress("eth0", parseIpv4Prefix(`${from}/${router.prefix}`)!, ip);
      cluster.kernels.set(from, client);
    }
  }

  // Destination: a host name is its address; an address nothing owns outside the lab is the internet, which the
  // lab's router stands for.
  const host = topology.hosts.find((x) => x.name === to);
  const dstText = host ? host.ip : to;
  const dst = parseIpv4(dstText);
  if (dst === undefined) throw new Error(`${to}: not a host or address`);
  const inLab = [topology.clusterCIDR, topology.serviceCIDR].some((c) =>
    cidrContainsIp(c, parseIp(dstText)!),
  );
  let target = owner(dst);
  if (!target && !inLab) {
    routerKernel.addAddress("lo", parseIpv4Prefix(`${dstText}/32`)!, dst);
    target = routerKernel;
  }
  const nodePort = objects.some(
    (o) =>
      o.kind === "Service" && (o.spec?.ports ?? []).some((p: { nodePort?: number }) => p.nodePort === port),
  );
  if (target && !target.name.includes("/") && !nodePort)
    serveProbedPorts(target, target.name, [{ port, protocol }]);

  const r = simProbe(cluster, client, dst, { port, protocol });
  return { allowed: r.ok, ...(r.ok ? {} : { error: r.error }), unsupported: cluster.unsupported };
}
