/**
 * The policy Felix compiles into its eBPF programs (felix/bpf/polprog), as the sim runs it: the description's
 * `policyProgram` (the filter-table text of Felix's per-endpoint chains) restored into a netfilter of the program's
 * own, never the node's iptables. At each filter hook the node's packet passes, the program's policy decides as
 * the endpoint's chains would (same rules, same connection state, same IP sets), and `tortie trace` shows its
 * rule hits after a "bpf policy" step.
 */
import type { MatchContext, Packet, RuleHit, TraversalResult } from "../netfilter/index.ts";
import { type Hook, Netfilter } from "../netfilter/index.ts";

const FILTER_HOOKS = new Set<Hook>(["INPUT", "FORWARD", "OUTPUT"]);

export class BpfPolicy {
  private readonly netfilter = new Netfilter();

  constructor(node: string, program: string) {
    try {
      this.netfilter.restore(program);
    } catch (e) {
      throw new Error(`bpf.policyProgram of ${node}: ${(e as Error).message}`);
    }
  }

  /** The verdict for a packet at a filter hook (undefined at hooks the program has no part in). */
  decide(hook: Hook, p: Packet, ctx: MatchContext, hits?: RuleHit[]): TraversalResult | undefined {
    if (!FILTER_HOOKS.has(hook)) return undefined;
    return this.netfilter.traverse("filter", hook, p, ctx, hits);
  }
}
