/**
 * Felix's eBPF dataplane in the sim: a node's programs, attached to its host namespace's kernel. network.ts asks
 * `bpfProgramOf(kernel)` at the tc hooks; a kernel without one (iptables mode, pods, the external host) has none.
 */
import type { BpfDataplaneSpec } from "../../../calc/index.ts";
import type { Kernel } from "../kernel.ts";
import type { Hook, MatchContext, Packet, RuleHit, TraversalResult } from "../netfilter/index.ts";
import { type Trace, traceSeq } from "../trace-record.ts";
import { BpfProgram } from "./program.ts";

export type { BpfEgressVerdict, BpfIngressVerdict } from "./program.ts";
export { BpfProgram };

const programs = new WeakMap<Kernel, BpfProgram>();

/** Loads a node's eBPF programs on its host namespace (Felix's attach, in BPF mode). */
export function attachBpf(kernel: Kernel, node: string, spec: BpfDataplaneSpec): BpfProgram {
  const program = new BpfProgram(node, spec, (ip) => kernel.isLocal(ip));
  programs.set(kernel, program);
  return program;
}

export function bpfProgramOf(kernel: Kernel): BpfProgram | undefined {
  return programs.get(kernel);
}

/** After the tc ingress program passed a packet received on `dev`: the marks it leaves for netfilter. */
export function bpfPassed(kernel: Kernel, dev: string, p: Packet): Packet {
  if (dev !== "lo") programs.get(kernel)?.markPassed(p, dev.startsWith("cali"));
  return p;
}

/**
 * The programs' policy verdict at a filter hook (bpf/policy.ts), recorded in the trace as a "bpf policy" step followed
 * by the policy program's rule hits; undefined when the node runs no policy program.
 */
export function bpfPolicyVerdict(
  kernel: Kernel,
  hook: Hook,
  p: Packet,
  ctx: MatchContext,
  trace: Trace | undefined,
): TraversalResult | undefined {
  const policy = programs.get(kernel)?.policy;
  if (!policy) return undefined;
  const hits: RuleHit[] | undefined = trace ? [] : undefined;
  const r = policy.decide(hook, p, ctx, hits);
  if (!r || !trace || !hits) return r;
  const decided = hits.at(-1);
  trace.hops.push({
    host: kernel.name,
    stage: "bpf policy",
    detail: `${hook}: ${r.verdict}${decided ? ` by ${decided.chain} rule ${decided.rule}` : ""}`,
  });
  for (const h of hits) trace.rules.push({ ...h, host: kernel.name, hook, at: traceSeq(trace) });
  return r;
}
