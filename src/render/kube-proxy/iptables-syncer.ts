import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import { type IptablesSyncOutput, renderIptablesSync } from "./iptables-rules.ts";
import { type ProxyServicePort, serviceKeyOf } from "./service-ports.ts";
import { IptablesSyncCache } from "./sync-body.ts";

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
  /** The previous sync's input and each position's service key, for finding what changed by position. */
  private lastInput: ProxyServicePort[] = [];
  private keyAt: string[] = [];
  private readonly cache = new IptablesSyncCache();

  constructor(readonly config: KubeProxyIptablesConfig) {}

  sync(
    servicePorts: ProxyServicePort[],
    options: { full?: boolean; existingNatChains?: ReadonlySet<string> } = {},
  ): IptablesSyncResult {
    const full = options.full === true || !this.synced || options.existingNatChains !== undefined;
    const { current, changed, keyAt } = this.changes(servicePorts, full);
    const candidates: string[] = [];
    if (full)
      for (const chain of options.existingNatChains ?? this.existingNatChains()) candidates.push(chain);
    else for (const key of changed) candidates.push(...(this.services.get(key)?.chains ?? []));
    const out = renderIptablesSync(
      {
        config: this.config,
        servicePorts,
        changedServices: full ? undefined : changed,
        staleCandidates: candidates,
      },
      this.cache,
    );
    // Only changed services' records move; a partial sync stays proportional to what changed.
    if (full) this.services.clear();
    for (const key of full ? current.keys() : changed) {
      const ports = current.get(key);
      if (!ports) this.services.delete(key);
      else this.services.set(key, { ports, chains: out.serviceChains.get(key) ?? [] });
    }
    this.synced = true;
    this.lastInput = servicePorts.slice();
    this.keyAt = keyAt;
    return {
      ...out,
      full,
      changedServices: full ? [...this.services.keys()].sort() : [...changed].sort(),
    };
  }

  /**
   * The services whose ports differ from the last sync, and the current ports of the services looked at (every
   * service on a full sync). When the input has the same length as last time, only services at positions now
   * holding a different object can have changed, so only they are grouped and compared.
   */
  private changes(
    servicePorts: ProxyServicePort[],
    full: boolean,
  ): {
    current: Map<string, ProxyServicePort[]>;
    changed: Set<string>;
    keyAt: string[];
  } {
    const changed = new Set<string>();
    const last = this.lastInput;
    let touched: Set<string> | undefined;
    let keyAt = this.keyAt;
    if (!full && last.length === servicePorts.length && keyAt.length === last.length) {
      touched = new Set();
      keyAt = keyAt.slice();
      for (let i = 0; i < last.length; i++) {
        const sp = servicePorts[i]!;
        if (sp === last[i]) continue;
        touched.add(keyAt[i]!);
        const key = serviceKeyOf(sp);
        keyAt[i] = key;
        touched.add(key);
        // Past a few changed positions, grouping the whole input costs less than this bookkeeping.
        if (touched.size > 64) {
          touched = undefined;
          break;
        }
      }
    }
    const current = new Map<string, ProxyServicePort[]>();
    if (touched === undefined) keyAt = servicePorts.map(serviceKeyOf);
    for (let i = 0; i < servicePorts.length; i++) {
      const key = keyAt[i]!;
      if (touched !== undefined && !touched.has(key)) continue;
      const list = current.get(key);
      if (list) list.push(servicePorts[i]!);
      else current.set(key, [servicePorts[i]!]);
    }
    for (const [key, ports] of current) {
      const before = this.services.get(key)?.ports;
      if (!before || !samePorts(before, ports)) changed.add(key);
    }
    if (touched === undefined) {
      for (const key of this.services.keys()) if (!current.has(key)) changed.add(key);
    } else for (const key of touched) if (!current.has(key) && this.services.has(key)) changed.add(key);
    return { current, changed, keyAt };
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
