import type {
  Hook,
  MatchContext,
  Netfilter,
  Packet,
  RuleHit,
  TableName,
  TraversalResult,
} from "../netfilter/index.ts";
import type { NftChain, NftTable } from "./model.ts";
import type { Nftables } from "./ruleset.ts";

/**
 * Where the network calls the iptables tables at each hook, in its order, with their priorities. nft base
 * chains are slotted among these calls by priority, so both kinds of consumer run in the kernel's order.
 */
const SLOTS: Record<Hook, [TableName, number][]> = {
  PREROUTING: [
    ["raw", -300],
    ["mangle", -150],
    ["nat", -100],
  ],
  INPUT: [
    ["mangle", -150],
    ["filter", 0],
    ["nat", 100],
  ],
  FORWARD: [
    ["mangle", -150],
    ["filter", 0],
  ],
  OUTPUT: [
    ["raw", -300],
    ["mangle", -150],
    ["nat", -100],
    ["filter", 0],
  ],
  POSTROUTING: [
    ["mangle", -150],
    ["nat", 100],
  ],
};

interface Entry {
  table: NftTable;
  chain: NftChain;
}

interface Plan {
  before: Entry[];
  after: Entry[];
}

const plans = new WeakMap<Nftables, { generation: number; bySlot: (Plan | undefined)[] }>();
const HOOK_INDEX: Record<Hook, number> = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 };
const TABLE_INDEX: Record<TableName, number> = { raw: 0, mangle: 1, nat: 2, filter: 3 };

/**
 * Which nft base chains run with the iptables table `table` at `hook`, before or after it.
 * - nat-type chains run with the nat table (only for a connection's first packet, like iptables' nat), before
 *   it if their priority is lower, else after it.
 * - other chains run before the first table of higher priority; when that is the nat table, they run after the
 *   table before it instead, so they see every packet (the network calls nat only for new connections). A
 *   chain above every table runs after the last non-nat table.
 */
function planFor(nft: Nftables, table: TableName, hook: Hook): Plan {
  let cache = plans.get(nft);
  if (!cache || cache.generation !== nft.generation) {
    cache = { generation: nft.generation, bySlot: [] };
    plans.set(nft, cache);
  }
  const slot = HOOK_INDEX[hook] * 4 + TABLE_INDEX[table];
  const hit = cache.bySlot[slot];
  if (hit) return hit;
  const plan: Plan = { before: [], after: [] };
  const slots = SLOTS[hook];
  const nonNat = slots.filter(([t]) => t !== "nat");
  for (const e of nft.baseChains(hook)) {
    const prio = e.chain.base!.priority;
    if (e.chain.base!.type === "nat") {
      if (table === "nat") (prio < slots.find(([t]) => t === "nat")![1] ? plan.before : plan.after).push(e);
      continue;
    }
    const idx = slots.findIndex(([, p]) => p > prio);
    let slot: TableName;
    let where: "before" | "after";
    if (idx < 0) {
      slot = nonNat[nonNat.length - 1]![0];
      where = "after";
    } else if (slots[idx]![0] === "nat") {
      const prev = slots.slice(0, idx).filter(([t]) => t !== "nat");
      if (prev.length) {
        slot = prev[prev.length - 1]![0];
        where = "after";
      } else {
        slot = nonNat[0]![0];
        where = "before";
      }
    } else {
      slot = slots[idx]![0];
      where = "before";
    }
    if (slot === table) plan[where].push(e);
  }
  cache.bySlot[slot] = plan;
  return plan;
}

/**
 * One consumer call of the network: the iptables table `table` at `hook`, with the nft base chains slotted
 * around it. The first verdict other than accept ends it; at the nat slot, the first NAT mapping does too.
 */
export function traverseHook(
  netfilter: Netfilter,
  nft: Nftables,
  table: TableName,
  hook: Hook,
  p: Packet,
  ctx: MatchContext,
  hits?: RuleHit[],
): TraversalResult {
  if (nft.tables.size === 0) return netfilter.traverse(table, hook, p, ctx, hits);
  const plan = planFor(nft, table, hook);
  for (const e of plan.before) {
    const r = nft.runChain(e.table, e.chain, p, ctx);
    if (r.verdict !== "ACCEPT" || r.nat) return r;
  }
  const r = netfilter.traverse(table, hook, p, ctx, hits);
  if (r.verdict !== "ACCEPT" || r.nat) return r;
  for (const e of plan.after) {
    const n = nft.runChain(e.table, e.chain, p, ctx);
    if (n.verdict !== "ACCEPT" || n.nat) return { ...n, logs: r.logs };
  }
  return r;
}
