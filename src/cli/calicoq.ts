/**
 * `tortie calicoq eval|endpoint|policy`: Calico's calicoq queries — which endpoints a selector matches, which
 * policies apply to an endpoint, which endpoints a policy applies to and which its rules match.
 */
import { Command } from "commander";
import { TortieError } from "../lib/index.ts";
import type { Endpoint, Policy, PolicyRule } from "../policy/index.ts";
import { LabelIndex, type Selector, tryParseSelector } from "../selector/index.ts";
import type { CliContext } from "./context.ts";
import { readPolicySnapshot } from "./policy-snapshot.ts";

/** How calicoq names endpoints: `Workload endpoint <node>/k8s/<ns>.<pod>/eth0`, `Host endpoint <node>/<name>`. */
function endpointName(e: Endpoint): string {
  return e.kind === "workload"
    ? `Workload endpoint ${e.node}/k8s/${e.namespace}.${e.pod ?? e.name}/eth0`
    : `Host endpoint ${e.node}/${e.name}`;
}

function policyName(p: Policy): string {
  return p.namespace ? `${p.namespace}/${p.name}` : p.name;
}

function ruleSelectorHits(p: Policy, e: Endpoint): string[] {
  const out: string[] = [];
  for (const [dir, rules] of [
    ["inbound", p.ingress],
    ["outbound", p.egress],
  ] as [string, PolicyRule[] | undefined][])
    for (const r of rules ?? [])
      for (const side of ["source", "destination"] as const) {
        const sel = r[side].selector;
        if (sel?.matches(e.labels)) out.push(`${dir} rule ${r.index + 1} ${side} match; selector "${sel}"`);
      }
  return out;
}

function endpointIndex(endpoints: Endpoint[]): LabelIndex<Endpoint> {
  const index = new LabelIndex<Endpoint>();
  for (const e of endpoints) index.set(e, e.labels);
  return index;
}

function parse(text: string): Selector {
  const r = tryParseSelector(text);
  if (!r.selector) throw new TortieError("Invalid", `Invalid selector: ${text}: ${r.error}`);
  return r.selector;
}

export function calicoqProgram(ctx: CliContext): Command {
  const program = new Command("calicoq");
  program
    .command("eval")
    .description("list the endpoints a selector matches")
    .argument("<selector>")
    .action(async (text: string) => {
      const selector = parse(text);
      const { index } = await readPolicySnapshot(ctx.store());
      const hits = [...endpointIndex(index.model.endpoints).query(selector)].map(endpointName).sort();
      ctx.out(`Endpoints matching selector ${text}:\n${hits.map((h) => `  ${h}\n`).join("")}`);
    });
  program
    .command("endpoint")
    .description("policies that apply to an endpoint, and policies whose rules match it")
    .argument("<substring>", "part of the endpoint's name")
    .action(async (substring: string) => {
      const { index } = await readPolicySnapshot(ctx.store());
      const endpoints = index.model.endpoints.filter((e) => endpointName(e).includes(substring));
      if (endpoints.length === 0) throw new TortieError("NotFound", `no endpoint matches "${substring}"`);
      const out: string[] = [];
      for (const e of endpoints) {
        out.push(`Policies that apply to endpoint ${endpointName(e).replace(/^\S+ endpoint /, "")}:`);
        for (const p of index.selecting(e))
          out.push(`  Policy "${policyName(p)}" (order ${p.order ?? "none"}; selector "${p.selector}")`);
        for (const profile of e.profiles) out.push(`  Profile "${profile}"`);
        out.push("Policies with at least one rule that matches the endpoint as a source or destination:");
        for (const p of index.model.policies)
          for (const m of ruleSelectorHits(p, e)) out.push(`  Policy "${policyName(p)}" ${m}`);
      }
      ctx.out(`${out.join("\n")}\n`);
    });
  program
    .command("policy")
    .description("endpoints a policy applies to, and endpoints its rules match")
    .argument("<name>", "policy name; NS/NAME for namespaced policies (knp.default.NAME for Kubernetes ones)")
    .action(async (name: string) => {
      const { index } = await readPolicySnapshot(ctx.store());
      const matches = index.model.policies.filter((p) => policyName(p) === name || p.name === name);
      if (matches.length === 0) throw new TortieError("NotFound", `policy "${name}" not found`);
      if (matches.length > 1)
        throw new TortieError(
          "Usage",
          `policy "${name}" is ambiguous: ${matches.map(policyName).join(", ")}`,
        );
      const p = matches[0]!;
      const all = endpointIndex(index.model.endpoints);
      const out = [`Policy "${policyName(p)}" applies to these endpoints:`];
      for (const e of [...all.query(p.selector)].sort((a, b) => (a.id < b.id ? -1 : 1)))
        out.push(`  ${endpointName(e)}`);
      out.push(`Endpoints matching Policy "${policyName(p)}" rules:`);
      for (const e of index.model.endpoints) {
        const hits = ruleSelectorHits(p, e);
        if (hits.length === 0) continue;
        out.push(`  ${endpointName(e)}`);
        for (const h of hits) out.push(`    ${h}`);
      }
      ctx.out(`${out.join("\n")}\n`);
    });
  return program;
}
