/**
 * Felix's host endpoint chains (reference §2.7, §5.1; felix/dataplane/linux/endpoint_mgr.go, felix/rules/
 * endpoints.go, dispatch.go, static.go): which host endpoint governs each host interface, the per-endpoint chains
 * in filter (`cali-fh-`/`cali-th-`, `cali-fhfw-`/`cali-thfw-`), mangle (pre-DNAT `cali-fh-`, DNAT'd egress
 * `cali-th-`) and raw (doNotTrack), their dispatch chains, and the failsafe chains.
 */
import { formatCidr, formatIp } from "../../net/index.ts";
import type { Endpoint, FailsafePort, PolicyModel } from "../../policy/index.ts";
import {
  type ChainRenderer,
  type ChainTable,
  type EndpointChainSpec,
  protoName,
  renderEndpointChain,
  tiersFor,
} from "./felix-rules.ts";
import { lengthLimitedName } from "./names.ts";

/** The key endpoint_mgr.go gives the all-interfaces (`*`) host endpoint; its chains are named after it. */
export const ALL_INTERFACES = "any-interface-at-all";

/** A host interface that is not a workload's veth, with its IPv4 addresses. */
export interface HostInterface {
  name: string;
  ips: string[];
}

/**
 * The host endpoint per interface, as endpoint_mgr.go resolves it: a host endpoint naming the interface, or one
 * without a name whose expected IPs are on it; the lowest name wins among several. The best `*` host endpoint
 * is returned under `ALL_INTERFACES`.
 */
export function resolveHostEndpoints(
  model: PolicyModel,
  node: string,
  interfaces: HostInterface[],
): Map<string, Endpoint> {
  const heps = model.endpoints.filter((e) => e.kind === "host" && e.node === node);
  const out = new Map<string, Endpoint>();
  const better = (a: Endpoint | undefined, b: Endpoint) => !a || b.name < a.name;
  for (const iface of interfaces) {
    let best: Endpoint | undefined;
    for (const h of heps) {
      if (h.interfaceName === "*") continue;
      const matches = h.interfaceName
        ? h.interfaceName === iface.name
        : h.ips.some((ip) => ip.family === 4 && iface.ips.includes(formatIp(ip)));
      if (matches && better(best, h)) best = h;
    }
    if (best) out.set(iface.name, best);
  }
  let all: Endpoint | undefined;
  for (const h of heps) if (h.interfaceName === "*" && better(all, h)) all = h;
  if (all) out.set(ALL_INTERFACES, all);
  return out;
}

function failsafeRule(f: FailsafePort, ports: "dports" | "sports", net: "-s" | "-d"): string | undefined {
  if (f.net && f.net.family !== 4) return undefined;
  const cidr = f.net ? ` ${net} ${formatCidr(f.net)}` : "";
  return `-p ${protoName(f.protocol)}${cidr} -m multiport --${ports} ${f.port} -j ACCEPT`;
}

/**
 * `cali-failsafe-in` / `cali-failsafe-out` for one table (static.go `failsafeInChain`/`failsafeOutChain`). In
 * raw, the other list's ports are also allowed as source ports, so replies are not left to doNotTrack policy.
 */
function renderFailsafeChains(model: PolicyModel, t: ChainTable): void {
  const raw = t.name === "raw";
  const add = (chain: string, list: FailsafePort[], ports: "dports" | "sports", net: "-s" | "-d") => {
    for (const f of list) {
      const rule = failsafeRule(f, ports, net);
      if (rule)
        t.add(chain, rule, {
          kind: "failsafe",
          direction: chain === "cali-failsafe-in" ? "ingress" : "egress",
          action: "allow",
        });
    }
  };
  t.chain("cali-failsafe-in");
  t.chain("cali-failsafe-out");
  add("cali-failsafe-in", model.host.failsafeInbound, "dports", "-s");
  if (raw) add("cali-failsafe-in", model.host.failsafeOutbound, "sports", "-s");
  add("cali-failsafe-out", model.host.failsafeOutbound, "dports", "-d");
  if (raw) add("cali-failsafe-out", model.host.failsafeInbound, "sports", "-d");
}

/**
 * Dispatch chains (dispatch.go `interfaceNameDispatchChains`): one goto per interface, then the `*` endpoint's
 * chain as the default. `skipToWorkloads` adds the "Skip egress WHEP" return before the default (mangle).
 */
function dispatch(
  t: ChainTable,
  chain: string,
  dir: "-i" | "-o",
  prefix: string,
  names: string[],
  hasDefault: boolean,
  skipToWorkloads = false,
): void {
  t.chain(chain);
  for (const n of [...names].sort()) t.add(chain, `${dir} ${n} -g ${lengthLimitedName(prefix, n)}`);
  if (!hasDefault) return;
  if (skipToWorkloads)
    t.add(
      chain,
      '-o cali+ -m comment --comment "Skip egress WHEP policy for traffic to local workload" -j RETURN',
    );
  t.add(chain, `-g ${lengthLimitedName(prefix, ALL_INTERFACES)}`);
}

interface HostEndpointTables {
  filter: ChainTable;
  mangle: ChainTable;
  raw: ChainTable;
}

/**
 * Every host endpoint chain of a node in the three tables, with the dispatch chains and failsafe chains. Felix
 * renders the dispatch and failsafe chains even when the node has no host endpoint (they are then empty).
 */
export function renderHostEndpointChains(
  r: ChainRenderer,
  tables: HostEndpointTables,
  node: string,
  interfaces: HostInterface[],
): void {
  const { model } = r;
  const byIface = resolveHostEndpoints(model, node, interfaces);
  const { filter, mangle, raw } = tables;
  for (const t of [filter, mangle, raw]) renderFailsafeChains(model, t);
  const named = [...byIface.keys()].filter((n) => n !== ALL_INTERFACES);
  const hasAll = byIface.has(ALL_INTERFACES);
  const preDnat: string[] = [];
  const untracked: string[] = [];
  for (const [iface, hep] of byIface) {
    const spec = (
      chain: string,
      direction: "ingress" | "egress",
      type: EndpointChainSpec["type"],
      extra: Partial<EndpointChainSpec> = {},
    ): EndpointChainSpec => ({
      chain,
      endpoint: hep,
      subject: hep.name,
      direction,
      type,
      allowAction: "ACCEPT",
      ...extra,
    });
    /** `cali-th-` (egress) then `cali-fh-` (ingress) of one type, each with its failsafe chain. */
    const toAndFrom = (t: ChainTable, type: EndpointChainSpec["type"]) => {
      const th = lengthLimitedName("cali-th-", iface);
      const fh = lengthLimitedName("cali-fh-", iface);
      renderEndpointChain(r, t, spec(th, "egress", type, { failsafeChain: "cali-failsafe-out" }));
      renderEndpointChain(r, t, spec(fh, "ingress", type, { failsafeChain: "cali-failsafe-in" }));
    };
    // filter: normal policy (with failsafes and profiles), then the applyOnForward policy.
    toAndFrom(filter, "normal");
    renderEndpointChain(r, filter, spec(lengthLimitedName("cali-thfw-", iface), "egress", "forward"));
    renderEndpointChain(r, filter, spec(lengthLimitedName("cali-fhfw-", iface), "ingress", "forward"));
    // mangle: normal egress policy for DNAT'd host traffic (RETURN, not ACCEPT), pre-DNAT ingress policy.
    renderEndpointChain(
      r,
      mangle,
      spec(lengthLimitedName("cali-th-", iface), "egress", "normal", {
        failsafeChain: "cali-failsafe-out",
        allowAction: "RETURN",
      }),
    );
    if (tiersFor(r.index, hep, "ingress", "pre-dnat").length) {
      preDnat.push(iface);
      renderEndpointChain(
        r,
        mangle,
        spec(lengthLimitedName("cali-fh-", iface), "ingress", "pre-dnat", {
          failsafeChain: "cali-failsafe-in",
        }),
      );
    }
    // raw: doNotTrack policy, never on the `*` host endpoint (endpoint_mgr.go ignores it with a warning).
    const hasUntracked =
      tiersFor(r.index, hep, "ingress", "untracked").length > 0 ||
      tiersFor(r.index, hep, "egress", "untracked").length > 0;
    if (hasUntracked && iface === ALL_INTERFACES)
      r.warnings.add(
        `hostendpoint ${hep.name}: doNotTrack policy is not supported for a host endpoint with interfaceName "*"; Felix ignores it, and so does the sim`,
      );
    else if (hasUntracked) {
      untracked.push(iface);
      toAndFrom(raw, "untracked");
    }
  }
  dispatch(filter, "cali-from-host-endpoint", "-i", "cali-fh-", named, hasAll);
  dispatch(filter, "cali-to-host-endpoint", "-o", "cali-th-", named, hasAll);
  dispatch(filter, "cali-from-hep-forward", "-i", "cali-fhfw-", named, hasAll);
  dispatch(filter, "cali-to-hep-forward", "-o", "cali-thfw-", named, hasAll);
  const preDnatNamed = preDnat.filter((n) => n !== ALL_INTERFACES);
  dispatch(
    mangle,
    "cali-from-host-endpoint",
    "-i",
    "cali-fh-",
    preDnatNamed,
    preDnat.includes(ALL_INTERFACES),
  );
  dispatch(mangle, "cali-to-host-endpoint", "-o", "cali-th-", named, hasAll, true);
  dispatch(raw, "cali-from-host-endpoint", "-i", "cali-fh-", untracked, false);
  dispatch(raw, "cali-to-host-endpoint", "-o", "cali-th-", untracked, false);
}
