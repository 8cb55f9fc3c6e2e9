/**
 * Lookups the evaluator needs, built once per model: which endpoints and network sets own an address (the
 * contents of Felix's selector IP sets), which policies select an endpoint, and selector results memoised per
 * identity.
 */
import { cidrContainsIp, type IpAddress } from "../net/index.ts";
import { LabelIndex, type Selector } from "../selector/index.ts";
import type { Direction, Endpoint, Policy, PolicyModel, Tier } from "./model.ts";
import type { Identity, IdentityLookup } from "./rule-match.ts";
import { policyInStage, type Stage } from "./stage.ts";

/** Address keys, memoised per address object: bigint-to-string is the hot path of selector matching. */
const ipKeys = new WeakMap<IpAddress, string>();
function ipKey(ip: IpAddress): string {
  let k = ipKeys.get(ip);
  if (k === undefined) {
    k = `${ip.family}:${ip.value}`;
    ipKeys.set(ip, k);
  }
  return k;
}

export class PolicyIndex implements IdentityLookup {
  readonly model: PolicyModel;
  private readonly byIp = new Map<string, Identity[]>();
  private readonly identityCache = new Map<string, readonly Identity[]>();
  private readonly selectorCache: Map<Selector, Map<string, boolean>> = new Map();
  private readonly selectingCache: Map<string, Policy[]> = new Map();
  private readonly policiesByTier = new Map<string, Policy[]>();
  readonly endpointsById = new Map<string, Endpoint>();
  readonly hostEndpointsByNode = new Map<string, Endpoint[]>();
  private readonly tierByName = new Map<string, Tier>();
  /** `tiersFor` per stage, per endpoint's list of selecting policies (a list is replaced, never changed). */
  private readonly tiersAtCache = new WeakMap<
    Policy[],
    ({ tier: Tier; policies: Policy[] }[] | undefined)[]
  >();

  constructor(
    model: PolicyModel,
    shared?: { selectors: Map<Selector, Map<string, boolean>>; selecting: Map<string, Policy[]> },
  ) {
    this.model = model;
    if (shared) {
      this.selectorCache = shared.selectors;
      this.selectingCache = shared.selecting;
    }
    for (const t of model.tiers) this.tierByName.set(t.name, t);
    for (const e of model.endpoints) {
      this.endpointsById.set(e.id, e);
      if (e.kind === "host") {
        const list = this.hostEndpointsByNode.get(e.node) ?? [];
        list.push(e);
        this.hostEndpointsByNode.set(e.node, list);
      }
      for (const ip of e.ips) {
        const k = ipKey(ip);
        let list = this.byIp.get(k);
        if (!list) {
          list = [];
          this.byIp.set(k, list);
        }
        list.push(e);
      }
    }
    for (const p of model.policies) {
      let list = this.policiesByTier.get(p.tier);
      if (!list) {
        list = [];
        this.policiesByTier.set(p.tier, list);
      }
      list.push(p);
    }
  }

  identitiesOf(ip: IpAddress): readonly Identity[] {
    const k = ipKey(ip);
    let out = this.identityCache.get(k);
    if (!out) {
      const list: Identity[] = [...(this.byIp.get(k) ?? [])];
      for (const set of this.model.networkSets)
        if (set.nets.some((n) => cidrContainsIp(n, ip))) list.push({ id: set.id, labels: set.labels });
      out = list;
      this.identityCache.set(k, out);
    }
    return out;
  }

  endpointsAt(ip: IpAddress): Endpoint[] {
    return (this.byIp.get(ipKey(ip)) ?? []) as Endpoint[];
  }

  serviceBackends(namespace: string, name: string) {
    const svc = this.model.services.find((s) => s.namespace === namespace && s.name === name);
    return (svc?.ports ?? []).flatMap((p) => p.backends.map((b) => ({ ...b, protocol: p.protocol })));
  }

  selects(selector: Selector, identity: Identity): boolean {
    let cache = this.selectorCache.get(selector);
    if (!cache) {
      cache = new Map();
      this.selectorCache.set(selector, cache);
    }
    let v = cache.get(identity.id);
    if (v === undefined) {
      v = selector.matches(identity.labels);
      cache.set(identity.id, v);
    }
    return v;
  }

  /** Policies whose own selector matches the endpoint, in tier-then-policy order. */
  selecting(endpoint: Endpoint): Policy[] {
    if (this.selectingCache.size === 0) this.primeSelecting();
    let out = this.selectingCache.get(endpoint.id);
    if (!out) {
      out = [];
      for (const tier of this.model.tiers)
        for (const p of this.policiesByTier.get(tier.name) ?? [])
          if (this.selects(p.selector, endpoint)) out.push(p);
      this.selectingCache.set(endpoint.id, out);
    }
    return out;
  }

  /**
   * Fills the per-endpoint policy lists for the whole model at once: one label-index query per policy instead
   * of every policy's selector evaluated against every endpoint.
   */
  private primeSelecting(): void {
    const index = new LabelIndex<string>();
    for (const e of this.model.endpoints) {
      index.set(e.id, e.labels);
      this.selectingCache.set(e.id, []);
    }
    for (const tier of this.model.tiers)
      for (const p of this.policiesByTier.get(tier.name) ?? [])
        for (const id of index.query(p.selector)) this.selectingCache.get(id)!.push(p);
  }

  /** The tiers that take part for this endpoint and direction, each with its applicable policies in order. */
  tiersFor(
    endpoint: Endpoint,
    direction: Direction,
    keep: (p: Policy) => boolean,
  ): { tier: Tier; policies: Policy[] }[] {
    const out: { tier: Tier; policies: Policy[] }[] = [];
    for (const p of this.selecting(endpoint)) {
      if (!p[direction] || !keep(p)) continue;
      const last = out[out.length - 1];
      if (last && last.tier.name === p.tier) last.policies.push(p);
      else out.push({ tier: this.tierByName.get(p.tier)!, policies: [p] });
    }
    return out;
  }

  /** `tiersFor` with the policies that take part at `stage`, cached: the evaluator asks it for every decision. */
  tiersAt(
    endpoint: Endpoint,
    direction: Direction,
    stage: Stage,
  ): readonly { tier: Tier; policies: Policy[] }[] {
    const selecting = this.selecting(endpoint);
    let slots = this.tiersAtCache.get(selecting);
    if (!slots) {
      slots = [];
      this.tiersAtCache.set(selecting, slots);
    }
    const slot = STAGE_SLOT[stage] * 2 + (direction === "ingress" ? 0 : 1);
    let out = slots[slot];
    if (!out) {
      out = this.tiersFor(endpoint, direction, (p) => policyInStage(stage, p));
      slots[slot] = out;
    }
    return out;
  }

  /** The same model with a new policy list; cached selections are kept except for endpoints `touched` selects. */
  withPolicies(policies: Policy[], touched: Policy[]): PolicyIndex {
    for (const [id, _] of this.selectingCache) {
      const e = this.endpointsById.get(id);
      if (!e || touched.some((p) => this.selects(p.selector, e))) this.selectingCache.delete(id);
    }
    return new PolicyIndex(
      { ...this.model, policies },
      { selectors: this.selectorCache, selecting: this.selectingCache },
    );
  }

  /** The same model with one endpoint replaced (new labels); its cached results are dropped. */
  withEndpoint(next: Endpoint): PolicyIndex {
    for (const cache of this.selectorCache.values()) cache.delete(next.id);
    this.selectingCache.delete(next.id);
    const endpoints = this.model.endpoints.map((e) => (e.id === next.id ? next : e));
    if (!this.endpointsById.has(next.id)) endpoints.push(next);
    // Addresses are cached with their owners' identities.
    return new PolicyIndex(
      { ...this.model, endpoints },
      { selectors: this.selectorCache, selecting: this.selectingCache },
    );
  }
}

const STAGE_SLOT: Record<Stage, number> = { workload: 0, host: 1, forward: 2, "pre-dnat": 3, untracked: 4 };
