import type { Policy } from "./model.ts";

/** Where in the dataplane a decision is made. */
export type Stage =
  | "workload" // cali-tw-/cali-fw-: a pod's ingress or egress policy
  | "host" // cali-fh-/cali-th-: traffic to or from the host itself
  | "forward" // cali-fhfw-/cali-thfw-: traffic forwarded through a host endpoint (applyOnForward)
  | "pre-dnat" // mangle PREROUTING, before kube-proxy's DNAT (ingress only)
  | "untracked"; // raw table (doNotTrack)

/** Whether a policy takes part at a stage (Felix's event_sequencer.go splits them this way); render uses it too. */
export function policyInStage(stage: Stage, p: Policy): boolean {
  switch (stage) {
    case "workload":
    case "host":
      return !p.preDNAT && !p.doNotTrack;
    case "forward":
      return p.applyOnForward && !p.preDNAT && !p.doNotTrack;
    case "pre-dnat":
      return p.preDNAT;
    case "untracked":
      return p.doNotTrack;
  }
}
