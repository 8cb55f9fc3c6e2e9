/**
 * Differential test of the syncer's fast paths (change detection by position, reused order and cached runs of
 * KUBE-SERVICES text): every sync of a random sequence of changes must produce exactly the bytes the stateless
 * renderer produces from scratch, with the changed services and stale chains a plain reference syncer finds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../src/lib/index.ts";
import {
  type KubeProxyIptablesConfig,
  KubeProxyIptablesSyncer,
  kubeProxyIptablesConfig,
  type ProxyEndpoint,
  type ProxyServicePort,
  renderIptablesSync,
} from "../../src/render/index.ts";

function endpoints(r: () => number, n: number, base: number): ProxyEndpoint[] {
  const out: ProxyEndpoint[] = [];
  for (let e = 0; e < n; e++) {
    const ready = r() < 0.85;
    out.push({
      ip: `10.${(base >> 8) & 255}.${base & 255}.${e + 1}`,
      port: 8080,
      isLocal: r() < 0.2,
      ready,
      serving: ready || r() < 0.5,
      terminating: !ready && r() < 0.7,
    });
  }
  return out;
}

function servicePort(r: () => number, s: number, portName: string, port: number): ProxyServicePort {
  const lb = r() < 0.15;
  const nodePort = lb || r() < 0.3 ? 30000 + s : 0;
  const externalPolicyLocal = (nodePort !== 0 || lb) && r() < 0.3;
  return {
    namespace: `ns${s % 7}`,
    name: `svc${s}`,
    portName,
    protocol: r() < 0.8 ? "TCP" : "UDP",
    port,
    clusterIP: `172.30.${(s >> 8) & 255}.${s & 255}`,
    nodePort,
    externalIPs: r() < 0.1 ? [`203.0.113.${s & 255}`] : [],
    loadBalancerIPs: lb ? [`198.51.100.${s & 255}`] : [],
    loadBalancerSourceRanges: lb && r() < 0.5 ? ["192.168.0.0/16", "10.0.0.0/8"] : [],
    externalPolicyLocal,
    internalPolicyLocal: r() < 0.1,
    healthCheckNodePort: lb && externalPolicyLocal ? 32000 + s : 0,
    affinityTimeoutSeconds: r() < 0.1 ? 10800 : undefined,
    endpoints: endpoints(r, Math.floor(r() * 5), s),
  };
}

function service(r: () => number, s: number): ProxyServicePort[] {
  const ports = [servicePort(r, s, "http", 80)];
  if (r() < 0.2) ports.push(servicePort(r, s, "https", 443));
  return ports;
}

/** The syncer as first written: group every port, compare every service, no caches. */
class ReferenceSyncer {
  private readonly services = new Map<string, { fp: string; chains: string[] }>();
  private synced = false;
  constructor(readonly config: KubeProxyIptablesConfig) {}
  sync(ports: ProxyServicePort[]) {
    const full = !this.synced;
    const current = new Map<string, ProxyServicePort[]>();
    for (const sp of ports) {
      const key = `${sp.namespace}/${sp.name}`;
      current.set(key, [...(current.get(key) ?? []), sp]);
    }
    const fp = (list: ProxyServicePort[]) =>
      list
        .map((p) => JSON.stringify(p))
        .sort()
        .join("\n");
    const changed = new Set<string>();
    for (const [key, list] of current) if (this.services.get(key)?.fp !== fp(list)) changed.add(key);
    for (const key of this.services.keys()) if (!current.has(key)) changed.add(key);
    const candidates = full ? [] : [...changed].flatMap((k) => this.services.get(k)?.chains ?? []);
    const out = renderIptablesSync({
      config: this.config,
      servicePorts: ports,
      changedServices: full ? undefined : changed,
      staleCandidates: candidates,
    });
    for (const key of full ? current.keys() : changed) {
      const list = current.get(key);
      if (!list) this.services.delete(key);
      else this.services.set(key, { fp: fp(list), chains: out.serviceChains.get(key) ?? [] });
    }
    this.synced = true;
    return { ...out, changedServices: [...(full ? current.keys() : changed)].sort() };
  }
}

function mutate(r: () => number, ports: ProxyServicePort[], next: () => number): ProxyServicePort[] {
  const out = [...ports];
  const pick = () => Math.floor(r() * out.length);
  const kind = r();
  if (out.length === 0 || kind < 0.1) {
    // A new service, at a random place in the input.
    out.splice(pick(), 0, ...service(r, next()));
  } else if (kind < 0.2) {
    // A service goes away (all its ports).
    const victim = out[pick()]!;
    return out.filter((p) => p.namespace !== victim.namespace || p.name !== victim.name);
  } else if (kind < 0.55) {
    // One endpoint changes address, or readiness.
    const i = pick();
    const sp = out[i]!;
    const eps = sp.endpoints.map((e) => ({ ...e }));
    if (eps.length > 0 && r() < 0.5) eps[Math.floor(r() * eps.length)]!.ip = `10.99.${next() & 255}.1`;
    else if (eps.length > 0) eps[0]!.ready = !eps[0]!.ready;
    else eps.push(...endpoints(r, 2, next()));
    out[i] = { ...sp, endpoints: eps };
  } else if (kind < 0.65) {
    // Equal content in a new object: not a change.
    const i = pick();
    out[i] = structuredClone(out[i]!);
  } else if (kind < 0.72) {
    // A port renamed: its sort position moves.
    const i = pick();
    out[i] = { ...out[i]!, portName: `p${next()}` };
  } else if (kind < 0.8) {
    // The input arrives in another order.
    for (let k = out.length - 1; k > 0; k--) {
      const j = Math.floor(r() * (k + 1));
      [out[k], out[j]] = [out[j]!, out[k]!];
    }
  } else if (kind < 0.85) {
    // Many services change at once (more than the syncer tracks by position).
    for (let k = 0; k < 80 && k < out.length; k++) {
      const i = pick();
      out[i] = { ...out[i]!, endpoints: endpoints(r, 3, next()) };
    }
  } else if (kind < 0.9) {
    // A burst of endpoints crosses kube-proxy's large-cluster threshold (or drops back under it).
    const i = pick();
    const many = out[i]!.endpoints.length > 100 ? 1 : 1200;
    out[i] = { ...out[i]!, endpoints: endpoints(r, Math.min(many, 250), next()) };
    if (many > 1) for (let k = 0; k < 4; k++) out.push(servicePort(r, next(), "bulk", 81));
  }
  // Otherwise the same array again: nothing changed.
  return out;
}

for (const seed of [1, 2, 3, 4]) {
  test(`the syncer's cached syncs equal a from-scratch render of each step (seed ${seed})`, () => {
    const r = seededRandom(seed);
    let counter = 1000;
    const next = () => counter++;
    const config = kubeProxyIptablesConfig(
      { nodeName: "node-0", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" },
      seed % 2 === 0 ? { masqueradeAll: true } : {},
    );
    let ports: ProxyServicePort[] = [];
    for (let s = 0; s < 300; s++) ports.push(...service(r, s));
    const fast = new KubeProxyIptablesSyncer(config);
    const reference = new ReferenceSyncer(config);
    let partials = 0;
    for (let step = 0; step < 150; step++) {
      const got = fast.sync(ports);
      const want = reference.sync(ports);
      assert.deepEqual(got.changedServices, want.changedServices, `step ${step}: changed services`);
      assert.equal(got.restore, want.restore, `step ${step}: restore text`);
      assert.deepEqual(got.deletedNatChains, want.deletedNatChains, `step ${step}: deleted chains`);
      assert.deepEqual([...got.writtenNatChains].sort(), [...want.writtenNatChains].sort(), `step ${step}`);
      if (!got.full) partials++;
      ports = mutate(r, ports, next);
    }
    assert.equal(partials, 149);
  });
}

test("a partial sync with nothing changed reuses every cached run and still writes KUBE-SERVICES in full", () => {
  const r = seededRandom(9);
  const ports: ProxyServicePort[] = [];
  for (let s = 0; s < 500; s++) ports.push(...service(r, s));
  const config = kubeProxyIptablesConfig({ nodeName: "n", nodeIP: "192.168.0.2", clusterCIDR: "10.0.0.0/8" });
  const syncer = new KubeProxyIptablesSyncer(config);
  syncer.sync(ports);
  const again = syncer.sync(ports);
  assert.deepEqual(again.changedServices, []);
  const fresh = renderIptablesSync({
    config,
    servicePorts: ports,
    changedServices: new Set(),
    staleCandidates: [],
  });
  assert.equal(again.restore, fresh.restore);
  const services = again.nat.split("\n").filter((l) => l.startsWith("-A KUBE-SERVICES ")).length;
  assert.ok(services >= 500, `${services} KUBE-SERVICES rules`);
});
