/**
 * `tortie trace` as text: one line per step, indented under the host it happened on, then the verdict. An overlay's
 * outer packet (VXLAN, IPIP, WireGuard data, a WireGuard handshake message) is indented one level further, from the
 * `encapsulate` or `handshake` step to the next tunnel step, so the tunnel's own hops read as nested in the packet's.
 */

import type { TraceHopOut, TracePolicyOut, TraceReport } from "../agent/index.ts";

const TUNNEL_STAGES = new Set(["encapsulate", "decapsulate", "handshake"]);

function routeText(h: TraceHopOut): string {
  const r = h.route;
  if (!r) return "";
  let t = `, route ${r.dst}`;
  if (r.type !== "unicast") t += ` (${r.type})`;
  if (r.via !== undefined) t += ` via ${r.via}`;
  if (r.dev !== undefined) t += ` dev ${r.dev}`;
  if (r.nexthops > 1) t += `, ECMP nexthop ${r.nexthop} of ${r.nexthops}`;
  return t;
}

function hopText(h: TraceHopOut): string {
  let t = `${h.stage} ${h.detail}`;
  if (h.stage === "send" || h.stage === "reroute") t += `, out ${h.out}${routeText(h)}`;
  else if (h.stage === "forward" && h.route && h.route.nexthops > 1)
    t += `, ECMP nexthop ${h.route.nexthop} of ${h.route.nexthops}`;
  if (h.conntrack) t += `, conntrack ${h.conntrack.state}${h.conntrack.reply ? " (reply direction)" : ""}`;
  return t;
}

function policyText(d: TracePolicyOut): string {
  let what: string;
  switch (d.origin) {
    case "policy":
      what = `tier ${d.tier}, ${d.policy}${d.namespace ? ` in ${d.namespace}` : ""} rule ${d.rule}`;
      break;
    case "profile":
      what = `profile ${d.policy} rule ${d.rule}`;
      break;
    case "end-of-tier":
      what = `end of tier ${d.tier}${d.policy ? `, triggered by ${d.policy}` : ""}`;
      break;
    case "no-profile":
      what = "no profile matched";
      break;
    case "failsafe":
      what = `failsafe rule${d.rule !== null ? ` ${d.rule}` : ""}`;
      break;
    case "default-action":
      what = "default action";
      break;
  }
  return `policy ${d.direction} ${d.endpoint ?? "(endpoint unknown)"}: ${what} → ${d.action.toLowerCase()}`;
}

export function traceText(r: TraceReport): string {
  const lines: string[] = [`trace ${r.from} → ${r.to} ${r.protocol}`];
  for (const u of r.unsupported) lines.push(`note: the sim leaves this out: ${u}`);
  for (const w of r.warnings) lines.push(`note: Felix ignores this (so does the sim): ${w}`);
  const steps: { seq: number; path: string; host: string; text: string; stage?: string }[] = [
    ...r.hops.map((h) => ({ seq: h.seq, path: h.path, host: h.host, text: hopText(h), stage: h.stage })),
    ...r.rules.map((x) => ({
      seq: x.seq,
      path: x.path,
      host: x.host,
      text: `rule ${x.table} ${x.hook} #${x.rule}: ${x.text}`,
    })),
    ...r.nat.map((n) => ({
      seq: n.seq,
      path: n.path,
      host: n.host,
      text: `nat ${n.kind} ${n.from} → ${n.to}`,
    })),
    // A decision follows the rule that made it.
    ...r.policy.map((d) => ({ seq: d.seq + 0.5, path: d.path, host: d.host, text: policyText(d) })),
  ].sort((a, b) => a.seq - b.seq);
  lines.push(`request: ${r.request.packet} ${r.request.src} → ${r.request.dst}`);
  let path = "request";
  let host = "";
  let outer = false;
  for (const s of steps) {
    if (s.path !== path) {
      path = s.path;
      host = "";
      outer = false;
      lines.push(`reply: ${r.reply?.packet}`);
    }
    if (s.host !== host) {
      host = s.host;
      lines.push(host);
    }
    const tunnelStep = s.stage !== undefined && TUNNEL_STAGES.has(s.stage);
    if (tunnelStep) outer = false;
    lines.push(`${outer ? "    " : "  "}${s.text}`);
    // What follows a wrap or a WireGuard handshake message is the outer packet, until the next tunnel step.
    if (tunnelStep && s.stage !== "decapsulate") outer = true;
  }
  const w = r.where;
  if (r.verdict === "delivered" || !w)
    lines.push(`verdict: delivered (${r.reply?.packet} back at ${r.from})`);
  else {
    const at =
      w.chain !== undefined
        ? `: ${w.table} ${w.chain} rule ${w.rule}`
        : w.table
          ? `: ${w.table} ${w.hook}`
          : "";
    const why = w.comment ?? w.text ?? w.reason;
    lines.push(
      `verdict: ${r.verdict}${w.path === "reply" ? " on the reply path" : ""} at ${w.host}${at} (${why})`,
    );
  }
  return `${lines.join("\n")}\n`;
}
