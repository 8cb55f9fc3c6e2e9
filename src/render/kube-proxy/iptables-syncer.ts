import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import { type IptablesSyncOutput, renderIptablesSync } from "./iptables-rules.ts";
import { type ProxyServicePort, serviceKeyOf } from "./service-ports.ts";

export interface IptablesSyncResult extends IptablesSyncOutput {
  full: boolean;
  /** Services (`ns/name`) whose chains this sync rewrote; every service on a full sync. */
  changedServices: string[];
}

/**
 * kube-proxy's sync loop state for one node: which services changed since the last sync (so a partial sync
 * rewrites only their chains, KEP-3453) and which nat chains the kernel holds after each restore. Pure: the
 * caller applies `restore` and may hand back the chains it actually found with `existingNatChains`.
 */
export class KubeProxyIptablesSyncer {
  /** Per service (`ns/name`): its port objects as last synced, and the nat chains it has in the kernel. */
  private readonly services = new Map<string, { ports: ProxyServicePort[]; chains: string[] }>();
  private synced = false;

  constructor(readonly config: KubeProxyIptablesConfig) {}

  sync(
    servicePorts: ProxyServicePort[],
    options: { full?: boolean; existingNatChains?: ReadonlySet<string> } = {},
  ): IptablesSyncResult {
    const full = options.full === true || !this.synced || options.existingNatChains !== undefined;
    const current = new Map<string, ProxyServicePort[]>();
    for (const sp of servicePorts) {
      const key = serviceKeyOf(sp);
      const list = current.get(key);
      if (list) list.push(sp);
      else current.set(key, [sp]);
    }
    const changed = new Set<string>();
    for (const [key, ports] of current) {
      const before = this.services.get(key)?.ports;
      if (!before || !samePorts(before, ports)) changed.add(key);
    }
    for (const key of this.services.keys()) if (!current.has(key)) changed.add(key);
    const candidates: string[] = [];
    if (full)
      for (const chain of options.existingNatChains ?? this.existingNatChains()) candidates.push(chain);
    else for (const key of changed) candidates.push(...(this.services.get(key)?.chains ?? []));
    const out = renderIptablesSync({
      config: this.config,
      servicePorts,
      changedServices: full ? undefined : changed,
      staleCandidates: candidates,
    });
    // Only changed services' records move; a partial sync stays proportional to what changed.
    if (full) this.services.clear();
    for (const key of full ? current.keys() : changed) {
      const ports = current.get(key);
      if (!ports) this.services.delete(key);
      else this.services.set(key, { ports, chains: out.serviceChains.get(key) ?? [] });
    }
    this.synced = true;
    return { ...out, full, changedServices: full ? [...current.keys()].sort() : [...changed].sort() };
  }

  /** The service chains the kernel holds after the last sync, as far as this syncer knows. */
  existingNatChains(): Set<string> {
    const out = new Set<string>();
    for (const { chains } of this.services.values()) for (const c of chains) out.add(c);
    return out;
  }
}

const fingerprintCache = new WeakMap<ProxyServicePort, string>();

function fingerprintOf(sp: ProxyServicePort): string {
  let fp = fingerprintCache.get(sp);
  if (fp === undefined) {
    fp = JSON.stringify(sp);
    fingerprintCache.set(sp, fp);
  }
  return fp;
}

/** Same port objects means unchanged at no cost; otherwise their contents are compared once. */
function samePorts(a: ProxyServicePort[], b: ProxyServicePort[]): boolean {
  if (a.length !== b.length) return false;
  if (a.every((p, i) => p === b[i])) return true;
  const fa = a.map(fingerprintOf).sort();
  const fb = b.map(fingerprintOf).sort();
  return fa.every((f, i) => f === fb[i]);
}
