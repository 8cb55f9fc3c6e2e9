import { isServiceChainName } from "./chain-names.ts";
import type { KubeProxyIptablesConfig } from "./iptables-config.ts";
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  Lines,
  quoted,
  type RenderSettings,
} from "./service-port-rules.ts";
import type { ProxyServicePort } from "./service-ports.ts";
import { IptablesSyncCache, writeServicePorts } from "./sync-body.ts";

/** kube-proxy switches to terse rules (no per-endpoint comments) above this many endpoints. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

export interface IptablesSyncInput {
  config: KubeProxyIptablesConfig;
  servicePorts: ProxyServicePort[];
  /**
   * Partial sync (KEP-3453): only these services' (`ns/name`) SVC/SVL/EXT/FW/SEP chains are written; the
   * others keep what the kernel has. Undefined: a full sync writes every chain.
   */
  changedServices: ReadonlySet<string> | undefined;
  /**
   * Chains that may be stale: each is deleted unless a service written in this sync still uses it. On a full
   * sync, the nat chains the kernel has (`iptables-save -t nat`); on a partial sync, only chains that belonged
   * to the changed services (a chain's name hashes its service port, so it cannot belong to another service).
   */
  staleCandidates: Iterable<string>;
}

export interface IptablesSyncOutput {
  /**
   * The `iptables-restore --noflush` payload: `*filter … COMMIT` then `*nat … COMMIT`. Built by concatenating
   * large pieces (see joinLines): the one copy into contiguous text happens where it is first read.
   */
  restore: string;
  filter: string;
  nat: string;
  /** The chains each written service (`ns/name`) uses now. */
  serviceChains: Map<string, string[]>;
  /** Chains given a `:CHAIN` line (and so flushed and rewritten) in this payload. */
  writtenNatChains: Set<string>;
  /** Stale service chains this payload deletes. */
  deletedNatChains: string[];
}

interface Table {
  chains: Lines;
  rules: Lines;
}

/**
 * One sync of kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go syncProxyRules), as pure text.
 * Services are emitted in service-port-name order; kube-proxy uses Go map order, so only the order of
 * rules between services differs, which iptables does not care about. A syncer passes the same `cache` to
 * every sync, so unchanged runs of services reuse their text (see sync-body.ts).
 */
export function renderIptablesSync(
  input: IptablesSyncInput,
  cache: IptablesSyncCache = new IptablesSyncCache(),
): IptablesSyncOutput {
  const { config } = input;
  const isV6 = config.family === 6;
  const mark = config.masqueradeMark;
  const filter: Table = { chains: new Lines(), rules: new Lines() };
  const nat: Table = { chains: new Lines(), rules: new Lines() };
  const writtenNatChains = new Set<string>();

  for (const chain of [
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
  ])
    filter.chains.write(`:${chain} - [0:0]`);
  for (const chain of [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]) {
    nat.chains.write(`:${chain} - [0:0]`);
    writtenNatChains.add(chain);
  }
  if (config.localhostNodePorts && !isV6) {
    filter.chains.write(`:${KUBE_FIREWALL} - [0:0]`);
    filter.rules.write(
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections"`,
      "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
    );
  }
  nat.rules.write(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  // Clear the mark so a packet re-traversing the rules (e.g. after encapsulation) is not masqueraded again.
  nat.rules.write(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  nat.rules.write(
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${config.randomFully ? " --random-fully" : ""}`,
  );
  nat.rules.write(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);

  const totalEndpoints = input.servicePorts.reduce((n, sp) => n + sp.endpoints.length, 0);
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;
  const settings: RenderSettings = { config, largeCluster };
  const settingsKey = `${JSON.stringify(config)}|${largeCluster}`;
  const serviceChains = new Map<string, string[]>();
  writeServicePorts(
    input.servicePorts,
    settings,
    settingsKey,
    input.changedServices,
    {
      filterRules: filter.rules.lines,
      natChainLines: nat.chains.lines,
      natRules: nat.rules.lines,
      serviceChains,
      writtenNatChains,
    },
    cache,
  );

  const deletedNatChains: string[] = [];
  for (const chain of [...new Set(input.staleCandidates)].sort()) {
    if (writtenNatChains.has(chain) || !isServiceChainName(chain)) continue;
    // A chain line flushes the chain, so the delete cannot fail on leftover rules.
    nat.chains.write(`:${chain} - [0:0]`);
    nat.rules.write(`-X ${chain}`);
    deletedNatChains.push(chain);
  }

  const lastRuleComment = quoted(
    "kubernetes service nodeports; NOTE: this must be the last rule in this chain",
  );
  if (config.nodePortIPs === undefined) {
    const destination = ["-m addrtype --dst-type LOCAL"];
    if (isV6) destination.push("! -d ::1/128");
    else if (!config.localhostNodePorts) destination.push("! -d 127.0.0.0/8");
    nat.rules.write(
      `-A ${KUBE_SERVICES} -m comment --comment`,
      lastRuleComment,
      destination,
      `-j ${KUBE_NODEPORTS}`,
    );
  } else {
    for (const ip of config.nodePortIPs) {
      const loopback = ip.startsWith("127.") || ip === "::1";
      if (loopback && (isV6 || !config.localhostNodePorts)) continue;
      nat.rules.write(
        `-A ${KUBE_SERVICES} -m comment --comment`,
        lastRuleComment,
        `-d ${ip} -j ${KUBE_NODEPORTS}`,
      );
    }
  }

  if (!config.conntrackTCPLiberal)
    filter.rules.write(
      `-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID`,
      config.nfacct.ctStateInvalidDroppedPkts ? "-m nfacct --nfacct-name ct_state_invalid_dropped_pkts" : [],
      "-j DROP",
    );
  filter.rules.write(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filter.rules.write(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  const filterText = `*filter\n${joinLines(filter.chains.lines)}${joinLines(filter.rules.lines)}COMMIT\n`;
  const natText = `*nat\n${joinLines(nat.chains.lines)}${joinLines(nat.rules.lines)}COMMIT\n`;
  return {
    restore: filterText + natText,
    filter: filterText,
    nat: natText,
    serviceChains,
    writtenNatChains,
    deletedNatChains,
  };
}

/** Past this many blocks the text is joined into one flat string; below it, concatenated (see joinLines). */
const ROPE_MAX_BLOCKS = 4096;

/**
 * Each block followed by a newline (no array spreading: a large sync has a million lines). A partial sync's
 * tables are a few hundred large cached blocks (KUBE-SERVICES is rewritten in full, ~1.3 MB at 10k services):
 * concatenating them makes a rope in O(blocks), where joining would copy every byte again on every sync. The
 * copy then happens once, where the text is consumed (written to iptables-restore, or parsed).
 */
function joinLines(lines: string[]): string {
  if (lines.length === 0) return "";
  if (lines.length > ROPE_MAX_BLOCKS) return `${lines.join("\n")}\n`;
  let out = "";
  for (const line of lines) out = `${out}${line}\n`;
  return out;
}
