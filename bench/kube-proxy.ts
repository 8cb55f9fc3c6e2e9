import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyServicePort,
  renderNftables,
} from "../src/render/index.ts";
import type { RecordRow } from "./ipam.ts";

function ipOf(n: number, base: number): string {
  return [base, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".");
}

/** N services, each one TCP port with E ready endpoints spread over 100 nodes; node-0 renders. */
export function syntheticServices(services: number, endpoints: number): ProxyServicePort[] {
  const out: ProxyServicePort[] = [];
  for (let s = 0; s < services; s++) {
    const eps = [];
    for (let e = 0; e < endpoints; e++)
      eps.push({
        ip: ipOf(s * endpoints + e, 10),
        port: 8080,
        isLocal: (s + e) % 100 === 0,
        ready: true,
        serving: true,
        terminating: false,
      });
    out.push({
      namespace: `ns${s % 50}`,
      name: `svc${s}`,
      portName: "http",
      protocol: "TCP",
      port: 80,
      clusterIP: ipOf(s + 1, 172),
      nodePort: s % 4 === 0 ? 30000 + (s % 2768) : 0,
      externalIPs: [],
      loadBalancerIPs: [],
      loadBalancerSourceRanges: [],
      externalPolicyLocal: false,
      internalPolicyLocal: false,
      healthCheckNodePort: 0,
      affinityTimeoutSeconds: undefined,
      endpoints: eps,
    });
  }
  return out;
}

/** CPU milliseconds of this process (the machine is shared: wall time mostly measures the neighbours). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function benchKubeProxy(record: RecordRow, scale: number, bin: string, tmp: () => string): void {
  const nServices = Math.round(10_000 * scale);
  const perService = 25;
  const config = kubeProxyIptablesConfig({
    nodeName: "node-0",
    nodeIP: "192.168.0.2",
    clusterCIDR: "10.0.0.0/8",
  });
  const ports = syntheticServices(nServices, perService);

  let t = performance.now();
  let c = cpuMs();
  const syncer = new KubeProxyIptablesSyncer(config);
  const full = syncer.sync(ports);
  const fullCpu = cpuMs() - c;
  const fullWall = performance.now() - t;
  // What handing the payload to iptables-restore costs first: its bytes (the text is a rope of large pieces).
  c = cpuMs();
  const bytes = Buffer.from(full.restore, "latin1").length;
  const encodeCpu = cpuMs() - c;
  record(
    `kube-proxy iptables full sync (${nServices} services × ${perService} endpoints)`,
    nServices * perService,
    fullCpu,
    `CPU time (wall ${fullWall.toFixed(0)} ms); ${(bytes / 1e6).toFixed(0)} MB restore text, ` +
      `${full.writtenNatChains.size.toLocaleString("en-US")} nat chains; +${encodeCpu.toFixed(0)} ms to encode it; target ≤ 1 s`,
  );

  // One endpoint of one service changes: only that service's chains are written.
  const changed = [...ports];
  const victim = changed[nServices >> 1]!;
  changed[nServices >> 1] = {
    ...victim,
    endpoints: victim.endpoints.map((e, i) =>
      i === 0 ? { ...e, ip: ipOf(nServices * perService + 1, 11) } : e,
    ),
  };
  const samples: number[] = [];
  const encoded: number[] = [];
  let partial = syncer.sync(changed);
  // A running kube-proxy syncs continually; the first syncs also warm the JIT, so they are not sampled.
  for (let i = 0; i < 30; i++) syncer.sync(i % 2 === 0 ? ports : changed);
  for (let i = 0; i < 41; i++) {
    const next = i % 2 === 0 ? ports : changed;
    c = cpuMs();
    partial = syncer.sync(next);
    const synced = cpuMs();
    Buffer.from(partial.restore, "latin1");
    samples.push(synced - c);
    encoded.push(cpuMs() - c);
  }
  samples.sort((a, b) => a - b);
  encoded.sort((a, b) => a - b);
  record(
    "kube-proxy iptables partial sync, one endpoint changed (median of 41, after 30 warm-up syncs)",
    1,
    samples[20]!,
    `CPU time; writes ${partial.writtenNatChains.size} nat chains, ${partial.changedServices.length} service; ` +
      `KUBE-SERVICES rewritten in full (${(partial.restore.length / 1e6).toFixed(1)} MB, unchanged runs reused); ` +
      `${encoded[20]!.toFixed(1)} ms with encoding it for iptables-restore; target ≤ 10 ms`,
  );

  t = performance.now();
  c = cpuMs();
  const nft = renderNftables({ config, serviceCIDRs: ["172.0.0.0/8"], servicePorts: ports });
  record(
    `kube-proxy nftables full ruleset (${nServices} services × ${perService} endpoints)`,
    nServices * perService,
    cpuMs() - c,
    `CPU time (wall ${(performance.now() - t).toFixed(0)} ms); ${(nft.length / 1e6).toFixed(0)} MB nft script`,
  );

  const state = join(tmp(), "state");
  t = performance.now();
  const up = spawnSync(process.execPath, [bin, "--state-dir", state, "up", "--app", "yaobank"], {
    encoding: "utf8",
  });
  if (up.status !== 0) throw new Error(up.stderr);
  record(
    "tortie up --app yaobank (lab topology, one process)",
    1,
    performance.now() - t,
    "process start, bootstrap, controllers until settled, 5 pods running; target ≤ 1 s",
  );
}
