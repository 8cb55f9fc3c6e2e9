import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import { type IptablesSyncOutput, renderIptablesSync } from "./iptables-rules.ts";
import type { ProxyServicePort } from "./service-ports.ts";

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
  private readonly fingerprints = new Map<string, string>();
  private natChains = new Set<string>();
  private synced = false;

  constructor(readonly config: KubeProxyIptablesConfig) {}

  sync(
    servicePorts: ProxyServicePort[],
    options: { full?: boolean; existingNatChains?: ReadonlySet<string> } = {},
  ): IptablesSyncResult {
    const full = options.full === true || !this.synced;
    const current = fingerprintServices(servicePorts);
    const changed = new Set<string>();
    for (const [key, fp] of current) if (this.fingerprints.get(key) !== fp) changed.add(key);
    for (const key of this.fingerprints.keys()) if (!current.has(key)) changed.add(key);
    const existing = options.existingNatChains ?? this.natChains;
    const out = renderIptablesSync({
      config: this.config,
      servicePorts,
      changedServices: full ? undefined : changed,
      existingNatChains: existing,
    });
    const after = new Set(existing);
    for (const chain of out.writtenNatChains) after.add(chain);
    for (const chain of out.deletedNatChains) after.delete(chain);
    this.natChains = after;
    this.fingerprints.clear();
    for (const [key, fp] of current) this.fingerprints.set(key, fp);
    this.synced = true;
    return { ...out, full, changedServices: full ? [...current.keys()].sort() : [...changed].sort() };
  }

  /** The nat chains the kernel holds after the last sync, as far as this syncer knows. */
  existingNatChains(): ReadonlySet<string> {
    return this.natChains;
  }
}

function fingerprintServices(servicePorts: ProxyServicePort[]): Map<string, string> {
  const parts = new Map<string, string[]>();
  for (const sp of servicePorts) {
    const key = `${sp.namespace}/${sp.name}`;
    const list = parts.get(key) ?? [];
    list.push(JSON.stringify(sp));
    parts.set(key, list);
  }
  const out = new Map<string, string>();
  for (const [key, list] of parts) out.set(key, list.sort().join("\n"));
  return out;
}
