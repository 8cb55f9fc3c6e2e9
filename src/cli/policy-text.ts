/** Text rendering of `tortie policy explain`: each check on the path, each tier, policy and rule it tried. */
import type { FlowCheck, FlowResult } from "../policy/index.ts";

const STAGE_NAMES: Record<string, string> = {
  workload: "workload",
  host: "host endpoint",
  forward: "host endpoint, forwarded (applyOnForward)",
  "pre-dnat": "host endpoint, pre-DNAT",
  untracked: "host endpoint, untracked",
};

function checkLines(c: FlowCheck, n: number): string[] {
  const out = [
    `  ${n}. [${c.node}] ${c.direction} ${c.direction === "ingress" ? "to" : "from"} ${c.subject} (${STAGE_NAMES[c.stage] ?? c.stage}) ${c.src} -> ${c.dst}`,
  ];
  if (c.failsafe) out.push(`       failsafe port ${c.failsafe} matched`);
  for (const t of c.tiers) {
    out.push(`       tier ${t.tier} (default action ${t.defaultAction})`);
    for (const p of t.policies) {
      const name = p.namespace ? `${p.namespace}/${p.policy}` : p.policy;
      out.push(`         ${p.kind} ${name} (order ${p.order ?? "none"}): ${p.outcome}`);
      for (const r of p.rules)
        out.push(`           rule ${r.rule} ${r.action}: ${r.matched ? "matched" : `no match: ${r.reason}`}`);
    }
  }
  for (const p of c.profiles) {
    out.push(`       profile ${p.profile}${p.missing ? " (missing)" : ""}: ${p.outcome}`);
    for (const r of p.rules)
      out.push(`         rule ${r.rule} ${r.action}: ${r.matched ? "matched" : `no match: ${r.reason}`}`);
  }
  out.push(`       => ${c.verdict === "continue" ? "continues" : c.verdict}: ${c.reason}`);
  return out;
}

export function explainText(title: string, r: FlowResult): string {
  const lines = [title];
  if (r.service)
    lines.push(`service ${r.service}: ${r.paths.length} ready backend${r.paths.length === 1 ? "" : "s"}`);
  if (r.paths.length === 0) lines.push("no ready backend: kube-proxy rejects the connection");
  for (const [i, p] of r.paths.entries()) {
    if (r.paths.length > 1 || p.backend)
      lines.push(`path ${i + 1}${p.backend ? ` via backend ${p.backend}` : ""}:`);
    for (const n of p.nat) lines.push(`  nat: ${n}`);
    if (p.checks.length === 0) lines.push("  no Calico policy applies on this path");
    for (const [j, c] of p.checks.entries()) lines.push(...checkLines(c, j + 1));
    if (r.paths.length > 1) lines.push(`  path ${i + 1}: ${p.allowed ? "allowed" : "denied"}`);
  }
  lines.push(`verdict: ${r.allowed ? "allowed" : "denied"}`);
  return `${lines.join("\n")}\n`;
}
