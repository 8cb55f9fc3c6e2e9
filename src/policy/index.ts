export { buildPolicyModel, DEFAULT_ALLOW_PROFILE } from "./build-model.ts";
export type { Decision, PolicyStep, ProfileStep, RuleStep, Stage, TierStep, Verdict } from "./evaluate.ts";
export { evaluateAt, policyInStage } from "./evaluate.ts";
export {
  evaluateFlow,
  type FlowCheck,
  type FlowEnd,
  type FlowPath,
  type FlowQuery,
  type FlowResult,
} from "./flow.ts";
export { k8sNetworkPolicyToCalico, k8sSelectorToCalico } from "./k8s-conversion.ts";
export { type MatrixCell, type MatrixPort, PolicyMatrix, podLabel } from "./matrix.ts";
export type * from "./model.ts";
export { policyKey, sortPolicies, sortTiers } from "./ordering.ts";
export { type PodVerdict, podPacket, podToPodApplies, podToPodVerdict } from "./pod-verdict.ts";
export { PolicyIndex } from "./policy-index.ts";
export { protocolName, protocolNumber } from "./protocols.ts";
export { type Identity, type IdentityLookup, type Packet, ruleMatches } from "./rule-match.ts";
export { policySelector, toPolicy } from "./v1-conversion.ts";
