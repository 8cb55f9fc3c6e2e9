/**
 * One policy decision at one point of the dataplane, as Felix's chains make it (reference §2.6, §5.3):
 * failsafe ports first on host endpoints, then each tier that has a policy for this endpoint and direction —
 * rules in order, Allow/Deny decide, Pass leaves the tier, Log continues, the tier's default action ends it —
 * then the endpoint's profiles, or the stage's own default.
 */
import { cidrContainsIp } from "../net/index.ts";
import type { Direction, Endpoint, FailsafePort, Policy, PolicyRule, RuleAction } from "./model.ts";
import type { PolicyIndex } from "./policy-index.ts";
import { protocolName } from "./protocols.ts";
import { type Packet, ruleMatches } from "./rule-match.ts";
import type { Stage } from "./stage.ts";

export { policyInStage, type Stage } from "./stage.ts";

export type Verdict = "allow" | "deny" | "continue";

export interface RuleStep {
  rule: number;
  action: RuleAction;
  matched: boolean;
  reason?: string;
}

export interface PolicyStep {
  policy: string;
  kind: Policy["kind"];
  namespace?: string;
  order?: number;
  rules: RuleStep[];
  /** What the policy did: a rule's action, or nothing matched. */
  outcome: "allow" | "deny" | "pass" | "no-match";
}

export interface TierStep {
  tier: string;
  defaultAction: "Deny" | "Pass";
  policies: PolicyStep[];
  outcome: "allow" | "deny" | "pass" | "end-of-tier";
}

export interface ProfileStep {
  profile: string;
  missing: boolean;
  rules: RuleStep[];
  outcome: "allow" | "deny" | "no-match";
}

export interface Decision {
  stage: Stage;
  direction: Direction;
  endpoint: string;
  verdict: Verdict;
  /** One line: what decided. */
  reason: string;
  /** The deciding policy and rule, when a rule decided. */
  decidedBy?: { tier: string; policy: string; namespace?: string; rule: number; action: RuleAction };
  failsafe?: string;
  tiers: TierStep[];
  profiles: ProfileStep[];
}

function failsafeHit(
  list: FailsafePort[],
  packet: Packet,
  direction: Direction,
  port = packet.dstPort,
): FailsafePort | undefined {
  return list.find(
    (f) =>
      f.protocol === packet.protocol &&
      f.port === port &&
      (!f.net || cidrContainsIp(f.net, direction === "ingress" ? packet.src : packet.dst)),
  );
}

function runRules(
  rules: PolicyRule[],
  packet: Packet,
  index: PolicyIndex,
  explain: boolean,
  steps: RuleStep[],
): PolicyRule | undefined {
  for (const rule of rules) {
    const m = ruleMatches(rule, packet, index, explain);
    if (explain)
      steps.push({
        rule: rule.index,
        action: rule.action,
        matched: m.matched,
        ...(m.reason ? { reason: m.reason } : {}),
      });
    if (!m.matched) continue;
    if (rule.action === "Log") continue;
    return rule;
  }
  return undefined;
}

/** Placeholders when no explanation is built: never written to (runRules records steps only when explaining). */
const NO_RULE_STEPS: RuleStep[] = [];
const NO_TIER_STEP: TierStep = { tier: "", defaultAction: "Deny", policies: [], outcome: "end-of-tier" };
const NO_PROFILE_STEP: ProfileStep = { profile: "", missing: false, rules: [], outcome: "no-match" };

const policyLabel = (p: Policy) => (p.namespace ? `${p.namespace}/${p.name}` : p.name);

/**
 * Evaluates the policy for `endpoint` in `direction` at `stage`. `explain` builds the step-by-step record and
 * names what decided (`reason`, `decidedBy`); without it only the verdict is computed (the matrix's fast path),
 * though `reason` still says why when no rule decided.
 */
export function evaluateAt(
  index: PolicyIndex,
  endpoint: Endpoint,
  direction: Direction,
  stage: Stage,
  packet: Packet,
  explain: boolean,
): Decision {
  const decision: Decision = {
    stage,
    direction,
    endpoint: endpoint.id,
    verdict: "continue",
    reason: "",
    tiers: [],
    profiles: [],
  };
  const host = endpoint.kind === "host";
  if (host && stage !== "forward") {
    const { failsafeInbound, failsafeOutbound } = index.model.host;
    const list = direction === "ingress" ? failsafeInbound : failsafeOutbound;
    let hit = failsafeHit(list, packet, direction);
    // In raw, before conntrack, replies from the other direction's failsafe ports are allowed too (static.go).
    if (!hit && stage === "untracked")
      hit = failsafeHit(
        direction === "ingress" ? failsafeOutbound : failsafeInbound,
        packet,
        direction,
        packet.srcPort,
      );
    if (hit) {
      decision.verdict = "allow";
      decision.failsafe = `${protocolName(hit.protocol).toLowerCase()}:${hit.port}`;
      decision.reason = `failsafe ${direction === "ingress" ? "inbound" : "outbound"} port ${decision.failsafe}`;
      return decision;
    }
  }
  let anyTier = false;
  for (const { tier, policies } of index.tiersAt(endpoint, direction, stage)) {
    anyTier = true;
    // The step records are only built for an explanation (the matrix makes half a million decisions).
    const tierStep: TierStep = explain
      ? { tier: tier.name, defaultAction: tier.defaultAction, policies: [], outcome: "end-of-tier" }
      : NO_TIER_STEP;
    if (explain) decision.tiers.push(tierStep);
    let passed = false;
    for (const p of policies) {
      const ruleSteps: RuleStep[] = explain ? [] : NO_RULE_STEPS;
      const hit = runRules(p[direction]!, packet, index, explain, ruleSteps);
      const outcome = hit
        ? hit.action === "Allow"
          ? "allow"
          : hit.action === "Deny"
            ? "deny"
            : "pass"
        : "no-match";
      if (explain)
        tierStep.policies.push({
          policy: p.name,
          kind: p.kind,
          ...(p.namespace ? { namespace: p.namespace } : {}),
          ...(p.order !== undefined ? { order: p.order } : {}),
          rules: ruleSteps,
          outcome,
        });
      if (!hit) continue;
      if (explain) tierStep.outcome = outcome as TierStep["outcome"];
      if (outcome === "pass") {
        passed = true;
        break;
      }
      decision.verdict = outcome === "allow" ? "allow" : "deny";
      // Without an explanation only the verdict is wanted: naming what decided is left out too.
      if (!explain) return decision;
      decision.decidedBy = {
        tier: tier.name,
        policy: p.name,
        ...(p.namespace ? { namespace: p.namespace } : {}),
        rule: hit.index,
        action: hit.action,
      };
      decision.reason = `${hit.action === "Allow" ? "allowed" : "denied"} by ${policyLabel(p)} ${direction} rule ${hit.index} in tier ${tier.name}`;
      return decision;
    }
    if (passed) continue;
    // Pre-DNAT and untracked tiers always end in Pass, so normal policy still runs (event_sequencer.go).
    if (tier.defaultAction === "Deny" && stage !== "pre-dnat" && stage !== "untracked") {
      decision.verdict = "deny";
      decision.reason = `denied at the end of tier ${tier.name}: no policy in it allowed the packet`;
      return decision;
    }
  }
  switch (stage) {
    case "pre-dnat":
    case "untracked":
      decision.reason = anyTier ? "no rule decided; normal policy applies" : "no policy applies";
      return decision;
    case "forward":
      decision.verdict = "allow";
      decision.reason = anyTier
        ? "every tier passed; forwarded traffic is allowed"
        : "no forward policy applies; forwarded traffic is allowed by default";
      return decision;
    default:
      return profileDecision(index, endpoint, direction, packet, explain, decision, anyTier);
  }
}

function profileDecision(
  index: PolicyIndex,
  endpoint: Endpoint,
  direction: Direction,
  packet: Packet,
  explain: boolean,
  decision: Decision,
  anyTier: boolean,
): Decision {
  for (const name of endpoint.profiles) {
    const profile = index.model.profiles.get(name);
    const step: ProfileStep = explain
      ? { profile: name, missing: !profile, rules: [], outcome: "no-match" }
      : NO_PROFILE_STEP;
    if (explain) decision.profiles.push(step);
    if (!profile) {
      // A referenced profile that does not exist drops everything (DummyDropRules).
      if (explain) step.outcome = "deny";
      decision.verdict = "deny";
      decision.reason = `denied: profile ${name} does not exist`;
      return decision;
    }
    const hit = runRules(profile[direction], packet, index, explain, step.rules);
    if (!hit || hit.action === "Pass") continue;
    decision.verdict = hit.action === "Allow" ? "allow" : "deny";
    if (!explain) return decision;
    step.outcome = decision.verdict;
    decision.reason = `${step.outcome === "allow" ? "allowed" : "denied"} by profile ${name}${anyTier ? " after every tier passed" : " (no policy applies)"}`;
    return decision;
  }
  decision.verdict = "deny";
  decision.reason =
    endpoint.profiles.length === 0
      ? `denied: ${endpoint.kind === "host" ? "host endpoint" : "endpoint"} has no policy and no profile`
      : "denied: no profile matched";
  return decision;
}
